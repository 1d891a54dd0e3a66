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
import type { FsSeam } from '../../lib/log/index.js';
import { readStateFile, writeStateFile, type StateKind } from '../../lib/state/state-file.js';

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
  else {
    // In place: every map holds entries of its own (clone() copies), and this runs per stored batch.
    cur.epoch = Math.max(cur.epoch, epoch);
    cur.seq = Math.max(cur.seq, seq);
  }
}

/** producers.json through lib/state/state-file.ts: versioned, size-capped, every field checked. */
const SNAPSHOT_KIND: StateKind<Snapshot> = {
  what: 'producer state snapshot',
  version: 1,
  remedy: 'nothing: the snapshot is a shortcut, the producer state is rebuilt from the log (delete the file to stop this warning)',
  decode(v, at) {
    const offset = at.int(v.offset, 'offset');
    const given = at.obj(v.producers, 'producers');
    const producers: ProducerMap = new Map();
    for (const id of Object.keys(given)) {
      const e = at.obj(given[id], `producers.${JSON.stringify(id.slice(0, 100))}`);
      producers.set(id, { epoch: at.int(e.epoch, `producers.${JSON.stringify(id.slice(0, 100))}.epoch`, 0, 0xffffffff), seq: at.int(e.seq, `producers.${JSON.stringify(id.slice(0, 100))}.seq`, -1) });
    }
    return { offset, producers };
  },
};

/** The snapshot, undefined when there is none, or the problem with it (never thrown: the log is the truth). */
export async function readSnapshot(dir: string, io: FsSeam): Promise<Snapshot | { problem: string } | undefined> {
  try {
    return await readStateFile(join(dir, SNAPSHOT_FILE), SNAPSHOT_KIND, io);
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

export function writeSnapshot(dir: string, snap: Snapshot, io: FsSeam): Promise<void> {
  const producers: Record<string, ProducerEntry> = Object.create(null) as Record<string, ProducerEntry>;
  for (const [id, e] of snap.producers) producers[id] = { epoch: e.epoch, seq: e.seq };
  return writeStateFile(join(dir, SNAPSHOT_FILE), SNAPSHOT_KIND, { offset: snap.offset, written: new Date().toISOString(), producers }, io);
}
