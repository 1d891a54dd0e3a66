import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDiskFull } from '../../../../lib/errors.js';
import { realFs, SegmentLog, type FsSeam, type SegmentLogOptions } from '../../../../lib/log/index.js';
import { errno, instrumentedFs, makeBatch, tempDir } from '../../../helpers/log-fixtures.js';

describe('SegmentLog group commit and I/O faults (through the fs seam)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const logs: SegmentLog[] = [];
  const open = async (o: Partial<SegmentLogOptions>): Promise<SegmentLog> => {
    const log = await SegmentLog.open({ dir, ...o });
    logs.push(log);
    return log;
  };
  const logSize = async (base = 0): Promise<number> => (await stat(path.join(dir, `${String(base).padStart(20, '0')}.log`))).size;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
    await cleanup();
  });

  it('100 concurrent appends share a handful of fdatasyncs and get contiguous offsets', async () => {
    const { io, counts } = instrumentedFs();
    const log = await open({ io, fsync: true });
    const offsets = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append([makeBatch(`c${i}`, { count: 2 })])));
    expect(offsets.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    expect(counts.fdatasync).toBeGreaterThanOrEqual(1);
    expect(counts.fdatasync).toBeLessThanOrEqual(5);
    expect(log.nextOffset).toBe(200);
  });

  it('appends arriving during an fsync share the next one; nothing is visible or acknowledged before its fsync', async () => {
    const { io: counted, counts } = instrumentedFs();
    let release: (() => void) | undefined;
    const io: FsSeam = {
      ...counted,
      fdatasync: async (fd) => {
        await new Promise<void>((r) => (release = r));
        return counted.fdatasync(fd);
      },
    };
    const log = await open({ io, fsync: true });
    let acked = false;
    const first = log.append([makeBatch('first')]).then((o) => ((acked = true), o));
    while (!release) await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 99 }, (_, i) => log.append([makeBatch(`r${i}`)]));
    await new Promise((r) => setImmediate(r));
    expect(acked).toBe(false);
    expect(log.nextOffset).toBe(0);
    expect(await log.read(0, 100)).toEqual([]);
    const go = (): void => {
      const r = release!;
      release = undefined;
      r();
    };
    go();
    expect(await first).toEqual([0]);
    while (!release) await new Promise((r) => setImmediate(r));
    go();
    const offs = await Promise.all(rest);
    expect(offs.flat()).toEqual(Array.from({ length: 99 }, (_, i) => i + 1));
    expect(counts.fdatasync).toBe(2);
  });

  it('ENOSPC mid-write: rejects with LSH_ERR_DISK_FULL, cuts the partial frame, recovers when space returns', async () => {
    const { io, faults } = instrumentedFs();
    const log = await open({ io, fsync: true });
    await log.append([makeBatch('a', { payloadBytes: 1000 }), makeBatch('b', { payloadBytes: 1000 })]);
    const before = await logSize();
    faults.writev = (fd, bufs, pos) => realFs.writev(fd, [bufs[0]!.subarray(0, 20)], pos).then(() => Promise.reject(errno('ENOSPC')));
    const err = await log.append([makeBatch('c', { payloadBytes: 5000 })]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LSH_ERR_DISK_FULL', name: 'IoError' });
    expect(isDiskFull(err)).toBe(true);
    expect(await logSize()).toBe(before);
    expect(log.nextOffset).toBe(2);
    expect((await log.read(0, 1 << 20)).map((b) => b.meta.toString())).toEqual(['a', 'b']);
    faults.writev = undefined;
    expect(await log.append([makeBatch('d')])).toEqual([2]);
    expect((await log.read(0, 1 << 20)).map((b) => b.meta.toString())).toEqual(['a', 'b', 'd']);
    await log.close();
    const again = await open({ fsync: false });
    expect(again.recovery.truncatedBytes).toBe(0);
    expect(again.nextOffset).toBe(3);
  });

  it('a failed write rejects only its own append; others in the same group commit succeed', async () => {
    const { io, faults } = instrumentedFs();
    const log = await open({ io, fsync: true });
    let n = 0;
    // Call 1 is the group's gathered write: it fails, the group is written again one append at a
    // time (calls 2, 3, 4 for x, y, z) and the write of y fails too.
    faults.writev = () => (++n === 1 || n === 3 ? Promise.reject(errno('EIO')) : undefined);
    const results = await Promise.allSettled([log.append([makeBatch('x')]), log.append([makeBatch('y')]), log.append([makeBatch('z')])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'LSH_ERR_IO' });
    expect((await log.read(0, 1 << 20)).map((b) => `${b.baseOffset}:${b.meta.toString()}`)).toEqual(['0:x', '1:z']);
  });

  it('ENOSPC while rolling into a new segment leaves no half-made segment behind', async () => {
    const { io, faults } = instrumentedFs();
    const log = await open({ io, fsync: true, segmentBytes: 1000 });
    await log.append([makeBatch('a', { payloadBytes: 600 })]);
    faults.writev = (_fd, _bufs, pos) => (pos === 0 ? Promise.reject(errno('ENOSPC')) : undefined);
    // One append whose second batch rolls: all of it must go.
    await expect(log.append([makeBatch('b', { payloadBytes: 100 }), makeBatch('c', { payloadBytes: 600 })])).rejects.toMatchObject({ code: 'LSH_ERR_DISK_FULL' });
    expect((await readdir(dir)).filter((f) => f.endsWith('.log'))).toEqual(['00000000000000000000.log']);
    expect(await logSize()).toBe(36 + 1 + 600);
    expect(log.nextOffset).toBe(1);
    faults.writev = undefined;
    expect(await log.append([makeBatch('b', { payloadBytes: 100 }), makeBatch('c', { payloadBytes: 600 })])).toEqual([1, 2]);
    expect(log.segmentCount).toBe(2);
  });

  it('a failed fdatasync rejects the whole group and rolls it back', async () => {
    const { io, faults } = instrumentedFs();
    const log = await open({ io, fsync: true });
    await log.append([makeBatch('ok')]);
    const before = await logSize();
    let fail = true;
    faults.fdatasync = () => (fail ? ((fail = false), errno('EIO')) : undefined);
    const results = await Promise.allSettled([log.append([makeBatch('p')]), log.append([makeBatch('q')])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await logSize()).toBe(before);
    expect(log.nextOffset).toBe(1);
    expect(await log.append([makeBatch('r')])).toEqual([1]);
  });
});
