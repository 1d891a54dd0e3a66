/**
 * Counting '\n' bytes, the line check of every plain batch at ingest
 * (payload.ts). Buffer#indexOf costs a call into C++ per line (~200 bytes of
 * nginx log), about a sixth of a payload worker's time next to zstd. Here a
 * small WebAssembly module compares 16 bytes at a time (SIMD) inside its own
 * memory, and the checker inflates straight into that memory (scanBuffer), so
 * nothing is copied. Without WebAssembly SIMD (or for any other buffer) the
 * indexOf loop counts.
 *
 * The module, hand-assembled below (exports: memory "m", func "c"):
 *
 *   (func (param $p i32) (param $n i32) (result i32)
 *     (local $end16 i32) (local $stop i32) (local $total i32) (local $acc v128) (local $sum v128) (local $nl v128)
 *     end16 = p + (n & -16); nl = i8x16.splat(10)
 *     while p < end16:                       ;; blocks of at most 255 vectors, so a byte lane never wraps
 *       stop = min(p + 4080, end16); acc = 0
 *       do { acc = i8x16.sub(acc, i8x16.eq(v128.load(p), nl)); p += 16 } while p < stop
 *       sum = i32x4.add(sum, i32x4.extadd_pairwise_u(i16x8.extadd_pairwise_u(acc)))
 *     total = sum[0] + sum[1] + sum[2] + sum[3]
 *     while p < end16 + (n & 15): total += (load8_u(p) == 10); p++
 *     return total)
 */

const SIMD = 0xfd;
const CODE = [
  // locals: 3 x i32 (end16=2, stop=3, total=4), 3 x v128 (acc=5, sum=6, nl=7)
  0x02, 0x03, 0x7f, 0x03, 0x7b,
  // end16 = p + (n & -16)
  0x20, 0x00, 0x20, 0x01, 0x41, 0x70, 0x71, 0x6a, 0x21, 0x02,
  // nl = i8x16.splat(10)
  0x41, 0x0a, SIMD, 0x0f, 0x21, 0x07,
  0x02, 0x40, // block $done
  0x03, 0x40, //   loop $outer
  0x20, 0x00, 0x20, 0x02, 0x4f, 0x0d, 0x01, // br_if $done (p >= end16)
  // stop = select(p + 4080, end16, p + 4080 < end16)
  0x20, 0x00, 0x41, 0xf0, 0x1f, 0x6a, 0x22, 0x03, 0x20, 0x02, 0x20, 0x03, 0x20, 0x02, 0x49, 0x1b, 0x21, 0x03,
  // acc = 0
  SIMD, 0x0c, ...new Array<number>(16).fill(0), 0x21, 0x05,
  0x03, 0x40, //     loop $inner
  0x20, 0x05, 0x20, 0x00, SIMD, 0x00, 0x00, 0x00, 0x20, 0x07, SIMD, 0x23, SIMD, 0x71, 0x21, 0x05,
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x22, 0x00, 0x20, 0x03, 0x49, 0x0d, 0x00, // p += 16; br_if $inner (p < stop)
  0x0b, //     end
  // sum += widen(acc)
  0x20, 0x06, 0x20, 0x05, SIMD, 0x7d, SIMD, 0x7f, SIMD, 0xae, 0x01, 0x21, 0x06,
  0x0c, 0x00, //   br $outer
  0x0b, //   end
  0x0b, // end
  // total = lanes of sum
  0x20, 0x06, SIMD, 0x1b, 0x00, 0x20, 0x06, SIMD, 0x1b, 0x01, 0x6a, 0x20, 0x06, SIMD, 0x1b, 0x02, 0x6a, 0x20, 0x06, SIMD, 0x1b, 0x03, 0x6a, 0x21, 0x04,
  // stop = end16 + (n & 15)
  0x20, 0x02, 0x20, 0x01, 0x41, 0x0f, 0x71, 0x6a, 0x21, 0x03,
  0x02, 0x40, // block $tdone
  0x03, 0x40, //   loop $tail
  0x20, 0x00, 0x20, 0x03, 0x4f, 0x0d, 0x01, // br_if $tdone (p >= stop)
  0x20, 0x04, 0x20, 0x00, 0x2d, 0x00, 0x00, 0x41, 0x0a, 0x46, 0x6a, 0x21, 0x04, // total += load8_u(p) == 10
  0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00, 0x0c, 0x00, // p++; br $tail
  0x0b, //   end
  0x0b, // end
  0x20, 0x04, // total
  0x0b, // end of function
];

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

