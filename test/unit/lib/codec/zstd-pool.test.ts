import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, waitFor } from '../../../helpers/procs.js';

// The worker threads run compiled code (dist/lib/codec/zstd-worker.js): test the compiled pool.
const { decompressSync, ZstdPool } = (await import(pathToFileURL(join(ROOT, 'dist/lib/codec/zstd-pool.js')).href)) as typeof import('../../../../lib/codec/zstd-pool.js');
type ZstdPool = import('../../../../lib/codec/zstd-pool.js').ZstdPool;

describe('ZstdPool', () => {
  let pool: ZstdPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('starts no thread until the first job, and one for jobs one at a time', async () => {
    pool = new ZstdPool(2);
    expect(pool.threads).toBe(0);
    for (let i = 0; i < 5; i++) {
      const data = Buffer.from(`line ${i}\n`.repeat(1000));
      expect(decompressSync(await pool.compress(data, 1))).toEqual(data);
    }
    expect(pool.threads).toBe(1);
  });

  it('alloc: every compression result, from a worker or this thread, is written into memory the caller provides', async () => {
    for (const size of [0, 1]) {
      const slab = Buffer.alloc(1 << 20);
      let pos = 0;
      const alloc = (n: number) => slab.subarray(pos, (pos += n));
      pool = new ZstdPool(size, { alloc });
      const data = Buffer.from('a line of text\n'.repeat(20_000));
      const a = await pool.compress(data, 1);
      const b = await pool.compress(data, 1);
      expect(a.buffer).toBe(slab.buffer);
      expect(b.byteOffset).toBe(a.byteOffset + a.byteLength);
      expect(decompressSync(a)).toEqual(data);
      expect(decompressSync(b)).toEqual(data);
      // a decompression's result is never taken from it
      expect((await pool.decompress(a)).buffer).not.toBe(slab.buffer);
      await pool.close();
      pool = undefined;
    }
  });

  it('starts another thread only while every running one is busy, up to its size', async () => {
    pool = new ZstdPool(2);
    const inputs = Array.from({ length: 8 }, (_, i) => Buffer.from(`batch ${i} `.repeat(50_000)));
    const out = await Promise.all(inputs.map((d) => pool!.compress(d, 1)));
    expect(pool.threads).toBe(2);
    out.forEach((c, i) => expect(decompressSync(c).equals(inputs[i]!)).toBe(true));
    // decompress goes through the same threads; a corrupt input is an error, not a dead pool
    expect((await pool.decompress(out[0]!)).equals(inputs[0]!)).toBe(true);
    await expect(pool.decompress(Buffer.from('not zstd'))).rejects.toThrow(/zstd/);
    expect((await pool.decompress(out[1]!)).equals(inputs[1]!)).toBe(true);
    // the extra thread stops once idle for a while; the first stays
    await waitFor('the extra thread to stop', () => pool!.threads === 1, 30_000, 200);
    expect(decompressSync(await pool.compress(inputs[2]!, 1)).equals(inputs[2]!)).toBe(true);
    expect(pool.threads).toBe(1);
  }, 90_000);

  it('inlineBelow: small inputs are compressed on the calling thread (no worker), a bigger one starts one that stops once idle', async () => {
    pool = new ZstdPool(1, { inlineBelow: 64 * 1024 });
    const small = [Buffer.alloc(0), Buffer.from('one line\n'), Buffer.from('x'.repeat(64 * 1024))];
    for (const d of small) for (const level of [1, 3]) expect(decompressSync(await pool.compress(d, level))).toEqual(d);
    // each result owns its memory (not a slice of a shared slab another batch also uses)
    const c = await pool.compress(Buffer.from('abc'.repeat(100)), 1);
    expect(c.buffer.byteLength).toBe(c.byteLength);
    expect(pool.threads).toBe(0);
    const big = Buffer.from('y'.repeat(64 * 1024 + 1));
    expect(decompressSync(await pool.compress(big, 1))).toEqual(big);
    expect(pool.threads).toBe(1);
    await waitFor('the idle thread to stop', () => pool!.threads === 0, 30_000, 200);
    // and work after that starts one again
    expect(decompressSync(await pool.compress(big, 1))).toEqual(big);
    expect(pool.threads).toBe(1);
  }, 90_000);

  it('the worker writes into output buffers the pool reuses: mixed sizes, concurrent and one by one, each result exact and its own memory', async () => {
    pool = new ZstdPool(1);
    const make = (n: number, seed: number) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i += 50) b.write(`${seed} line ${i} ${(i * seed) % 9973}\n`.padEnd(50, '-'), i, 'latin1');
      return b;
    };
    const sizes = [300_000, 100_000, 500_000, 70_000, 500_000, 1 << 20, 80_000];
    const inputs = sizes.map((n, i) => make(n, i + 1));
    const together = await Promise.all(inputs.map((d) => pool!.compress(d, 1)));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < inputs.length; i++) {
        const c = round === 0 ? together[i]! : await pool.compress(inputs[i]!, 1);
        expect(decompressSync(c).equals(inputs[i]!)).toBe(true);
        expect(c.buffer.byteLength).toBe(c.byteLength);
      }
    }
    expect(pool.threads).toBe(1);
  }, 60_000);

  it('a transferred input moves to the worker and comes back for reuse; close rejects later jobs', async () => {
    const back: ArrayBuffer[] = [];
    pool = new ZstdPool(1, { recycle: (b) => back.push(b.buffer as ArrayBuffer) });
    const data = Buffer.allocUnsafeSlow(4096).fill(7);
    const expected = Buffer.from(data);
    const c = await pool.compress(data.subarray(0, 3000), 3, true);
    expect(data.byteLength).toBe(0);
    expect(decompressSync(c)).toEqual(expected.subarray(0, 3000));
    expect(back.map((ab) => ab.byteLength)).toEqual([4096]);
    expect(Buffer.from(back[0]!).subarray(0, 3000)).toEqual(expected.subarray(0, 3000));
    // a copied input: the copy comes back, the caller's bytes stay the caller's
    expect(decompressSync(await pool.compress(expected, 1))).toEqual(expected);
    expect(expected.byteLength).toBe(4096);
    expect(back.length).toBe(2);
    await pool.close();
    await expect(pool.compress(expected, 1)).rejects.toThrow(/closed/);
  });

  it('size 0: every job runs on the calling thread, no worker ever starts; a handed-over input is recycled at once', async () => {
    const back: ArrayBuffer[] = [];
    pool = new ZstdPool(0, { recycle: (b) => back.push(b.buffer as ArrayBuffer), inlineBelow: 64 * 1024 });
    const big = Buffer.allocUnsafeSlow(2 << 20);
    for (let i = 0; i < big.length; i += 64) big.write(`line ${i} of a big batch, more than 64 KiB\n`.padEnd(64, '.'), i, 'latin1');
    const expected = Buffer.from(big);
    const c = await pool.compress(big.subarray(0, 1 << 20), 1, true);
    expect(decompressSync(c).equals(expected.subarray(0, 1 << 20))).toBe(true);
    expect(c.buffer.byteLength).toBe(c.byteLength);
    expect(back).toEqual([big.buffer]);
    // a copied (not handed over) input is the caller's: not recycled
    expect(decompressSync(await pool.compress(expected, 3)).equals(expected)).toBe(true);
    expect(back.length).toBe(1);
    expect((await pool.decompress(c)).equals(expected.subarray(0, 1 << 20))).toBe(true);
    await expect(pool.decompress(Buffer.from('not zstd at all'))).rejects.toThrow(/zstd/);
    expect(pool.threads).toBe(0);
    await pool.close();
    await expect(pool.compress(expected, 1)).rejects.toThrow(/closed/);
  });
});
