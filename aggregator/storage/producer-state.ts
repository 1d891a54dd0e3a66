/**
 * The idempotent-producer state of one partition and its snapshot file,
 * `<partition dir>/producers.json`:
 *
 *   {"version": 1, "offset": N, "written": "<ISO time>",
 *    "producers": {"<producer id>": {"epoch": E, "seq": S}, ...}}
 *
 * Invariant: the snapshot holds the state of every batch stored below `offset`
 * (the log offset it covers), and only of durable (fsync'd) batches. On open
 * the state is the snapshot plus a scan of the stored meta from `offset` on,
 * so startup reads only what was written since the snapshot. A snapshot whose
 * offset is past the log's end (the log lost acknowledged data, or was
 * replaced) is ignored and the whole log is scanned.
 *
 * Written atomically (temp file, fsync, rename, fsync dir) through the log's
 * fs seam; only aggregator/storage/partition.ts writes it. A missing, stale or
 * unreadable snapshot is never an error: the log is the truth, the snapshot a
 * shortcut.
 */
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic, type FsSeam } from '../../lib/log/index.js';

export interface ProducerEntry {
  epoch: number;
  seq: number;
}

export type ProducerMap = Map<string, ProducerEntry>;

export interface Snapshot {
  offset: number;
  producers: ProducerMap;
}

export const SNAPSHOT_FILE = 'producers.json';

/** Folds one stored batch's producer fields into `m` (sequences only grow; so do epochs). */
export function applyProducer(m: ProducerMap, producer: string, epoch: number, seq: number): void {
  const cur = m.get(producer);
  if (!cur) m.set(producer, { epoch, seq });
  else m.set(producer, { epoch: Math.max(cur.epoch, epoch), seq: Math.max(cur.seq, seq) });
}

export async function readSnapshot(dir: string, io: FsSeam): Promise<Snapshot | { problem: string } | undefined> {
  let raw: Buffer | undefined;
  try {
    raw = await readFileIfExists(join(dir, SNAPSHOT_FILE), io);
  } catch (err) {
    return { problem: (err as Error).message };
  }
  if (!raw) return undefined;
  try {
    const j = JSON.parse(raw.toString('utf8')) as { version?: unknown; offset?: unknown; producers?: Record<string, { epoch?: unknown; seq?: unknown }> };
    if (j.version !== 1 || !Number.isSafeInteger(j.offset) || (j.offset as number) < 0 || typeof j.producers !== 'object' || j.producers === null) {
      return { problem: 'unknown version or malformed fields' };
    }
    const producers: ProducerMap = new Map();
    for (const [id, e] of Object.entries(j.producers)) {
      if (!Number.isSafeInteger(e?.epoch) || !Number.isSafeInteger(e?.seq)) return { problem: `producer ${id}: malformed entry` };
      producers.set(id, { epoch: e.epoch as number, seq: e.seq as number });
    }
    return { offset: j.offset as number, producers };
  } catch (err) {
    return { problem: `not JSON: ${(err as Error).message}` };
  }
}

export function writeSnapshot(dir: string, snap: Snapshot, io: FsSeam): Promise<void> {
  const producers: Record<string, ProducerEntry> = {};
  for (const [id, e] of snap.producers) producers[id] = { epoch: e.epoch, seq: e.seq };
  return writeFileAtomic(join(dir, SNAPSHOT_FILE), JSON.stringify({ version: 1, offset: snap.offset, written: new Date().toISOString(), producers }), io);
}
