/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). `crc32c` uses the
 * CPU's CRC32 instruction through @node-rs/crc32 (prebuilt N-API binaries; ~10x
 * the JS loop, which was a third of the agent's CPU in the file-to-aggregator
 * profile) and falls back to the pure-JS slice-by-8 below where the native
 * module cannot load. Both give identical results (tested).
 *
 * `seed` is a previous result, so checksums chain over pieces without
 * concatenating them: crc32c(b, crc32c(a)) === crc32c(Buffer.concat([a, b])).
 * The frame format (format.ts) relies on this to checksum header, meta and
 * payload in place.
 */

import { createRequire } from 'node:module';

const POLY = 0x82f63b78;

type NativeCrc = (input: Buffer, initialState?: number) => number;

function loadNative(): NativeCrc | undefined {
  if (process.env.LOGSHIP_CRC32C_JS === '1') return undefined;
  try {
    return (createRequire(import.meta.url)('@node-rs/crc32') as { crc32c: NativeCrc }).crc32c;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Below this size the JS loop beats the cost of a native call. */
const NATIVE_MIN = 64;

/** Which implementation `crc32c` uses: 'native' or 'js'. */
export const crc32cImpl: 'native' | 'js' = native ? 'native' : 'js';

export function crc32c(buf: Uint8Array, seed = 0): number {
  if (native && buf.length >= NATIVE_MIN) {
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return native(b, seed) >>> 0;
  }
  return crc32cJs(buf, seed);
}

/** 8 tables of 256 entries, one Int32Array so lookups stay monomorphic. */
const T = buildTables();

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/** Little-endian hosts read 8 bytes as two aligned 32-bit words: about 1.7x the byte path. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function crc32cJs(buf: Uint8Array, seed = 0): number {
  let crc = ~seed;
  let i = 0;
  const len = buf.length;
  if (LITTLE_ENDIAN) {
    while (i < len && ((buf.byteOffset + i) & 3) !== 0) crc = T[(crc ^ buf[i++]!) & 0xff]! ^ (crc >>> 8);
    const words = ((len - i) >>> 3) * 2;
    if (words > 0) {
      const w = new Int32Array(buf.buffer, buf.byteOffset + i, words);
      for (let j = 0; j < words; j += 2) {
        const a = w[j]! ^ crc;
        const b = w[j + 1]!;
        crc =
          T[1792 + (a & 0xff)]! ^
          T[1536 + ((a >>> 8) & 0xff)]! ^
          T[1280 + ((a >>> 16) & 0xff)]! ^
          T[1024 + (a >>> 24)]! ^
          T[768 + (b & 0xff)]! ^
          T[512 + ((b >>> 8) & 0xff)]! ^
          T[256 + ((b >>> 16) & 0xff)]! ^
          T[b >>> 24]!;
      }
      i += words * 4;
    }
  } else {
    const end8 = len - ((len - i) & 7);
    while (i < end8) {
      const a = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) ^ crc;
      crc =
        T[1792 + (a & 0xff)]! ^
        T[1536 + ((a >>> 8) & 0xff)]! ^
        T[1280 + ((a >>> 16) & 0xff)]! ^
        T[1024 + (a >>> 24)]! ^
        T[768 + buf[i + 4]!]! ^
        T[512 + buf[i + 5]!]! ^
        T[256 + buf[i + 6]!]! ^
        T[buf[i + 7]!]!;
      i += 8;
    }
  }
  while (i < len) crc = T[(crc ^ buf[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * The CRC-32C of `a` followed by `b`, from crc32c(a), crc32c(b) and b's length, without reading
 * either: crc32cCombine(crc32c(a), crc32c(b), b.length) === crc32c(Buffer.concat([a, b])). The
 * store uses it to checksum a frame around a payload whose CRC the wire already verified
 * (zlib's crc32_combine method: multiply crcA by x^(8 * lenB) modulo the polynomial).
 */
export function crc32cCombine(crcA: number, crcB: number, lenB: number): number {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`crc32cCombine: bad length ${lenB}`);
  return (multModP(xPow8n(lenB), crcA >>> 0) ^ crcB) >>> 0;
}

/** a * b modulo the polynomial; both reflected (bit 31 is x^0). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N = (() => {
  const t = new Array<number>(32);
  t[0] = 0x40000000; // x^1
  for (let k = 1; k < 32; k++) t[k] = multModP(t[k - 1]!, t[k - 1]!);
  return t;
})();

/** x^(8n) modulo the polynomial: the shift of a CRC past n zero bytes. */
function xPow8n(n: number): number {
  let p = 0x80000000; // x^0
  let k = 3;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The byte-at-a-time reference, for tests of the fast paths. */
export function crc32cBytewise(buf: Uint8Array, seed = 0): number {
  let crc = ~seed;
  for (let i = 0; i < buf.length; i++) crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
