/**
 * Pipeline, in process: a real DiskBuffer in a temp dir and a compression pool whose jobs the test
 * completes in the order it chooses (real zstd, on this thread), so out-of-order compression,
 * grouping into one append and the buffer bound are checked deterministically.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskBuffer } from '../../../../agent/buffer/disk-buffer.js';
import type { BufferedMeta } from '../../../../agent/buffer/buffered-meta.js';
import { Pipeline } from '../../../../agent/pipeline/pipeline.js';
import { compressSync, decompressSync, type ZstdPool } from '../../../../lib/codec/zstd-pool.js';
import { CODEC_NONE, CODEC_ZSTD } from '../../../../lib/protocol/batches.js';
import { waitFor } from '../../../helpers/procs.js';

/** Compression jobs that finish when the test says so. */
class ManualPool {
  jobs: Array<{ data: Buffer; resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];
  compress(data: Buffer, level: number): Promise<Buffer> {
    return new Promise((resolve, reject) => this.jobs.push({ data, resolve: () => resolve(compressSync(data, level)), reject }));
  }
  finish(i: number): void {
    this.jobs[i]!.resolve(Buffer.alloc(0));
  }
  fail(i: number): void {
    this.jobs[i]!.reject(new Error('worker died'));
  }
}

let dir: string;
let buffer: DiskBuffer;
let logs: Array<{ level: number; msg: string }>;
const logger = () => pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-pipe-'));
  logs = [];
});
afterEach(async () => {
  await buffer?.close();
  await rm(dir, { recursive: true, force: true });
});

async function openBuffer(maxBytes = 16 << 20): Promise<DiskBuffer> {
  buffer = await DiskBuffer.open({ dir: join(dir, 'buffer'), maxBytes, whenFull: 'block', logger: pino({ level: 'silent' }), fsync: true });
  return buffer;
}

function meta(i: number, raw: Buffer): BufferedMeta {
  return { codec: CODEC_NONE, flags: 0, topic: 'app', source: '/a.log', key: 'k', start: i * 1000, end: i * 1000 + raw.length, lines: 1, rawLength: raw.length, dev: 1, ino: 2, fpLen: 0, fpCrc: 0 };
}

function setup(b: DiskBuffer, pool: { compress: ZstdPool['compress'] }, maxInFlightBytes = 64 << 20): { p: Pipeline; durable: Array<[number, number]>; capacity: number[] } {
  const durable: Array<[number, number]> = [];
  const capacity: number[] = [];
  const p = new Pipeline({ pool: pool as unknown as ZstdPool, buffer: b, level: 1, maxInFlightBytes, logger: logger(), onCapacity: () => capacity.push(b.sizeBytes) });
  return { p, durable, capacity };
}

const line = (i: number, size = 40) => Buffer.from(`${String(i).padStart(6, '0')} ${'x'.repeat(size)}\n`);

async function stored(b: DiskBuffer): Promise<string[]> {
  const out: string[] = [];
  for (let from = b.log.firstOffset; from < b.log.nextOffset; ) {
    const got = await b.read(from, 1 << 20);
    for (const x of got) {
      expect(x.meta.codec).toBe(CODEC_ZSTD);
      out.push(decompressSync(x.payload).toString());
    }
    from = got[got.length - 1]!.offset + 1;
  }
  return out;
}

