import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptError, LogshipError, OffsetOutOfRangeError } from '../../../../lib/errors.js';
import { SegmentLog, type SegmentLogOptions } from '../../../../lib/log/index.js';
import { expectedPayload, makeBatch, tempDir } from '../../../helpers/log-fixtures.js';

describe('SegmentLog contract: append, read, offsets', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const logs: SegmentLog[] = [];
  const open = async (o: Partial<SegmentLogOptions> = {}): Promise<SegmentLog> => {
    const log = await SegmentLog.open({ dir, fsync: false, ...o });
    logs.push(log);
    return log;
  };

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await cleanup();
  });

  it('starts empty at offset 0', async () => {
    const log = await open();
    expect(log.firstOffset).toBe(0);
    expect(log.nextOffset).toBe(0);
    expect(log.sizeBytes).toBe(0);
    expect(log.oldestTimestamp).toBeUndefined();
    expect(await log.read(0, 1024)).toEqual([]);
    expect(log.recovery).toEqual({ segments: 1, truncatedBytes: 0, quarantined: [], rebuiltIndexes: 0 });
  });

  it('assigns offsets by record count and returns content verbatim', async () => {
    const log = await open();
    const offsets = await log.append([
      makeBatch('a', { count: 3, timestamp: 10, attributes: 2 }),
      makeBatch('b', { count: 1, timestamp: 11 }),
    ]);
    expect(offsets).toEqual([0, 3]);
    expect(await log.append([makeBatch('c', { count: 5, timestamp: 12, payloadBytes: 0 })])).toEqual([4]);
    expect(log.nextOffset).toBe(9);
    expect(log.oldestTimestamp).toBe(10);

    const all = await log.read(0, 1 << 20);
    expect(all.map((b) => [b.baseOffset, b.count, b.timestamp, b.attributes, b.meta.toString()])).toEqual([
      [0, 3, 10, 2, 'a'],
      [3, 1, 11, 0, 'b'],
      [4, 5, 12, 0, 'c'],
    ]);
    expect(all[0]!.payload.equals(expectedPayload('a', 100))).toBe(true);
    expect(all[2]!.payload.length).toBe(0);
    expect(all[0]!.size).toBe(36 + 1 + 100);
    expect(log.sizeBytes).toBe(all.reduce((n, b) => n + b.size, 0));
  });

  it('read from the middle of a batch returns that batch first; maxBytes bounds the result but never to zero', async () => {
    const log = await open();
    for (let i = 0; i < 10; i++) await log.append([makeBatch(`k${i}`, { count: 10, payloadBytes: 1000 })]);
    const r = await log.read(35, 1);
    expect(r).toHaveLength(1);
    expect(r[0]!.baseOffset).toBe(30);
    const r2 = await log.read(35, 2500);
    expect(r2.map((b) => b.baseOffset)).toEqual([30, 40, 50]);
    expect(await log.read(100, 100)).toEqual([]);
  });

  it('throws OffsetOutOfRangeError carrying the valid range', async () => {
    const log = await open();
    await log.append([makeBatch('a', { count: 4 })]);
    const err = await log.read(5, 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffsetOutOfRangeError);
    expect(err).toMatchObject({ code: 'LSH_ERR_OFFSET_OUT_OF_RANGE', offset: 5, firstOffset: 0, nextOffset: 4 });
    await expect(log.read(-1, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
  });

  it('rejects invalid batches without writing anything', async () => {
    const log = await open();
    await expect(log.append([{ ...makeBatch('a'), count: 0 }])).rejects.toThrow(RangeError);
    await expect(log.append([{ ...makeBatch('a'), attributes: 70000 }])).rejects.toThrow(RangeError);
    await expect(log.append([{ ...makeBatch('a'), meta: Buffer.alloc(64 * 1024 + 1) }])).rejects.toMatchObject({ code: 'LSH_ERR_TOO_LARGE' });
    expect(await log.append([])).toEqual([]);
    expect(log.nextOffset).toBe(0);
    expect(log.sizeBytes).toBe(0);
  });

  it('uses the sparse index for reads deep into a segment and survives reopen', async () => {
    let log = await open({ indexIntervalBytes: 1024 });
    for (let i = 0; i < 200; i++) await log.append([makeBatch(`r${i}`, { count: 2, payloadBytes: 300 })]);
    const r = await log.read(301, 1);
    expect(r[0]!.baseOffset).toBe(300);
    expect(r[0]!.meta.toString()).toBe('r150');
    await log.close();
    log = await open({ indexIntervalBytes: 1024 });
    expect(log.nextOffset).toBe(400);
    expect(log.recovery.rebuiltIndexes).toBe(0);
    expect((await log.read(399, 1))[0]!.meta.toString()).toBe('r199');
    expect(await log.append([makeBatch('after')])).toEqual([400]);
  });

  it('offsetForTimestamp finds the first batch at or after a time, even with unordered timestamps', async () => {
    const log = await open({ indexIntervalBytes: 256 });
    const ts = [100, 200, 150, 300, 250, 400, 500, 450];
    for (let i = 0; i < ts.length; i++) await log.append([makeBatch(`t${i}`, { count: 10, timestamp: ts[i]!, payloadBytes: 200 })]);
    expect(await log.offsetForTimestamp(0)).toBe(0);
    expect(await log.offsetForTimestamp(100)).toBe(0);
    expect(await log.offsetForTimestamp(101)).toBe(10);
    expect(await log.offsetForTimestamp(210)).toBe(30);
    expect(await log.offsetForTimestamp(420)).toBe(60);
    expect(await log.offsetForTimestamp(460)).toBe(60);
    expect(await log.offsetForTimestamp(501)).toBe(log.nextOffset);
  });

  it('waitForData resolves on append, times out, and honours abort', async () => {
    const log = await open();
    expect(await log.waitForData(0, 5)).toBe(false);
    const waiting = log.waitForData(0, 10_000);
    await log.append([makeBatch('x')]);
    expect(await waiting).toBe(true);
    expect(await log.waitForData(0, 0)).toBe(true);
    const ac = new AbortController();
    const aborted = log.waitForData(1, 10_000, ac.signal);
    ac.abort();
    expect(await aborted).toBe(false);
    const atClose = log.waitForData(1, 10_000);
    await log.close();
    expect(await atClose).toBe(false);
  });

  it('scanMeta yields headers and meta from an offset to the end', async () => {
    const log = await open({ segmentBytes: 2048 });
    for (let i = 0; i < 50; i++) await log.append([makeBatch(`m${i}`, { count: 3, timestamp: i, attributes: i % 8, payloadBytes: 150 })]);
    const seen: string[] = [];
    for await (const m of log.scanMeta(31)) {
      expect(m.baseOffset).toBe(Number(m.meta.toString().slice(1)) * 3);
      seen.push(m.meta.toString());
    }
    expect(seen[0]).toBe('m10');
    expect(seen).toHaveLength(40);
    const all = [];
    for await (const m of log.scanMeta(0)) all.push(m);
    expect(all).toHaveLength(50);
    expect(all[7]).toMatchObject({ baseOffset: 21, count: 3, timestamp: 7, attributes: 7 });
  });

  it('close is idempotent and later calls fail with LSH_ERR_CLOSED', async () => {
    const log = await open();
    await log.append([makeBatch('a')]);
    await Promise.all([log.close(), log.close()]);
    await expect(log.append([makeBatch('b')])).rejects.toMatchObject({ code: 'LSH_ERR_CLOSED' });
    await expect(log.read(0, 10)).rejects.toBeInstanceOf(LogshipError);
  });

  it('a verified payload CRC given with the batch is combined into the frame, the same bytes as computing it', async () => {
    const { readFile } = await import('node:fs/promises');
    const { crc32c } = await import('../../../../lib/log/index.js');
    const batches = [makeBatch('a', { payloadBytes: 70_000 }), makeBatch('bb', { payloadBytes: 3 }), makeBatch('c', { payloadBytes: 0 })];
    const plain = await open();
    await plain.append(batches);
    await plain.close();
    const first = await readFile(`${dir}/00000000000000000000.log`);
    await (await import('node:fs/promises')).rm(`${dir}/00000000000000000000.log`);
    const log = await open();
    await log.append(batches.map((b) => ({ ...b, payloadCrc: crc32c(b.payload) })));
    expect((await readFile(`${dir}/00000000000000000000.log`)).equals(first)).toBe(true);
    // A caller that passes a CRC the payload does not have stores a frame that reads as corrupt, not as data.
    const bad = makeBatch('d', { payloadBytes: 500 });
    await log.append([{ ...bad, payloadCrc: crc32c(bad.payload) ^ 1 }]);
    await expect(log.read(3, 1)).rejects.toBeInstanceOf(CorruptError);
  });

  it('detects a flipped payload byte on read with CorruptError', async () => {
    const { open: fopen } = await import('node:fs/promises');
    const log = await open();
    await log.append([makeBatch('a', { payloadBytes: 500 }), makeBatch('b', { payloadBytes: 500 })]);
    const fh = await fopen(`${dir}/00000000000000000000.log`, 'r+');
    await fh.write(Buffer.from([0xff]), 0, 1, 36 + 1 + 200);
    await fh.close();
    await expect(log.read(0, 1)).rejects.toBeInstanceOf(CorruptError);
    expect((await log.read(1, 1))[0]!.meta.toString()).toBe('b');
  });
});
