import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import binding from 'zstd-napi/binding.js';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../../helpers/procs.js';
import { makeRng, nginxLine } from '../../../bench/gen-nginx.js';
import { THREAD_MIN_BYTES, ZstdThreads } from '../../../../lib/codec/zstd-mt.js';
import { decompressSync, ZstdPool } from '../../../../lib/codec/zstd-pool.js';

/** Exactly `bytes` of the bench's nginx lines (they compress like logs do), ending with a newline. */
function lines(bytes: number, seed: number): Buffer {
  const rng = makeRng(seed);
  const out = Buffer.allocUnsafe(bytes);
  for (let p = 0, k = 0; p < bytes; k++) p += out.write(nginxLine(rng, 1_764_700_000 + k) + '\n', p);
  out[bytes - 1] = 10;
  return out;
}

describe('ZstdThreads (compression on zstd\'s own thread)', () => {
  it('each input becomes one frame with its size in the header, in submission order, whatever the size', async () => {
    const zt = new ZstdThreads();
    const sizes = [THREAD_MIN_BYTES, THREAD_MIN_BYTES + 1, 1 << 20, (1 << 20) - 37, 3 << 20];
    const inputs = sizes.map((n, i) => lines(n, i + 1));
    const order: number[] = [];
    const outs = await Promise.all(inputs.map((b, i) => zt.compress(b, 1).then((o) => (order.push(i), o))));
    expect(order).toEqual([0, 1, 2, 3, 4]);
    outs.forEach((o, i) => {
      expect(binding.getFrameContentSize(o)).toBe(sizes[i]);
      expect(decompressSync(o).equals(inputs[i]!)).toBe(true);
      expect(o.byteLength).toBeLessThan(sizes[i]! / 2);
    });
    expect(zt.jobs).toBe(5);
    expect(zt.threads).toBe(1);
    zt.close();
  });

  it('the work is done off the calling thread: its CPU is a small part of the process\'s, and one more thread runs', () => {
    // In a fresh node (tid = pid is its main thread): 40 frames of 1 MiB, then the main thread's CPU against the process's.
    const code = `
      const { ZstdThreads } = await import(${JSON.stringify(join(ROOT, 'dist/lib/codec/zstd-mt.js'))});
      const { readFileSync, readdirSync } = await import('node:fs');
      const ticks = (f) => { const v = readFileSync(f, 'utf8').split(') ')[1].split(' '); return Number(v[11]) + Number(v[12]); };
      const data = Buffer.alloc(1 << 20);
      for (let i = 0; i < data.length; i += 8) data.writeUInt32LE((i * 2654435761) >>> 0, i);
      const before = readdirSync('/proc/self/task').length;
      const zt = new ZstdThreads();
      const main0 = ticks('/proc/self/task/' + process.pid + '/stat'), all0 = ticks('/proc/self/stat');
      for (let i = 0; i < 40; i++) { data[i] = i; await zt.compress(data, 3); }
      const main = ticks('/proc/self/task/' + process.pid + '/stat') - main0, all = ticks('/proc/self/stat') - all0;
      process.stdout.write(JSON.stringify({ main, all, threads: readdirSync('/proc/self/task').length - before }));
      zt.close();`;
    const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 })) as { main: number; all: number; threads: number };
    expect(r.all).toBeGreaterThan(10); // 40 MiB at level 3: well over 0.1 s of CPU in all
    expect(r.main).toBeLessThan(r.all * 0.3);
    expect(r.threads).toBe(1);
  }, 60_000);

  it('the input is free once onCopied ran: overwriting it then does not change the result', async () => {
    const zt = new ZstdThreads();
    const input = lines(1 << 20, 9);
    const keep = Buffer.from(input);
    let copiedBeforeResult = false;
    const out = zt.compress(input, 3, () => {
      copiedBeforeResult = true;
      input.fill(0x41); // the caller reuses its read buffer at once
    });
    expect(copiedBeforeResult).toBe(true); // zstd copies it in the call itself
    expect(decompressSync(await out).equals(keep)).toBe(true);
    zt.close();
  });

  it('a look that comes before the job is done waits for it and times it: the estimate grows; never a wrong or cut frame', async () => {
    // 0.2 ns a byte: the first look at every job comes long before zstd is done.
    const zt = new ZstdThreads({ nsPerByte: 0.2 });
    const inputs = [1, 2, 3, 4, 5, 6].map((s) => lines(2 << 20, s));
    for (const b of inputs) expect(decompressSync(await zt.compress(b, 1)).equals(b)).toBe(true);
    expect(zt.early).toBeGreaterThan(0);
    expect(zt.nsPerByte(1)).toBeGreaterThan(0.2);
    zt.close();
  });

  it('a zstd call that throws rejects that job only; the context is reset and takes the next', async () => {
    const zt = new ZstdThreads();
    const proto = binding.CCtx.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const method of ['setPledgedSrcSize', 'compressStream2']) {
      const real = proto[method]!;
      let calls = 0;
      proto[method] = function (this: unknown, ...a: unknown[]) {
        if (calls++ === 0) throw new Error(`injected failure in ${method}`);
        return real.apply(this, a);
      };
      try {
        const bad = zt.compress(lines(1 << 20, 30), 1);
        const good = lines(1 << 20, 31);
        const next = zt.compress(good, 1);
        await expect(bad).rejects.toThrow(`injected failure in ${method}`);
        expect(decompressSync(await next).equals(good)).toBe(true);
      } finally {
        proto[method] = real;
      }
    }
    zt.close();
  });

  it('several contexts run frames at once, each result exact', async () => {
    const zt = new ZstdThreads({ contexts: 2 });
    const inputs = [1, 2, 3, 4].map((s) => lines(1 << 20, s + 20));
    const outs = await Promise.all(inputs.map((b) => zt.compress(b, 1)));
    outs.forEach((o, i) => expect(decompressSync(o).equals(inputs[i]!)).toBe(true));
    expect(zt.threads).toBe(2);
    zt.close();
  });

  it('refuses inputs below zstd\'s job minimum, and rejects what is queued or running at close', async () => {
    const zt = new ZstdThreads();
    await expect(zt.compress(Buffer.alloc(THREAD_MIN_BYTES - 1), 1)).rejects.toThrow(/524289 bytes or more/);
    const a = zt.compress(lines(1 << 20, 1), 1);
    const b = zt.compress(lines(1 << 20, 2), 1);
    zt.close();
    await expect(a).rejects.toThrow(/closed/);
    await expect(b).rejects.toThrow(/closed/);
    await expect(zt.compress(lines(1 << 20, 3), 1)).rejects.toThrow(/closed/);
  });

  it('through ZstdPool: batches over 512 KiB go to zstd\'s threads, size + 1 at once (no worker isolate), smaller ones are compressed here; handed-over inputs are recycled', async () => {
    const recycled: ArrayBuffer[] = [];
    const pool = new ZstdPool(1, { zstdThreads: true, inlineBelow: 64 * 1024, recycle: (b) => recycled.push(b.buffer as ArrayBuffer) });
    const big = lines(1 << 20, 5);
    const bigCopy = Buffer.from(big);
    const mid = lines(200 * 1024, 6);
    const small = lines(10 * 1024, 7);
    const own = Buffer.allocUnsafeSlow(big.length);
    big.copy(own);
    const outs = await Promise.all([pool.compress(big, 1), pool.compress(mid, 1), pool.compress(small, 1), pool.compress(own, 1, true)]);
    expect(decompressSync(outs[0]!).equals(bigCopy)).toBe(true);
    expect(decompressSync(outs[1]!).equals(mid)).toBe(true);
    expect(decompressSync(outs[2]!).equals(small)).toBe(true);
    expect(decompressSync(outs[3]!).equals(bigCopy)).toBe(true);
    expect(recycled).toEqual([own.buffer]);
    expect(pool.threads).toBe(2); // zstd's (two big inputs at once), not a worker
    await pool.close();
  });
});
