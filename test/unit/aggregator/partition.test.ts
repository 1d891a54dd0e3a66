/**
 * Partition: idempotent ingest, epoch fencing, the producer snapshot (startup
 * scans only what follows it) and append failures through the fs seam.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Partition, type IngestItem } from '../../../aggregator/storage/partition.js';
import { realFs, type FsSeam } from '../../../lib/log/index.js';
import { isDiskFull } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/obs/logger.js';
import { tempDir } from '../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function dir(): Promise<string> {
  const t = await tempDir('logship-partition-');
  cleanups.push(t.cleanup);
  return t.dir;
}

function item(producer: string, epoch: number, seq: number, text = `line ${seq}`): IngestItem {
  const payload = Buffer.from(text + '\n');
  return {
    meta: { flags: 0, codec: 0, host: 'h', source: '/s.log', sourceOffset: seq * 100, producer, epoch, seq, rawLength: payload.length },
    payload,
    lines: 1,
    timestamp: 1_700_000_000_000 + seq,
  };
}

function open(d: string, extra: Partial<Parameters<typeof Partition.open>[0]> = {}): Promise<Partition> {
  return Partition.open({ dir: d, topic: 't', partition: 0, segmentBytes: 1024, segmentMs: 86_400_000, fsync: true, logger: silentLogger(), ...extra });
}

describe('Partition', () => {
  it('stores a batch once, acknowledges a re-send as a duplicate and fences a stale epoch', async () => {
    const p = await open(await dir());
    expect(await p.ingest([item('a', 1, 0), item('a', 1, 1)])).toEqual([
      { offset: 0, duplicate: false },
      { offset: 1, duplicate: false },
    ]);
    expect(await p.ingest([item('a', 1, 1), item('a', 1, 2)])).toEqual([
      { offset: -1, duplicate: true },
      { offset: 2, duplicate: false },
    ]);
    // a restarted agent (higher epoch) re-sends: still a duplicate
    expect(await p.ingest([item('a', 2, 2)])).toEqual([{ offset: -1, duplicate: true }]);
    await expect(p.ingest([item('a', 1, 3)])).rejects.toMatchObject({ code: 'LSH_ERR_SEQUENCE', message: expect.stringMatching(/epoch 1 is stale: epoch 2/) });
    expect(p.log.nextOffset).toBe(3);
    await p.close();
  });

  it('concurrent retries of one batch store it once', async () => {
    const p = await open(await dir());
    const r = await Promise.all([p.ingest([item('a', 1, 5)]), p.ingest([item('a', 1, 5)]), p.ingest([item('a', 1, 5)])]);
    expect(r.flat().filter((x) => !x.duplicate)).toHaveLength(1);
    expect(p.log.nextOffset).toBe(1);
    await p.close();
  });

  it('snapshots producer state at rolls and close; open scans only after the snapshot', async () => {
    const d = await dir();
    const p = await open(d);
    for (let i = 0; i < 60; i++) await p.ingest([item(`prod-${i % 3}`, 1, i, `line ${i} ${'x'.repeat(40)}`)]);
    expect(p.log.segmentCount).toBeGreaterThan(2);
    await p.snapshot();
    // A crash now: copy the directory as it is (everything acknowledged is on disk).
    const crashed = await dir();
    await cp(d, crashed, { recursive: true });
    const snap = JSON.parse(await readFile(join(crashed, 'producers.json'), 'utf8')) as { offset: number };
    expect(snap.offset).toBeGreaterThan(0);
    expect(snap.offset).toBeLessThanOrEqual(60);
    await p.close();
    const closed = JSON.parse(await readFile(join(d, 'producers.json'), 'utf8')) as { offset: number; producers: Record<string, { seq: number }> };
    expect(closed.offset).toBe(60);
    expect(closed.producers['prod-2']!.seq).toBe(59);

    const q = await open(d);
    expect(q.producerLoad).toEqual({ snapshotOffset: 60, scannedFrom: 60, scannedBatches: 0 });
    expect(q.lastSeq('prod-0')).toBe(57);
    expect(await q.ingest([item('prod-0', 1, 57)])).toEqual([{ offset: -1, duplicate: true }]);
    await q.close();

    const c = await open(crashed);
    expect(c.producerLoad.snapshotOffset).toBe(snap.offset);
    expect(c.producerLoad.scannedBatches).toBe(60 - snap.offset);
    expect([c.lastSeq('prod-0'), c.lastSeq('prod-1'), c.lastSeq('prod-2')]).toEqual([57, 58, 59]);
    await c.close();
  });

  it('ignores a snapshot that is ahead of the log or unreadable and scans everything', async () => {
    const d = await dir();
    const p = await open(d);
    for (let i = 0; i < 5; i++) await p.ingest([item('a', 1, i)]);
    await p.close();
    await writeFile(join(d, 'producers.json'), JSON.stringify({ version: 1, offset: 999, producers: { a: { epoch: 1, seq: 999 } } }));
    const q = await open(d);
    expect(q.producerLoad).toEqual({ snapshotOffset: undefined, scannedFrom: 0, scannedBatches: 5 });
    expect(q.lastSeq('a')).toBe(4);
    await q.close();
    await writeFile(join(d, 'producers.json'), '{"version": 1, "offs');
    const r = await open(d);
    expect(r.producerLoad.scannedBatches).toBe(5);
    expect(r.lastSeq('a')).toBe(4);
    await r.close();
  });

  it('keeps producer state across retention (the snapshot remembers what deleted segments held)', async () => {
    const d = await dir();
    const p = await open(d);
    for (let i = 0; i < 40; i++) await p.ingest([item(i < 20 ? 'old' : 'new', 1, i, `line ${i} ${'y'.repeat(60)}`)]);
    const r = await p.log.applyRetention({ maxBytes: 1 });
    expect(r.segmentsDeleted).toBeGreaterThan(0);
    await p.close();
    const q = await open(d);
    expect(q.log.firstOffset).toBeGreaterThan(20);
    expect(q.lastSeq('old')).toBe(19);
    expect(await q.ingest([item('old', 1, 10)])).toEqual([{ offset: -1, duplicate: true }]);
    await q.close();
  });

  it('a failed append (ENOSPC) stores nothing, is not acknowledged, and the retry lands once when space returns', async () => {
    let full = false;
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const io: FsSeam = {
      ...realFs,
      writev: (fd, bufs, pos) => (full ? Promise.reject(enospc()) : realFs.writev(fd, bufs, pos)),
      open: (path, flags, mode) => (full && flags !== 'r' ? Promise.reject(enospc()) : realFs.open(path, flags, mode)),
    };
    const d = await dir();
    const p = await open(d, { io });
    await p.ingest([item('a', 1, 0), item('a', 1, 1)]);
    full = true;
    const err = await p.ingest([item('a', 1, 2)]).catch((e: unknown) => e);
    expect(isDiskFull(err)).toBe(true);
    // the retry while still full is refused again, not taken as a duplicate
    expect(isDiskFull(await p.ingest([item('a', 1, 2)]).catch((e: unknown) => e))).toBe(true);
    expect(p.log.nextOffset).toBe(2);
    full = false;
    expect(await p.ingest([item('a', 1, 2)])).toEqual([{ offset: 2, duplicate: false }]);
    expect(await p.ingest([item('a', 1, 2)])).toEqual([{ offset: -1, duplicate: true }]);
    const batches = await p.log.read(0, 1 << 20);
    expect(batches.map((b) => b.payload.toString())).toEqual(['line 0\n', 'line 1\n', 'line 2\n']);
    await p.close();
  });
});