const MODULE = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]), // type: (i32, i32) -> i32
  ...section(3, [0x01, 0x00]), // one function of type 0
  ...section(5, [0x01, 0x00, 0x01]), // memory: min 1 page
  ...section(7, [0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x63, 0x00, 0x00]), // export "m" memory 0, "c" func 0
  ...section(10, [0x01, ...uleb(CODE.length), ...CODE]),
]);

interface Counter {
  memory: WebAssembly.Memory;
  count: (p: number, n: number) => number;
}

function load(): Counter | undefined {
  if (process.env.LOGSHIP_NEWLINES_JS === '1') return undefined;
  try {
    if (!WebAssembly.validate(MODULE)) return undefined;
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    return { memory: exports.m as WebAssembly.Memory, count: exports.c as (p: number, n: number) => number };
  } catch {
    return undefined;
  }
}

const counter = load();
let view: Buffer | undefined;

/** Which counter countNewlines uses for scanBuffer's bytes: 'simd' or 'js'. */
export const newlinesImpl: 'simd' | 'js' = counter ? 'simd' : 'js';

/**
 * A buffer of at least `size` bytes in the SIMD counter's memory, where
 * countNewlines is fastest; the same memory every call (contents are the
 * caller's until its next call). Undefined without WebAssembly SIMD.
 */
export function scanBuffer(size: number): Buffer | undefined {
  if (!counter) return undefined;
  const have = counter.memory.buffer.byteLength;
  if (have < size) counter.memory.grow(Math.ceil((size - have) / 65_536));
  // Growing replaces the memory's ArrayBuffer: view the current one.
  if (!view || view.buffer !== counter.memory.buffer) view = Buffer.from(counter.memory.buffer);
  return view;
}

/** Memories made by countableMemory: each is the counter's module instantiated once more, never grown. */
const fixed: Counter[] = [];

/**
 * A block of at least `bytes` bytes of memory that countNewlines counts in place, without the copy into
 * scanBuffer's memory: for buffers a caller fills itself (the agent's file reads land there). It is made
 * at its full size and never grows, so views of it stay valid for good (growing a WebAssembly memory
 * detaches every view of it). Undefined without WebAssembly SIMD.
 */
export function countableMemory(bytes: number): Buffer | undefined {
  if (!counter) return undefined;
  const c = load();
  if (!c) return undefined;
  const pages = Math.ceil(bytes / 65_536);
  if (pages > 1) c.memory.grow(pages - 1);
  fixed.push(c);
  return Buffer.from(c.memory.buffer);
}

/**
 * Gives back a block countableMemory made, once its owner is done with it (an agent that stops, or
 * restarts in the same process on SIGHUP): buffers in it are no longer counted in place (countNewlines
 * falls back to its plain search), and nothing here keeps its memory from being collected.
 */
export function releaseCountableMemory(block: Uint8Array): void {
  const i = fixed.findIndex((c) => c.memory.buffer === block.buffer);
  if (i >= 0) fixed.splice(i, 1);
}

/** Blocks countableMemory made and not released (tests: a restart must not add one for good). */
export function countableBlocks(): number {
  return fixed.length;
}

/** The countableMemory counter whose memory holds `buf`, if any. */
function fixedCounterOf(buf: Uint8Array): Counter | undefined {
  for (const c of fixed) if (buf.buffer === c.memory.buffer) return c;
  return undefined;
}

/** Does countNewlines count `buf` in WebAssembly memory where it lies (it is in countableMemory's memory)? */
export function countsInPlace(buf: Uint8Array): boolean {
  return fixedCounterOf(buf) !== undefined;
}

/** '\n' bytes in buf[0, n). */
export function countNewlines(buf: Buffer, n: number): number {
  if (counter && buf.buffer === counter.memory.buffer) return counter.count(buf.byteOffset, n);
  const own = fixedCounterOf(buf);
  if (own) return own.count(buf.byteOffset, n);
  // one native search per line (memchr)
  const b = n === buf.length ? buf : buf.subarray(0, n);
  let c = 0;
  for (let p = b.indexOf(10); p >= 0; p = b.indexOf(10, p + 1)) c++;
  return c;
}
