/**
 * Producer-state snapshots of JetStream partitions, in the KV bucket
 * `<prefix>-producers`, key = the partition's stream name:
 *
 *   {"version": 1, "seq": S, "next": N, "max_ts": T,
 *    "producers": {"<producer id>": {"epoch": E, "seq": Q}, ...}}
 *
 * Invariant: the state of every message of the stream up to sequence S (whose
 * records end at offset N). A partition opens from the snapshot and folds the
 * headers of the messages after S, so opening reads only what came since, and
 * producer state outlives the retention of the messages that built it (when a
 * snapshot was taken before they aged out). The stream is the truth: a
 * snapshot ahead of it is ignored, a damaged one is logged and ignored.
 * Written every `intervalMs` when the state changed, and at close.
 */
import type { KV } from 'nats';
import type { Logger } from '../../../lib/obs/logger.js';
import type { ProducerMap } from '../producer-state.js';

export interface ProducerSnapshot {
  seq: number;
  next: number;
  maxTs: number;
  producers: ProducerMap;
}

const MAX_BYTES = 8 << 20;

export function encodeSnapshot(s: ProducerSnapshot): Uint8Array {
  const producers = Object.create(null) as Record<string, { epoch: number; seq: number }>;
  for (const [id, e] of s.producers) producers[id] = { epoch: e.epoch, seq: e.seq };
  return Buffer.from(JSON.stringify({ version: 1, seq: s.seq, next: s.next, max_ts: s.maxTs, producers }));
}

/** The snapshot, or a problem string (never thrown: the stream is the truth). */
export function decodeSnapshot(b: Uint8Array): ProducerSnapshot | string {
  if (b.length > MAX_BYTES) return `snapshot is ${b.length} bytes, more than ${MAX_BYTES}`;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(b).toString('utf8'));
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.version !== 1) return 'not a version 1 snapshot';
  const int = (x: unknown, min: number) => Number.isSafeInteger(x) && (x as number) >= min;
  if (!int(o.seq, 0) || !int(o.next, 0) || !int(o.max_ts, Number.MIN_SAFE_INTEGER)) return 'seq, next or max_ts is not an integer';
  const given = o.producers;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return 'producers is not an object';
  const producers: ProducerMap = new Map();
  for (const id of Object.keys(given)) {
    const e = (given as Record<string, unknown>)[id] as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || !int(e.epoch, 0) || !int(e.seq, -1)) return `producer ${JSON.stringify(id.slice(0, 100))} has no integer epoch/seq`;
    producers.set(id, { epoch: e.epoch as number, seq: e.seq as number });
  }
  return { seq: o.seq as number, next: o.next as number, maxTs: o.max_ts as number, producers };
}

export async function readSnapshot(kv: KV, key: string, logger: Logger): Promise<ProducerSnapshot | undefined> {
  const e = await kv.get(key);
  if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
  const s = decodeSnapshot(e.value);
  if (typeof s === 'string') {
    logger.warn({ key, problem: s }, 'producer snapshot unusable; rebuilding producer state from the stream');
    return undefined;
  }
  return s;
}
