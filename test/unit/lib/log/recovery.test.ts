import { appendFile, open as fopen, readdir, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SegmentLog, type SegmentLogOptions } from '../../../../lib/log/index.js';
import { expectedPayload, makeBatch, tempDir } from '../../../helpers/log-fixtures.js';

const seg = (base: number, ext = 'log'): string => `${String(base).padStart(20, '0')}.${ext}`;

describe('SegmentLog recovery', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const logs: SegmentLog[] = [];
  const open = async (o: Partial<SegmentLogOptions> = {}): Promise<SegmentLog> => {
    const log = await SegmentLog.open({ dir, fsync: false, ...o });
    logs.push(log);
    return log;
  };
  const closeAll = async (): Promise<void> => {
    for (const l of logs.splice(0)) await l.close();
  };
  /** 20 batches of 2 records, 4 segments of 5 batches (frame = 36 + 3 + 150 = 189 bytes). */
  const fill = async (o: Partial<SegmentLogOptions> = {}): Promise<void> => {
    const log = await open({ segmentBytes: 5 * 189, indexIntervalBytes: 300, ...o });
    for (let i = 0; i < 20; i++) await log.append([makeBatch(`b${String(i).padStart(2, '0')}`, { count: 2, timestamp: 1000 + i, payloadBytes: 150 })]);
    expect(log.segmentCount).toBe(4);
    await closeAll();
  };
  const metas = async (log: SegmentLog, from = log.firstOffset): Promise<string[]> =>
    (await log.read(from, 1 << 20)).map((b) => `${b.baseOffset}:${b.meta.toString()}`);

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    await closeAll();
    await cleanup();
  });

  it('rebuilds deleted, truncated and garbage index files', async () => {
    await fill();
    await unlink(path.join(dir, seg(0, 'index')));
    await unlink(path.join(dir, seg(10, 'timeindex')));
    await truncate(path.join(dir, seg(20, 'index')), 3);
    await writeFile(path.join(dir, seg(30, 'index')), Buffer.alloc(16, 0xee));
    const log = await open({ segmentBytes: 5 * 189, indexIntervalBytes: 300 });
    expect(log.recovery).toMatchObject({ segments: 4, truncatedBytes: 0, quarantined: [], rebuiltIndexes: 4 });
    expect((await stat(path.join(dir, seg(0, 'index')))).size).toBeGreaterThan(0);
    expect((await log.read(17, 1))[0]!.meta.toString()).toBe('b08');
    expect(await log.offsetForTimestamp(1013)).toBe(26);
    await closeAll();
    const again = await open({ segmentBytes: 5 * 189, indexIntervalBytes: 300 });
    expect(again.recovery.rebuiltIndexes).toBe(0);
  });

  it('cuts a frame torn mid-write and counts the bytes', async () => {
    await fill();
    const last = path.join(dir, seg(30));
    await truncate(last, 4 * 189 + 100);
    const log = await open();
    expect(log.recovery).toMatchObject({ segments: 4, truncatedBytes: 100, quarantined: [] });
    expect(log.nextOffset).toBe(38);
    expect((await stat(last)).size).toBe(4 * 189);
    expect(await log.append([makeBatch('new', { count: 3 })])).toEqual([38]);
    expect((await metas(log, 36)).slice(-2)).toEqual(['36:b18', '38:new']);
  });

  it('cuts garbage appended after the last frame, including garbage that looks like a frame', async () => {
    await fill();
    const last = path.join(dir, seg(30));
    const fake = Buffer.alloc(60, 0x11);
    fake[0] = 0x4c;
    fake[1] = 1;
    fake.writeUInt32BE(54, 2);
    await appendFile(last, Buffer.concat([fake, Buffer.from('not a frame at all')]));
    const log = await open();
    expect(log.recovery.truncatedBytes).toBe(60 + 18);
    expect(log.nextOffset).toBe(40);
    expect(await log.append([makeBatch('next')])).toEqual([40]);
    expect((await log.read(38, 1 << 20)).map((b) => b.meta.toString())).toEqual(['b19', 'next']);
  });

  it('cuts a torn tail in a segment with a stale index pointing past the cut', async () => {
    await fill({ indexIntervalBytes: 1 });
    const last = path.join(dir, seg(30));
    await truncate(last, 2 * 189 + 10);
    const log = await open({ indexIntervalBytes: 1 });
    expect(log.recovery.truncatedBytes).toBe(10);
    expect(log.nextOffset).toBe(34);
    expect(await metas(log, 30)).toEqual(['30:b15', '32:b16']);
    expect(await log.append([makeBatch('n')])).toEqual([34]);
  });

  it('opens a directory whose only segment is garbage, with an empty log', async () => {
    await writeFile(path.join(dir, seg(0)), Buffer.from('garbage garbage garbage garbage garbage garbage'));
    const log = await open();
    expect(log.recovery.truncatedBytes).toBe(47);
    expect([log.firstOffset, log.nextOffset]).toEqual([0, 0]);
    expect(await log.append([makeBatch('x')])).toEqual([0]);
  });

  const damage = async (file: string, position: number): Promise<void> => {
    const fh = await fopen(path.join(dir, file), 'r+');
    await fh.write(Buffer.from([0xff, 0xfe]), 0, 2, position);
    await fh.close();
  };

  it('quarantines a corrupt sealed segment and reads skip the gap', async () => {
    await fill();
    // The last index entry of each segment is at its 5th frame: the open-time check reads from there.
    await damage(seg(10), 189 * 4 + 80);
    const log = await open();
    expect(log.recovery.quarantined).toHaveLength(1);
    const aside = log.recovery.quarantined[0]!;
    expect(aside).toMatch(/^00000000000000000010\.log\.corrupt-\d+$/);
    const files = await readdir(dir);
    expect(files).toContain(aside);
    expect(files).not.toContain(seg(10));
    expect(files).not.toContain(seg(10, 'index'));
    expect([log.firstOffset, log.nextOffset]).toEqual([0, 40]);
    // Reading in the gap skips forward to the next stored batch.
    expect((await log.read(12, 1))[0]!.baseOffset).toBe(20);
    expect((await metas(log)).map((m) => m.split(':')[0])).toEqual(['0', '2', '4', '6', '8', '20', '22', '24', '26', '28', '30', '32', '34', '36', '38']);
    const scanned: number[] = [];
    for await (const m of log.scanMeta(0)) scanned.push(m.baseOffset);
    expect(scanned).toHaveLength(15);
    expect(await log.append([makeBatch('after')])).toEqual([40]);
    await closeAll();
    // The next open is clean: the quarantined file is left alone.
    const again = await open();
    expect(again.recovery.quarantined).toEqual([]);
    expect(again.nextOffset).toBe(41);
  });

  it('finds rot before the last index entry on read by default, and at open with verifyOnOpen full', async () => {
    await fill();
    await damage(seg(10), 189 + 80);
    const log = await open();
    expect(log.recovery.quarantined).toEqual([]);
    await expect(log.read(12, 1)).rejects.toMatchObject({ code: 'LSH_ERR_CORRUPT' });
    expect((await log.read(14, 1))[0]!.baseOffset).toBe(14);
    await closeAll();
    const full = await open({ verifyOnOpen: 'full', indexIntervalBytes: 300 });
    expect(full.recovery).toMatchObject({ quarantined: [expect.stringMatching(/^00000000000000000010\.log\.corrupt-/)], rebuiltIndexes: 0 });
    expect((await full.read(12, 1))[0]!.baseOffset).toBe(20);
  });

  it('quarantining the first segment moves firstOffset', async () => {
    await fill();
    await truncate(path.join(dir, seg(0)), 189 * 5 - 1);
    const log = await open();
    expect(log.recovery.quarantined).toHaveLength(1);
    expect(log.firstOffset).toBe(10);
    expect((await log.read(10, 1))[0]!.payload.equals(expectedPayload('b05', 150))).toBe(true);
  });

  it('tolerates an empty last segment left by a crash during a roll', async () => {
    await fill();
    await writeFile(path.join(dir, seg(40)), Buffer.alloc(0));
    const log = await open({ segmentBytes: 5 * 189 });
    expect(log.recovery).toMatchObject({ segments: 5, truncatedBytes: 0, quarantined: [] });
    expect(log.nextOffset).toBe(40);
    expect(await log.append([makeBatch('z')])).toEqual([40]);
    expect((await log.read(38, 1 << 20)).map((b) => b.meta.toString())).toEqual(['b19', 'z']);
  });
});
