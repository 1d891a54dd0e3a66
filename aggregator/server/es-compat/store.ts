/**
 * Stores JSON documents (from _bulk and produce) through the storage seam's
 * plain append: per partition one append of batches built from runs of
 * records that share host, timestamp and source, so each record keeps its own
 * host and timestamp; acknowledged once the group commit's fsync covers it.
 * Records carrying an _id or Idempotency-Key get their id-store entries after
 * the append is durable and before the caller answers (id-store.ts).
 */
import { toHttpError, type HttpError } from '../http-util.js';
import type { ServerContext } from '../context.js';
import type { PartitionHandle, PlainItem, TopicHandle } from '../../storage/types.js';
import { encodeFramed } from '../../../lib/protocol/records.js';
import { FLAG_FRAMED } from '../../../lib/protocol/codes.js';
import type { Committed, HeldEntry, IdStore } from './id-store.js';

export interface DocRecord {
  topic: string;
  partition: number;
  /** the stored line, without '\n' */
  line: Buffer;
  host: string;
  timestamp: number;
  source: string;
  /** the line carries its own timestamp (readers take it from there): runs need not share one */
  ownTime?: boolean;
  /** idempotence entry to commit once durable */
  held?: { key: string; entry: HeldEntry };
}

export interface StoreOptions {
  /** batch flags: 0 (plain lines) or FLAG_JSON (produce) */
  flags: number;
  /** store each batch's records framed with source bytes 1 and the first record's request index as source offset (produce) */
  indexed?: boolean;
  ids?: IdStore;
  /** largest batch (raw bytes); readers refuse batches above limits.max_decompressed_batch_bytes */
  maxBatchBytes: number;
  /** called once a partition's records have their offsets, before their id entries are committed */
  beforeCommit?: (out: readonly (StoreResult | undefined)[]) => void;
}

export type StoreResult = { offset: number } | { error: HttpError };

export async function storeRecords(ctx: ServerContext, recs: readonly DocRecord[], topics: ReadonlyMap<string, TopicHandle>, o: StoreOptions): Promise<StoreResult[]> {
  // Per partition, records grouped by host (each host's order kept), so runs are long.
  const byHost = new Map<PartitionHandle, Map<string, number[]>>();
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    const p = topics.get(r.topic)!.partitions[r.partition]!;
    let hosts = byHost.get(p);
    if (!hosts) byHost.set(p, (hosts = new Map()));
    const key = o.indexed ? '' : r.host;
    let g = hosts.get(key);
    if (!g) hosts.set(key, (g = []));
    g.push(i);
  }
  const groups = new Map<PartitionHandle, number[]>();
  for (const [p, hosts] of byHost) groups.set(p, hosts.size === 1 ? hosts.values().next().value! : [...hosts.values()].flat());
  const out: StoreResult[] = new Array(recs.length);
  await Promise.all(
    [...groups].map(async ([p, idx]) => {
      const items: PlainItem[] = [];
      const firstOf: number[] = [];
      let s = 0;
      while (s < idx.length) {
        const a = recs[idx[s]!]!;
        let e = s + 1;
        let bytes = a.line.length + 1;
        while (e < idx.length) {
          const b = recs[idx[e]!]!;
          if (b.host !== a.host || (b.timestamp !== a.timestamp && !(a.ownTime && b.ownTime)) || b.source !== a.source || (o.indexed && idx[e]! !== idx[e - 1]! + 1)) break;
          if (bytes + b.line.length + 1 > o.maxBatchBytes) break;
          bytes += b.line.length + 1;
          e++;
        }
        let payload: Buffer;
        if (o.indexed) {
          payload = encodeFramed(idx.slice(s, e).map((i) => ({ message: recs[i]!.line, sourceBytes: 1, flags: 0 })));
        } else {
          const parts: Buffer[] = [];
          for (let k = s; k < e; k++) parts.push(recs[idx[k]!]!.line, NL);
          payload = Buffer.concat(parts, bytes);
        }
        items.push({
          meta: { flags: o.flags | (o.indexed ? FLAG_FRAMED : 0), codec: 0, host: a.host, source: a.source, sourceOffset: o.indexed ? idx[s]! : 0, rawLength: payload.length },
          payload,
          lines: e - s,
          timestamp: a.timestamp,
        });
        firstOf.push(s);
        s = e;
      }
      const held: Committed[] = [];
      for (const i of idx) if (recs[i]!.held) held.push(recs[i]!.held!);
      const offsets = await appendDurable(ctx, p, items, held, o.ids, () => o.beforeCommit?.(out), (offsets) => {
        for (let b = 0; b < items.length; b++) {
          const end = b + 1 < firstOf.length ? firstOf[b + 1]! : idx.length;
          for (let k = firstOf[b]!; k < end; k++) out[idx[k]!] = { offset: offsets[b]! + (k - firstOf[b]!) };
        }
      });
      if (!Array.isArray(offsets)) for (const i of idx) out[i] = { error: offsets };
    }),
  );
  return out;
}

const NL = Buffer.from('\n');

/**
 * Appends one partition's batches and waits for the fsync that covers them;
 * then `placed` gets their offsets, `beforeCommit` runs, and the id entries
 * of `held` (records now durable) are committed to the idempotence window.
 * A failure is logged and returned (the caller answers item errors).
 */
export async function appendDurable(ctx: ServerContext, p: PartitionHandle, items: PlainItem[], held: readonly Committed[], ids: IdStore | undefined, beforeCommit: () => void, placed: (offsets: number[]) => void): Promise<number[] | HttpError> {
  const withIds = ids !== undefined && held.length > 0;
  const token = withIds ? ids.begin(p.topic, p.partition, p.nextOffset) : 0;
  try {
    const offsets = await p.appendPlain(items);
    placed(offsets);
    let lines = 0;
    let bytes = 0;
    for (const it of items) {
      lines += it.lines;
      bytes += it.payload.length;
    }
    ctx.metrics.appendedBatches.inc({ topic: p.topic }, items.length);
    ctx.metrics.appendedRecords.inc({ topic: p.topic }, lines);
    ctx.metrics.appendedBytes.inc({ topic: p.topic }, bytes);
    beforeCommit();
    if (withIds) ids.commit(p.topic, p.partition, token, p.nextOffset, held);
    return offsets;
  } catch (err) {
    if (withIds) ids.commit(p.topic, p.partition, token, p.nextOffset, []);
    const e = toHttpError(err);
    ctx.logger.warn({ topic: p.topic, partition: p.partition, reason: e.reason }, 'storing JSON documents failed; they are answered as item errors');
    return e;
  }
}
