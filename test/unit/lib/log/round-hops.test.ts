/**
 * The group commit's rounds under fan-in (issue 17): index upkeep runs after a round's acks and no
 * longer holds the next round back, and a round of thousands of small appends writes its runs of
 * IOV_MAX buffers side by side. Neither may cost a byte or an ack: every batch reads back, the
 * indexes are whole after a close and after a reopen, and a failed run rolls the whole round back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realFs, SegmentLog, type FsSeam } from '../../../../lib/log/index.js';
import { makeBatch, tempDir } from '../../../helpers/log-fixtures.js';

/** Resolves with 'late' when `p` has not settled after `ms` (a bound against hanging, not a timing claim). */
const within = <T>(p: Promise<T>, ms: number): Promise<T | 'late'> => Promise.race([p, new Promise<'late'>((r) => setTimeout(() => r('late'), ms))]);

describe('group commit rounds', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    await cleanup();
  });

  it('a round is not held back by the index upkeep of the round before; close waits for it; indexes are whole', async () => {
    const indexFds = new Set<number>();
    let gate: Promise<void> | undefined;
    let open: (() => void) | undefined;
    let held = 0;
    const io: FsSeam = {
      ...realFs,
      open: async (p, flags, mode) => {
        const fd = await realFs.open(p, flags, mode);
        if (p.endsWith('index')) indexFds.add(fd);
        return fd;
      },
      writev: async (fd, bufs, pos) => {
        if (indexFds.has(fd) && gate) {
          held++;
          await gate;
        }
        return realFs.writev(fd, bufs, pos);
      },
    };
    // An index entry per frame, so every round has index upkeep to do.
    const log = await SegmentLog.open({ dir, io, fsync: true, indexIntervalBytes: 0 });
    gate = new Promise<void>((r) => (open = r));
    expect(await log.append([makeBatch('a')])).toEqual([0]);
    while (held === 0) await new Promise((r) => setImmediate(r));
    // The first round's index write is stuck: the next rounds are acknowledged anyway.
    expect(await within(log.append([makeBatch('b')]), 5000)).toEqual([1]);
    expect(await within(log.append([makeBatch('c')]), 5000)).toEqual([2]);
    let closed = false;
    const closing = log.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    open!();
    await closing;
    const again = await SegmentLog.open({ dir });
    try {
      expect(again.recovery.rebuiltIndexes).toBe(0);
      expect((await again.read(0, 1 << 20)).map((b) => b.baseOffset)).toEqual([0, 1, 2]);
    } finally {
      await again.close();
    }
  });

  it('a round of 1,500 appends (4,500 buffers) is written in runs side by side and reads back whole', async () => {
    const calls: number[] = [];
    const io: FsSeam = { ...realFs, writev: (fd, bufs, pos) => (calls.push(bufs.length), realFs.writev(fd, bufs, pos)) };
    const log = await SegmentLog.open({ dir, io, fsync: true });
    const offsets = await Promise.all(Array.from({ length: 1500 }, (_, i) => log.append([makeBatch(`k${i}`, { payloadBytes: 50 + (i % 7) })])));
    expect(offsets.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 1500 }, (_, i) => i));
    expect(Math.max(...calls)).toBeLessThanOrEqual(1024);
    const read = await log.read(0, 64 << 20);
    expect(read.map((b) => b.baseOffset)).toEqual(Array.from({ length: 1500 }, (_, i) => i));
    await log.close();
    const again = await SegmentLog.open({ dir });
    try {
      expect(again.recovery.truncatedBytes).toBe(0);
      expect(again.nextOffset).toBe(1500);
    } finally {
      await again.close();
    }
  });

  it('when one run of a big round fails, every run has finished before the round is cut back; later appends land cleanly', async () => {
    let runs = 0;
    let inFlight = 0;
    let inFlightAtFail = -1;
    const io: FsSeam = {
      ...realFs,
      writev: async (fd, bufs, pos) => {
        if (bufs.length < 100) return realFs.writev(fd, bufs, pos);
        const n = ++runs;
        inFlight++;
        try {
          await new Promise((r) => setTimeout(r, n === 2 ? 1 : 30));
          if (n === 2) throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
          return await realFs.writev(fd, bufs, pos);
        } finally {
          inFlight--;
        }
      },
      ftruncate: async (fd, len) => {
        inFlightAtFail = inFlight;
        return realFs.ftruncate(fd, len);
      },
    };
    const log = await SegmentLog.open({ dir, io, fsync: true });
    const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => log.append([makeBatch(`f${i}`)])));
    // The round failed as a whole or one by one after the rollback; whatever was acknowledged reads back.
    expect(inFlightAtFail).toBe(0);
    const acked = results.filter((r) => r.status === 'fulfilled').length;
    expect(log.nextOffset).toBe(acked);
    expect(await log.append([makeBatch('after')])).toEqual([acked]);
    await log.close();
    const again = await SegmentLog.open({ dir });
    try {
      expect(again.recovery.truncatedBytes).toBe(0);
      expect(again.nextOffset).toBe(acked + 1);
      const last = (await again.read(acked, 1 << 20))[0]!;
      expect(last.payload.subarray(0, 6).toString()).toBe('after|');
    } finally {
      await again.close();
    }
  });
});
