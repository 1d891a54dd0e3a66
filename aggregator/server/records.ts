/** GET /v1/topics/{t}/partitions/{p}/records?offset=&max_bytes=&wait_ms=&since= : fetch with long-poll. */
import type { ServerResponse } from 'node:http';
import { decompressSync } from '../../lib/codec/zstd-pool.js';
import { CODEC_ZSTD, FLAG_METRICS } from '../../lib/protocol/batches.js';
import { iterateRecords } from '../../lib/protocol/records.js';
import { decodeStoredMeta } from '../storage/stored-meta.js';
import type { Partition } from '../storage/partition.js';
import { HttpError, intParam, sendJson } from './http-util.js';
import type { ServerContext } from './context.js';

export interface RecordJson {
  offset: number;
  timestamp: string;
  host: string;
  source: string;
  source_offset: number;
  message: string;
  /** host-metric records: the samples; message is then empty */
  metrics?: unknown[];
  /** set on the parts of a line longer than max_line_bytes (1) and on a line flushed without newline (2) */
  flags?: number;
}

const MAX_WAIT_MS = 30_000;

export async function resolvePartition(ctx: ServerContext, topicName: string, partition: string): Promise<Partition> {
  const topic = ctx.storage.get(topicName);
  if (!topic) throw new HttpError(404, 'not_found', `no topic "${topicName}"`);
  const n = Number(partition);
  if (!Number.isInteger(n) || n < 0 || n >= topic.partitions.length) {
    throw new HttpError(404, 'not_found', `topic "${topicName}" has partitions 0..${topic.partitions.length - 1}, not "${partition}"`);
  }
  return topic.partitions[n]!;
}

export async function handleRecords(ctx: ServerContext, url: URL, res: ServerResponse, topicName: string, partition: string, signal: AbortSignal): Promise<void> {
  const p = await resolvePartition(ctx, topicName, partition);
  const maxBytes = Math.min(intParam(url, 'max_bytes', 1 << 20, 1), 64 << 20);
  const waitMs = Math.min(intParam(url, 'wait_ms', 0), MAX_WAIT_MS);
  let offset: number;
  const since = url.searchParams.get('since');
  if (since !== null) {
    const ts = /^\d+$/.test(since) ? Number(since) : Date.parse(since);
    if (!Number.isFinite(ts)) throw new HttpError(400, 'bad_request', `since must be ms since epoch or an ISO 8601 time, got "${since}"`);
    offset = await p.log.offsetForTimestamp(ts);
  } else {
    offset = intParam(url, 'offset', p.log.firstOffset);
  }
  if (offset === p.log.nextOffset && waitMs > 0) await p.log.waitForData(offset, waitMs, signal);
  const records = await readRecords(p, offset, maxBytes);
  const next = records.length ? records[records.length - 1]!.offset + 1 : offset;
  sendJson(res, 200, {
    topic: topicName,
    partition: p.partition,
    first_offset: p.log.firstOffset,
    high_watermark: p.log.nextOffset,
    next_offset: next,
    records,
  });
}

/** Decodes stored batches into records starting exactly at `offset`, about maxBytes of messages. */
export async function readRecords(p: Partition, offset: number, maxBytes: number): Promise<RecordJson[]> {
  const batches = await p.log.read(offset, maxBytes);
  const out: RecordJson[] = [];
  let bytes = 0;
  for (const b of batches) {
    const meta = decodeStoredMeta(b.meta);
    const raw = meta.codec === CODEC_ZSTD ? decompressSync(b.payload) : b.payload;
    const ts = new Date(b.timestamp).toISOString();
    let o = b.baseOffset;
    for (const r of iterateRecords(raw, meta.flags, meta.sourceOffset)) {
      if (o >= offset) {
        const rec: RecordJson = { offset: o, timestamp: ts, host: meta.host, source: meta.source, source_offset: r.sourceOffset, message: r.message.toString('utf8') };
        if (meta.flags & FLAG_METRICS) {
          try {
            rec.metrics = (JSON.parse(rec.message) as { metrics: unknown[] }).metrics;
            rec.message = '';
          } catch {
            /* keep the raw text: better than losing the record */
          }
        }
        if (r.flags) rec.flags = r.flags;
        out.push(rec);
        bytes += r.message.length + 64;
      }
      o++;
    }
    if (bytes >= maxBytes) break;
  }
  return out;
}