describe('Pipeline', () => {
  it('makes batches durable in submission order although compression finishes in reverse order, all in one append', async () => {
    const b = await openBuffer();
    const pool = new ManualPool();
    const { p, durable } = setup(b, pool);
    for (let i = 0; i < 10; i++) {
      const raw = line(i);
      p.submit({ meta: meta(i, raw), raw, timestamp: 1000 + i, onDurable: (off) => durable.push([i, off]) });
    }
    expect(p.pendingBatches).toBe(10);
    for (let i = 9; i >= 1; i--) pool.finish(i);
    // the head is not compressed yet: nothing may go ahead of it
    await new Promise((r) => setImmediate(r));
    expect(durable).toEqual([]);
    expect(b.log.nextOffset).toBe(0);
    pool.finish(0);
    await p.flush();
    expect(durable).toEqual(Array.from({ length: 10 }, (_, i) => [i, i]));
    expect(p.appendCount).toBe(1); // every ready batch joined one append (one fsync)
    expect(p.pendingBatches).toBe(0);
    expect(p.inFlightBytes).toBe(0);
    expect(await stored(b)).toEqual(Array.from({ length: 10 }, (_, i) => line(i).toString()));
    const [first] = await b.read(0, 1);
    expect(first!.meta).toMatchObject({ topic: 'app', source: '/a.log', start: 0, end: line(0).length, lines: 1, codec: CODEC_ZSTD });
    expect(first!.timestamp).toBe(1000);
  });

  it('under block, holds batches back until they fit under buffer.max_bytes; the buffer never exceeds it; flush waits for them', async () => {
    // random hex lines (about 2:1 in zstd): ~4 KiB frames, 300 of them against a 1 MiB buffer of
    // 64 KiB segments (many segments, so trimming frees space and the bound holds strictly)
    const { randomBytes } = await import('node:crypto');
    const b = await openBuffer(1 << 20);
    const pool = new ManualPool();
    const { p, durable, capacity } = setup(b, pool);
    const raws = Array.from({ length: 300 }, () => Buffer.from(randomBytes(4096).toString('hex') + '\n'));
    raws.forEach((raw, i) => p.submit({ meta: meta(i, raw), raw, timestamp: i, onDurable: (off) => durable.push([i, off]) }));
    raws.forEach((_, i) => pool.finish(i));
    await waitFor('the buffer to fill', () => durable.length > 0 && !b.acceptsMore(), 10_000, 5);
    let flushed = false;
    void p.flush().then(() => (flushed = true));
    const held = durable.length;
    expect(held).toBeLessThan(300);
    expect(b.sizeBytes).toBeLessThanOrEqual(b.maxBytes);
    expect(p.hasCapacity()).toBe(false);
    expect(flushed).toBe(false);
    // deliver what is there: acknowledge and trim, the rest flows in, in order
    while (durable.length < 300) {
      await b.ack(b.log.nextOffset);
      await b.trim(b.log.nextOffset);
      const before = durable.length;
      await waitFor('progress after a trim', () => durable.length > before, 10_000, 5);
      expect(b.sizeBytes).toBeLessThanOrEqual(b.maxBytes);
    }
    await waitFor('flush to resolve', () => flushed, 10_000, 5);
    expect(durable.map(([i]) => i)).toEqual(raws.map((_, i) => i));
    expect(durable.map(([, off]) => off)).toEqual(raws.map((_, i) => i));
    expect(capacity.every((size) => size <= b.maxBytes)).toBe(true);
  });

  it('a failing append (disk full) is retried and logged at error, never skipped; reads see retrying meanwhile', async () => {
    const real = await openBuffer();
    let failures = 2;
    // the real buffer, with the first two appends failing as a full disk would
    const flaky = new Proxy(real, {
      get(target, prop) {
        if (prop === 'append') {
          return (batches: Parameters<DiskBuffer['append']>[0]) => {
            if (failures > 0) {
              failures--;
              return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
            }
            return target.append(batches);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const pool = new ManualPool();
    const { p, durable } = setup(flaky, pool);
    for (let i = 0; i < 3; i++) {
      const raw = line(i);
      p.submit({ meta: meta(i, raw), raw, timestamp: i, onDurable: (off) => durable.push([i, off]) });
      pool.finish(i);
    }
    await waitFor('the first failure', () => p.retrying, 10_000, 5);
    expect(durable).toEqual([]);
    await p.flush();
    expect(p.retrying).toBe(false);
    expect(durable).toEqual([[0, 0], [1, 1], [2, 2]]);
    const errors = logs.filter((l) => /cannot write to the agent buffer/.test(l.msg));
    expect(errors).toHaveLength(2);
    expect(errors.every((l) => l.level === 50)).toBe(true);
    expect(await stored(real)).toEqual([0, 1, 2].map((i) => line(i).toString()));
  });

  it('a compression job that fails (worker died) is compressed on this thread instead, logged, and kept in order', async () => {
    const b = await openBuffer();
    const pool = new ManualPool();
    const { p, durable } = setup(b, pool);
    for (let i = 0; i < 3; i++) {
      const raw = line(i);
      p.submit({ meta: meta(i, raw), raw, timestamp: i, onDurable: (off) => durable.push([i, off]) });
    }
    pool.finish(0);
    pool.fail(1);
    pool.finish(2);
    await p.flush();
    expect(durable).toEqual([[0, 0], [1, 1], [2, 2]]);
    expect(logs.some((l) => l.level === 50 && /compressing on the main thread/.test(l.msg))).toBe(true);
    expect(await stored(b)).toEqual([0, 1, 2].map((i) => line(i).toString()));
  });

  it('a ready batch waits for the one being compressed behind it (one append, one fsync for both), unless it holds half the in-flight bound; a lone batch goes at once', async () => {
    const b = await openBuffer();
    const pool = new ManualPool();
    const raw = line(0, 1000);
    const { p, durable } = setup(b, pool, raw.length * 4);
    for (let i = 0; i < 2; i++) p.submit({ meta: meta(i, raw), raw, timestamp: i, onDurable: (off) => durable.push([i, off]) });
    pool.finish(0);
    // time itself is tested: give batch 0 every chance to be appended alone, then check it waited
    await new Promise((r) => setTimeout(r, 100));
    expect(durable).toEqual([]);
    pool.finish(1);
    await p.flush();
    expect(durable).toEqual([[0, 0], [1, 1]]);
    expect(p.appendCount).toBe(1);
    // a lone batch: nothing behind it to wait for
    p.submit({ meta: meta(2, raw), raw, timestamp: 2, onDurable: (off) => durable.push([2, off]) });
    pool.finish(2);
    await p.flush();
    expect(durable.at(-1)).toEqual([2, 2]);
    expect(p.appendCount).toBe(2);
    // ready bytes at half the bound (2 of 4 batches' worth): appended without waiting for the third
    for (let i = 3; i < 6; i++) p.submit({ meta: meta(i, raw), raw, timestamp: i, onDurable: (off) => durable.push([i, off]) });
    pool.finish(3);
    pool.finish(4);
    await waitFor('batches 3 and 4 durable while 5 is still compressing', () => durable.length === 5, 5_000, 5);
    expect(durable.slice(3)).toEqual([[3, 3], [4, 4]]);
    pool.finish(5);
    await p.flush();
    expect(durable.at(-1)).toEqual([5, 5]);
  });

  it('hasCapacity is false once raw bytes in flight reach maxInFlightBytes, and true again when they are durable', async () => {
    const b = await openBuffer();
    const pool = new ManualPool();
    const raw = line(0, 1000);
    const { p, capacity } = setup(b, pool, raw.length * 3);
    expect(p.hasCapacity()).toBe(true);
    for (let i = 0; i < 3; i++) p.submit({ meta: meta(i, raw), raw, timestamp: i, onDurable: () => undefined });
    expect(p.inFlightBytes).toBe(raw.length * 3);
    expect(p.hasCapacity()).toBe(false);
    for (let i = 0; i < 3; i++) pool.finish(i);
    await p.flush();
    expect(p.hasCapacity()).toBe(true);
    expect(capacity.length).toBeGreaterThan(0); // inputs were told to read on
  });

  it('after stop() nothing more reaches the buffer (those lines are read again at restart)', async () => {
    const b = await openBuffer();
    const pool = new ManualPool();
    const { p, durable } = setup(b, pool);
    const raw0 = line(0);
    p.submit({ meta: meta(0, raw0), raw: raw0, timestamp: 0, onDurable: (off) => durable.push([0, off]) });
    pool.finish(0);
    await p.flush();
    const raw1 = line(1);
    p.submit({ meta: meta(1, raw1), raw: raw1, timestamp: 1, onDurable: (off) => durable.push([1, off]) });
    p.stop();
    pool.finish(1);
    // time itself is tested: give the compressed batch every chance to be appended, then check it was not
    await new Promise((r) => setTimeout(r, 100));
    expect(durable).toEqual([[0, 0]]);
    expect(b.log.nextOffset).toBe(1);
    expect(p.pendingBatches).toBe(1);
  });
});
