/**
 * The SIMD newline counter (lib/protocol/newlines.ts) against the plain
 * indexOf count: every length and alignment around its 16-byte vectors and
 * 255-vector blocks, dense and sparse newlines, and memory growth.
 */
import { describe, expect, it } from 'vitest';
import { countNewlines, newlinesImpl, scanBuffer } from '../../../../lib/protocol/newlines.js';

function reference(b: Buffer): number {
  let c = 0;
  for (const x of b) if (x === 10) c++;
  return c;
}

/** Deterministic bytes: newlines at the given density, the rest 0x0b / 0xff / 0x8a (near misses). */
function fill(dst: Buffer, n: number, density: number, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const r = (s >>> 0) / 2 ** 32;
    dst[i] = r < density ? 10 : [0x0b, 0xff, 0x8a, 0x00][(s >>> 3) & 3]!;
  }
}

describe('countNewlines', () => {
  it('uses WebAssembly SIMD on Node 20', () => {
    expect(newlinesImpl).toBe('simd');
  });

  it('counts like a byte loop in the scan buffer: every length 0..600 at every alignment 0..17', () => {
    const s = scanBuffer(4096)!;
    for (const density of [0, 0.01, 0.3, 1]) {
      for (let off = 0; off < 18; off++) {
        fill(s, 700, density, 1 + off);
        for (let n = 0; n <= 600; n++) {
          const got = countNewlines(s.subarray(off), n);
          if (got !== reference(s.subarray(off, off + n))) expect(got, `density ${density} offset ${off} length ${n}`).toBe(reference(s.subarray(off, off + n)));
        }
      }
    }
  });

  it('counts across many 255-vector blocks (lanes never wrap), after growing its memory', () => {
    const n = (3 << 20) + 37;
    const s = scanBuffer(n + 16)!;
    expect(s.length).toBeGreaterThanOrEqual(n + 16);
    for (const density of [1, 0.5, 0.005]) {
      fill(s, n + 16, density, 7);
      expect(countNewlines(s, n)).toBe(reference(s.subarray(0, n)));
      expect(countNewlines(s.subarray(5), n)).toBe(reference(s.subarray(5, 5 + n)));
    }
  });

  it('any other buffer is counted with indexOf, same answers', () => {
    const b = Buffer.alloc(10_000);
    fill(b, b.length, 0.05, 3);
    expect(countNewlines(b, b.length)).toBe(reference(b));
    expect(countNewlines(b, 777)).toBe(reference(b.subarray(0, 777)));
  });
});
