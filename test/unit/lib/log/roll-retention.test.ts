import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OffsetOutOfRangeError } from '../../../../lib/errors.js';
import { SegmentLog, type SegmentLogOptions } from '../../../../lib/log/index.js';
import { instrumentedFs, makeBatch, tempDir } from '../../../helpers/log-fixtures.js';

const logFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();

describe('SegmentLog contract: rolling and retention', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let now: number;
  const logs: SegmentLog[] = [];
  const open = async (o: Partial<SegmentLogOptions> = {}): Promise<SegmentLog> => {
    const log = await SegmentLog.open({ dir, fsync: false, clock: () => now, ...o });
    logs.push(log);
    return log;
  };

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    now = 1_700_000_000_000;
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await cleanup();
  });

  it('rolls when the next frame would exceed segmentBytes; files are named by base offset', async () => {
    const log = await open({ segmentBytes: 1000 });
    // 36 + 2 + 400 = 438 bytes per frame: two fit in 1000, the third rolls.
    for (let i = 0; i < 5; i++) await log.append([makeBatch(`s${i}`, { count: 10, payloadBytes: 400 })]);
    expect(await logFiles(dir)).toEqual(['00000000000000000000.log', '00000000000000000020.log', '00000000000000000040.log']);
    expect(log.segmentCount).toBe(3);
    expect(log.sizeBytes).toBe(5 * 438);
    const all = await log.read(0, 1 << 20);
    expect(all.map((b) => b.meta.toString())).toEqual(['s0', 's1', 's2', 's3', 's4']);
    // A frame larger than a segment gets a segment of its own.
    expect(await log.append([makeBatch('big', { payloadBytes: 5000 })])).toEqual([50]);
    expect((await log.read(50, 1))[0]!.payload.length).toBe(5000);
  });

  it('splits one multi-batch append across a roll and keeps it readable', async () => {
    const log = await open({ segmentBytes: 1000 });
    const offs = await log.append(Array.from({ length: 7 }, (_, i) => makeBatch(`m${i}`, { count: 2, payloadBytes: 400 })));
    expect(offs).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect((await logFiles(dir)).length).toBe(4);
    expect((await log.read(0, 1 << 20)).map((b) => b.baseOffset)).toEqual(offs);
  });

  it('rolls by age using the injected clock, checked on append', async () => {
    const log = await open({ segmentMs: 60_000 });
    await log.append([makeBatch('a')]);
    now += 30_000;
    await log.append([makeBatch('b')]);
    expect(log.segmentCount).toBe(1);
    now += 30_001;
    await log.append([makeBatch('c')]);
    expect(log.segmentCount).toBe(2);
    expect(await logFiles(dir)).toEqual(['00000000000000000000.log', '00000000000000000002.log']);
  });

  it('applies retention by age: whole sealed segments by their newest timestamp, never the active one', async () => {
    const log = await open({ segmentBytes: 500 });
    for (let i = 0; i < 6; i++) await log.append([makeBatch(`a${i}`, { count: 5, timestamp: now - (10 - i) * 1000, payloadBytes: 400 })]);
    expect(log.segmentCount).toBe(6);
    // Newest timestamps: now-10s .. now-5s. Older than 7.5 s: the first three segments.
    const r = await log.applyRetention({ maxAgeMs: 7_500 });
    expect(r).toEqual({ segmentsDeleted: 3, bytesDeleted: 3 * 438 });
    expect(log.firstOffset).toBe(15);
    expect(log.oldestTimestamp).toBe(now - 7000);
    const err = await log.read(0, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffsetOutOfRangeError);
    expect(err).toMatchObject({ offset: 0, firstOffset: 15, nextOffset: 30 });
    // Everything is older than 1 ms, but the active segment stays.
    const r2 = await log.applyRetention({ maxAgeMs: 1 });
    expect(r2.segmentsDeleted).toBe(2);
    expect(log.segmentCount).toBe(1);
    expect(log.firstOffset).toBe(25);
    expect((await log.read(25, 100))[0]!.meta.toString()).toBe('a5');
  });

  it('bounds the descriptors held for sealed segments', async () => {
    const { io, counts } = instrumentedFs();
    const log = await open({ io, segmentBytes: 500, maxOpenSegments: 2 });
    for (let i = 0; i < 10; i++) await log.append([makeBatch(`f${i}`, { count: 1, payloadBytes: 400 })]);
    expect(log.segmentCount).toBe(10);
    for (let round = 0; round < 2; round++) {
      for (let o = 0; o < 10; o++) expect((await log.read(o, 1))[0]!.meta.toString()).toBe(`f${o}`);
    }
    await new Promise((r) => setImmediate(r));
    // The active segment holds 3 (log + 2 indexes); at most 2 sealed .log fds besides.
    expect((counts.open ?? 0) - (counts.close ?? 0)).toBeLessThanOrEqual(5);
  });

  it('applies retention by bytes and truncateBefore by offset', async () => {
    const log = await open({ segmentBytes: 500 });
    for (let i = 0; i < 6; i++) await log.append([makeBatch(`b${i}`, { count: 5, payloadBytes: 400 })]);
    expect(await log.applyRetention({ maxBytes: 4 * 438 })).toEqual({ segmentsDeleted: 2, bytesDeleted: 2 * 438 });
    expect(log.sizeBytes).toBe(4 * 438);
    expect(log.firstOffset).toBe(10);
    // truncateBefore deletes only segments entirely below the offset.
    expect(await log.truncateBefore(19)).toBe(438);
    expect(log.firstOffset).toBe(15);
    expect(await log.truncateBefore(1000)).toBe(2 * 438);
    expect(log.firstOffset).toBe(25);
    expect(await logFiles(dir)).toEqual(['00000000000000000025.log']);
    expect((await readdir(dir)).filter((n) => n.endsWith('index')).sort()).toEqual(['00000000000000000025.index', '00000000000000000025.timeindex']);
    await log.close();
    const again = await open({ segmentBytes: 500 });
    expect([again.firstOffset, again.nextOffset]).toEqual([25, 30]);
  });
});
