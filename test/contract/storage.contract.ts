/**
 * The storage contract: what every aggregator storage backend (local today,
 * JetStream later) must do, written against aggregator/storage/types.ts only.
 * A backend's test file calls storageContract(name, factory); nothing here
 * knows which backend runs.
 *
 * The factory gets a fresh directory per test (a disk backend stores there; a
 * networked one may use it for a unique stream prefix) and the settings every
 * topic gets. Calling it again with the same directory must reach the same
 * stored data: that is how restart recovery is tested.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestItem, PlainItem, Storage, TopicSettings } from '../../aggregator/storage/types.js';
import { tempDir } from '../helpers/procs.js';

export type StorageFactory = (opts: { dir: string; settings: TopicSettings }) => Storage | Promise<Storage>;

const DAY = 86_400_000;
export const CONTRACT_SETTINGS: TopicSettings = { partitions: 2, retention: 7 * DAY, retention_bytes: 2 ** 40, segment_bytes: 4096, segment_ms: DAY };

function item(producer: string, epoch: number, seq: number, lines = 1, text = `p${producer} s${seq}`, timestamp = 1_700_000_000_000 + seq): IngestItem {
  const payload = Buffer.from(Array.from({ length: lines }, (_, i) => `${text} l${i}\n`).join(''));
  return { meta: { flags: 0, codec: 0, host: 'h', source: '/s.log', sourceOffset: seq * 1000, producer, epoch, seq, rawLength: payload.length }, payload, lines, timestamp };
}

function plain(text: string, timestamp = Date.now()): PlainItem {
  const payload = Buffer.from(`${text}\n`);
  return { meta: { flags: 0, codec: 0, host: 'bulk', source: 'bulk', sourceOffset: 0, rawLength: payload.length }, payload, lines: 1, timestamp };
}

export function storageContract(name: string, factory: StorageFactory): void {
  describe(`storage contract: ${name}`, () => {
    const open: Storage[] = [];
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
      for (const c of cleanups.splice(0)) await c();
    });

    async function fresh(settings: Partial<TopicSettings> = {}): Promise<{ dir: string; start: () => Promise<Storage> }> {
      const t = await tempDir('logship-storage-contract-');
      cleanups.push(t.cleanup);
      const start = async () => {
        const s = await factory({ dir: t.dir, settings: { ...CONTRACT_SETTINGS, ...settings } });
        open.push(s);
        await s.open();
        return s;
      };
      return { dir: t.dir, start };
    }

    it('creates, lists and finds topics; refuses bad names; an unknown topic is not created by a read', async () => {
      const s = await (await fresh()).start();
      expect(s.names()).toEqual([]);
      expect(await s.acquire('nope', false)).toBeUndefined();
      expect(s.has('nope')).toBe(false);
      const t = (await s.acquire('app', true))!;
      expect(t.name).toBe('app');
      expect(t.partitions.map((p) => p.partition)).toEqual([0, 1]);
      expect(t.partitions.every((p) => p.firstOffset === 0 && p.nextOffset === 0)).toBe(true);
      s.release('app');
      await s.withTopic('b.2-x_y', true, () => undefined);
      expect(s.names()).toEqual(['app', 'b.2-x_y']);
      expect(s.count()).toBe(2);
      expect(s.has('app')).toBe(true);
      expect(s.stats('app')).toEqual([0, 1].map((partition) => ({ partition, first_offset: 0, next_offset: 0, bytes: 0 })));
      for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(201), 'sp ace']) await expect(s.acquire(bad, true)).rejects.toThrow();
      expect(s.count()).toBe(2);
    });

    it('keeps order; offsets count records, not batches; reads start at the batch holding the offset', async () => {
      const s = await (await fresh()).start();
      await s.withTopic('app', true, async (t) => {
        const p = t!.partitions[1]!;
        expect(await p.append([item('a', 1, 0, 2), item('a', 1, 1, 1), item('a', 1, 2, 3)])).toEqual([
          { offset: 0, duplicate: false },
          { offset: 2, duplicate: false },
          { offset: 3, duplicate: false },
        ]);
        expect(p.nextOffset).toBe(6);
        expect(p.bytes).toBeGreaterThan(0);
        expect(t!.partitions[0]!.nextOffset).toBe(0);
        const all = await p.read(0, 1 << 20);
        expect(all.map((b) => [b.baseOffset, b.count])).toEqual([[0, 2], [2, 1], [3, 3]]);
        expect(all[2]!.payload.toString()).toBe('pa s2 l0\npa s2 l1\npa s2 l2\n');
        expect(all.map((b) => b.timestamp)).toEqual([0, 1, 2].map((i) => 1_700_000_000_000 + i));
        expect((await p.read(4, 1 << 20)).map((b) => b.baseOffset)).toEqual([3]);
        expect((await p.read(1, 1)).map((b) => b.baseOffset)).toEqual([0]); // at least one batch
        expect(await p.read(6, 1 << 20)).toEqual([]);
        await expect(p.read(7, 1 << 20)).rejects.toMatchObject({ code: 'LSH_ERR_OFFSET_OUT_OF_RANGE' });
        expect(await p.offsetForTimestamp(1_700_000_000_001)).toBe(2);
        expect(await p.offsetForTimestamp(0)).toBe(0);
        expect(await p.offsetForTimestamp(1_800_000_000_000)).toBe(6);
      });
    });

    it('idempotent append: a re-sent sequence is a duplicate (also concurrently); a stale epoch is fenced', async () => {
      const s = await (await fresh()).start();
      const t = (await s.acquire('app', true))!;
      const p = t.partitions[0]!;
      await p.append([item('a', 1, 0), item('a', 1, 1)]);
      expect(await p.append([item('a', 1, 1), item('a', 1, 2)])).toEqual([
        { offset: -1, duplicate: true },
        { offset: 2, duplicate: false },
      ]);
      const again = await Promise.all([p.append([item('a', 1, 3)]), p.append([item('a', 1, 3)])]);
      expect(again.flat().filter((r) => !r.duplicate)).toHaveLength(1);
      expect(p.lastSeq('a')).toBe(3);
      expect(p.lastSeq('other')).toBe(-1);
      // A new incarnation fences the old one, even when it only re-sends what is stored.
      expect(await p.append([item('a', 2, 3)])).toEqual([{ offset: -1, duplicate: true }]);
      await expect(p.append([item('a', 1, 4)])).rejects.toMatchObject({ code: 'LSH_ERR_SEQUENCE' });
      // Producers are independent.
      expect(await p.append([item('b', 1, 0)])).toEqual([{ offset: 4, duplicate: false }]);
      expect(p.nextOffset).toBe(5);
      s.release('app');
    });

    it('plain append stores every batch (no dedup) and leaves producer state alone', async () => {
      const s = await (await fresh()).start();
      await s.withTopic('bulk', true, async (t) => {
        const p = t!.partitions[0]!;
        await p.append([item('a', 1, 7)]);
        expect(await p.appendPlain([plain('x'), plain('x')])).toEqual([1, 2]);
        expect(await p.appendPlain([plain('y')])).toEqual([3]);
        expect(await p.appendPlain([])).toEqual([]);
        expect(p.lastSeq('a')).toBe(7);
        expect(await p.append([item('a', 1, 7)])).toEqual([{ offset: -1, duplicate: true }]);
        expect((await p.read(1, 1 << 20)).map((b) => b.payload.toString())).toEqual(['x\n', 'x\n', 'y\n']);
      });
    });

    it('long-poll: waitForData wakes on append, times out with false, stops on abort and on close', async () => {
      const s = await (await fresh()).start();
      const t = (await s.acquire('app', true))!;
      const p = t.partitions[0]!;
      const waiting = p.waitForData(0, 30_000);
      await p.append([item('a', 1, 0)]);
      expect(await waiting).toBe(true);
      expect(await p.waitForData(0, 30_000)).toBe(true); // data already there
      expect(await p.waitForData(1, 1)).toBe(false);
      const ac = new AbortController();
      const aborted = p.waitForData(1, 30_000, ac.signal);
      ac.abort();
      expect(await aborted).toBe(false);
      const atClose = p.waitForData(1, 30_000);
      s.release('app');
      await s.close();
      expect(await atClose).toBe(false);
    });

    it('retention deletes from the front only: next_offset stays, first_offset moves, reads below it are out of range', async () => {
      const s = await (await fresh({ partitions: 1, retention_bytes: 4096, segment_bytes: 1024 })).start();
      await s.withTopic('app', true, async (t) => {
        const p = t!.partitions[0]!;
        for (let i = 0; i < 60; i++) await p.append([item('a', 1, i, 1, `record ${i} ${'x'.repeat(60)}`)]);
        expect(p.nextOffset).toBe(60);
      });
      const r = await s.applyRetention();
      expect(r.segmentsDeleted).toBeGreaterThan(0);
      expect(r.bytesDeleted).toBeGreaterThan(0);
      await s.withTopic('app', false, async (t) => {
        const p = t!.partitions[0]!;
        expect(p.nextOffset).toBe(60);
        expect(p.firstOffset).toBeGreaterThan(0);
        expect(p.firstOffset).toBeLessThan(60); // what is being written to is never deleted
        expect(r.partitions).toEqual([expect.objectContaining({ topic: 'app', partition: 0, first_offset: p.firstOffset })]);
        await expect(p.read(p.firstOffset - 1, 1 << 20)).rejects.toMatchObject({ code: 'LSH_ERR_OFFSET_OUT_OF_RANGE' });
        const first = await p.read(p.firstOffset, 1 << 20);
        expect(first[0]!.baseOffset).toBe(p.firstOffset);
        expect(first[0]!.payload.toString()).toContain(`record ${p.firstOffset} `);
        // Deleting again is a no-op until more is written; appends continue at next_offset.
        const before = p.firstOffset;
        expect((await s.applyRetention()).segmentsDeleted).toBe(0);
        expect(p.firstOffset).toBe(before);
        expect(await p.append([item('a', 1, 60)])).toEqual([{ offset: 60, duplicate: false }]);
        // Producer state survives retention of the batches that built it.
        expect(await p.append([item('a', 1, 0)])).toEqual([{ offset: -1, duplicate: true }]);
      });
    });

    it('restart: data, offsets, partition count and producer state come back', async () => {
      const f = await fresh();
      let s = await f.start();
      await s.withTopic('app', true, async (t) => {
        await t!.partitions[0]!.append([item('a', 3, 0, 2), item('a', 3, 1)]);
        await t!.partitions[1]!.appendPlain([plain('bulk')]);
      });
      await s.close();
      // A changed partition setting does not re-partition a stored topic.
      s = await (async () => {
        const again = await factory({ dir: f.dir, settings: { ...CONTRACT_SETTINGS, partitions: 5 } });
        open.push(again);
        await again.open();
        return again;
      })();
      expect(s.names()).toEqual(['app']);
      await s.withTopic('app', false, async (t) => {
        expect(t!.partitions).toHaveLength(2);
        const p = t!.partitions[0]!;
        expect([p.firstOffset, p.nextOffset]).toEqual([0, 3]);
        expect(await p.append([item('a', 3, 1)])).toEqual([{ offset: -1, duplicate: true }]);
        await expect(p.append([item('a', 2, 2)])).rejects.toMatchObject({ code: 'LSH_ERR_SEQUENCE' });
        expect(await p.append([item('a', 3, 2)])).toEqual([{ offset: 3, duplicate: false }]);
        expect((await t!.partitions[1]!.read(0, 1 << 20)).map((b) => b.payload.toString())).toEqual(['bulk\n']);
      });
      expect(s.stats('app')!.map((x) => x.next_offset)).toEqual([4, 1]);
    });
  });
}
