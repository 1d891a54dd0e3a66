import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { PayloadSlabs, POISON, poisonFromEnv, slabsFor } from '../../../../agent/buffer/payload-slabs.js';
import { DiskBuffer } from '../../../../agent/buffer/disk-buffer.js';
import type { BufferedMeta } from '../../../../agent/buffer/buffered-meta.js';
import { CODEC_NONE } from '../../../../lib/protocol/batches.js';

describe('PayloadSlabs', () => {
  it('cuts payloads front to back from one slab and reuses it once every reference is given back', () => {
    const s = new PayloadSlabs({ maxSlabs: 2, slabBytes: 1024 });
    const a = s.take(300);
    const b = s.take(300);
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 300);
    expect(s.slabs).toBe(1);
    s.retain(a); // a second holder
    s.release(a);
    s.release(b);
    // a still has a holder: the slab is not reused, the next payload comes after b
    const c = s.take(300);
    expect(c.byteOffset).toBe(b.byteOffset + 300);
    s.release(c);
    s.release(a);
    // no reference left on the current slab: cutting starts again from its start
    expect(s.references).toBe(0);
    const d = s.take(100);
    expect(d.byteOffset).toBe(a.byteOffset);
    expect(s.slabs).toBe(1);
  });

  it('moves to a free slab, then a new one up to the bound, then falls back to plain allocations without waiting', () => {
    const s = new PayloadSlabs({ maxSlabs: 2, slabBytes: 1024 });
    const a = s.take(512);
    const b = s.take(512);
    const c = s.take(512); // slab 1 is full: a second slab
    expect(s.slabs).toBe(2);
    expect(c.buffer).not.toBe(a.buffer);
    s.take(512);
    const plain = s.take(100); // both full and held: a plain allocation
    expect(s.holds(plain)).toBe(false);
    expect(s.holds(c)).toBe(true);
    expect(s.plainTaken).toBe(1);
    s.release(plain); // ignored
    s.release(a);
    s.release(b);
    // slab 1 is free again and taken next (slab 2 is current and full)
    const e = s.take(200);
    expect(e.buffer).toBe(a.buffer);
    expect(s.reuses).toBe(1);
    // too large for a slab (over half of one): plain
    expect(s.holds(s.take(600))).toBe(false);
  });

  it('keeps at most keepFree unused slabs: one freed beyond them is given up (counted for the collector) and never handed out again', () => {
    const given: number[] = [];
    const s = new PayloadSlabs({ maxSlabs: 4, slabBytes: 1024, keepFree: 1, onGiveUp: (n) => given.push(n) });
    const a = [s.take(512), s.take(512)]; // slab 1
    const b = [s.take(512), s.take(512)]; // slab 2
    s.take(512); // slab 3, current
    for (const x of a) s.release(x); // slab 1 kept free
    expect(given).toEqual([]);
    for (const x of b) s.release(x); // slab 2: one free is kept already, so it is given up
    expect(given).toEqual([1024]);
    expect(s.slabs).toBe(2);
    expect(s.holds(b[0]!)).toBe(false);
    s.take(512); // the rest of slab 3
    const next = s.take(512); // slab 1 again, never slab 2
    expect(next.buffer).toBe(a[0]!.buffer);
    expect(s.slabs).toBe(2);
  });

  it('refuses a release without a reference (a bug) instead of freeing a slab still in use', () => {
    const s = new PayloadSlabs({ maxSlabs: 1, slabBytes: 1024 });
    const a = s.take(10);
    s.release(a);
    expect(() => s.release(a)).toThrow(/more often/);
  });

  it('poisons a slab as soon as its last reference goes (test mode), so a payload used after release is detected', () => {
    const s = new PayloadSlabs({ maxSlabs: 2, slabBytes: 1024, poison: true });
    const a = s.take(100);
    a.fill(1);
    const b = s.take(100);
    b.fill(2);
    s.release(a);
    expect(a.every((x) => x === 1)).toBe(true); // b still holds the slab
    s.release(b);
    expect(a.every((x) => x === POISON)).toBe(true);
    expect(b.every((x) => x === POISON)).toBe(true);
  });

  it('gives up the slabs nobody references when asked (an agent gone quiet), and keeps those in use', () => {
    const s = new PayloadSlabs({ maxSlabs: 3, slabBytes: 1024 });
    const a = s.take(512);
    s.take(512);
    const c = s.take(512); // second slab, current
    s.release(c);
    expect(s.shrink()).toBe(1024); // the current one, free
    expect(s.slabs).toBe(1);
    expect(s.holds(a)).toBe(true);
  });

  it('reads the test switch only together with LOGSHIP_TEST_HOOKS=1, and sizes the bound from what can be held', () => {
    expect(poisonFromEnv({ LOGSHIP_TEST_POISON_SLABS: '1' })).toBe(false);
    expect(poisonFromEnv({ LOGSHIP_TEST_HOOKS: '1', LOGSHIP_TEST_POISON_SLABS: '1' })).toBe(true);
    expect(slabsFor({ recentBytes: 4 << 20, requestBytes: 4 << 20, inFlightBytes: 3 << 20 }, 2 << 20)).toBe(8);
  });
});

describe('DiskBuffer with payload slabs', () => {
  let dir: string;
  let buffer: DiskBuffer;
  let slabs: PayloadSlabs;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'logship-slabs-'));
    slabs = new PayloadSlabs({ maxSlabs: 8, slabBytes: 64 << 10, poison: true });
    buffer = await DiskBuffer.open({ dir, maxBytes: 64 << 20, whenFull: 'block', logger: pino({ level: 'silent' }), fsync: false, slabs });
  });
  afterEach(async () => {
    await buffer.close();
    await rm(dir, { recursive: true, force: true });
  });
  const meta = (i: number): BufferedMeta => ({ codec: CODEC_NONE, flags: 0, topic: 't', source: 's', key: 'k', start: i, end: i + 1, lines: 1, rawLength: 1000, dev: 0, ino: 0, fpLen: 0, fpCrc: 0 });
  async function append(i: number): Promise<Buffer> {
    const p = slabs.take(1000);
    p.fill(i & 0xff);
    await buffer.append([{ meta: meta(i), payload: p, timestamp: i }]);
    buffer.releasePayload(p); // the appender's reference, as the pipeline does
    return p;
  }

  it('keeps a payload read for sending intact until the reader releases it, across acknowledgement and newer appends', async () => {
    await append(0);
    const [b] = await buffer.read(0, 1 << 20);
    expect(b!.payload.every((x) => x === 0)).toBe(true);
    // acknowledged (the recent cache lets go) and many more appended: the slabs turn over
    void buffer.ack(1);
    for (let i = 1; i < 400; i++) {
      await append(i);
      if (i % 4 === 0) void buffer.ack(i);
    }
    expect(b!.payload.every((x) => x === 0)).toBe(true);
    buffer.release([b!]);
    expect(b!.payload.every((x) => x === POISON)).toBe(true);
  });

  it('gives back every reference: nothing is held once the cache is acknowledged and every read released', async () => {
    for (let i = 0; i < 50; i++) await append(i);
    const got = await buffer.read(10, 1 << 20);
    expect(got.length).toBeGreaterThan(0);
    expect(slabs.references).toBeGreaterThan(0);
    void buffer.ack(50);
    buffer.release(got);
    expect(slabs.references).toBe(0);
  });
});
