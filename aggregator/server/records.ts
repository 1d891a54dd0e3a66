/**
 * GET /v1/topics/{t}/partitions/{p}/records?offset=&max_bytes=&wait_ms=&since= : fetch with long-poll.
 *
 * Stored bytes are untrusted: batches are inflated and split on the payload
 * workers, bounded by their declared raw length, and a batch whose payload
 * disagrees with its stored header is skipped (logged, counted), never a
 * crash. max_bytes holds inside a batch (a big batch is served across
 * several responses), and the response is serialized in slices so no request
 * keeps the event loop for long.
 */
import type { ServerResponse } from 'node:http';
import { FLAG_METRICS } from '../../lib/protocol/batches.js';
import { timestampProblem } from '../../lib/protocol/payload.js';
import { FLAG_JSON, mergeJsonRecord } from '../../lib/protocol/json-records.js';
import type { StoredInput } from '../../lib/protocol/payload-jobs.js';
import { decodeStoredMeta, type StoredMeta } from '../storage/stored-meta.js';
import type { PartitionHandle, TopicHandle } from '../storage/types.js';
import { HttpError, intParam, parseDecimal } from './http-util.js';
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
/** Reads past skipped (unusable) batches within one request before answering with no records. */
const SKIP_READS = 16;
/** Records serialized per event-loop turn. */
const SLICE = 2_000;

export function resolvePartition(topic: TopicHandle | undefined, topicName: string, partition: string): PartitionHandle {
  if (!topic) throw new HttpError(404, 'not_found', `no topic "${topicName.slice(0, 220)}"`);
  const n = parseDecimal(partition);
  if (n === undefined || n >= topic.partitions.length) {
    throw new HttpError(404, 'not_found', `topic "${topicName}" has partitions 0..${topic.partitions.length - 1} (decimal), not "${partition.slice(0, 40)}"`);
  }
  return topic.partitions[n]!;
}

export async function handleRecords(ctx: ServerContext, url: URL, res: ServerResponse, topicName: string, partition: string, signal: AbortSignal): Promise<void> {
  // Held open (never evicted) for the whole request, long-poll included.
  await ctx.storage.withTopic(topicName, false, (t) => serveRecords(ctx, url, res, topicName, resolvePartition(t, topicName, partition), signal));
}

async function serveRecords(ctx: ServerContext, url: URL, res: ServerResponse, topicName: string, p: PartitionHandle, signal: AbortSignal): Promise<void> {
  const maxBytes = Math.min(intParam(url, 'max_bytes', 1 << 20, 1), 64 << 20);
  const waitMs = Math.min(intParam(url, 'wait_ms', 0), MAX_WAIT_MS);
  let offset: number;
  const since = url.searchParams.get('since');
  if (since !== null) {
    const ts = /^\d{1,16}$/.test(since) ? Number(since) : /^\d{4}-\d\d-\d\d/.test(since) ? Date.parse(since) : NaN;
    if (!Number.isFinite(ts)) throw new HttpError(400, 'bad_request', `since must be ms since epoch or an ISO 8601 time, got "${since.slice(0, 60)}"`);
    offset = await p.offsetForTimestamp(ts);
  } else {
    offset = intParam(url, 'offset', p.firstOffset);
  }
  if (offset === p.nextOffset && waitMs > 0) await p.waitForData(offset, waitMs, signal);
  let { records, next } = await readRecords(ctx, p, offset, maxBytes);
  // Only skipped batches so far: read on (bounded), so an empty page means the end of the log.
  for (let i = 0; records.length === 0 && next > offset && next < p.nextOffset && i < SKIP_READS; i++) {
    offset = next;
    ({ records, next } = await readRecords(ctx, p, offset, maxBytes));
  }
  const head = JSON.stringify({ topic: topicName, partition: p.partition, first_offset: p.firstOffset, high_watermark: p.nextOffset, next_offset: next });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write(`${head.slice(0, -1)},"records":[`);
  for (let i = 0; i < records.length; i += SLICE) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    if (res.destroyed) return;
    const part = records.slice(i, i + SLICE).map((r) => JSON.stringify(r)).join(',');
    res.write(i > 0 ? `,${part}` : part);
  }
  res.end(']}');
}

/**
 * Records starting exactly at `offset`, about maxBytes of messages (at least
 * one when there is one); `next` is where the following read starts.
 */
export async function readRecords(ctx: ServerContext, p: PartitionHandle, offset: number, maxBytes: number): Promise<{ records: RecordJson[]; next: number }> {
  const batches = await p.read(offset, maxBytes);
  const metas = new Map<number, StoredMeta>();
  const inputs: StoredInput[] = [];
  /** batches whose stored metadata is unusable: [first offset, end) */
  const bad: Array<[number, number]> = [];
  for (const b of batches) {
    let meta: StoredMeta;
    try {
      meta = decodeStoredMeta(b.meta);
      const bad = timestampProblem(b.timestamp);
      if (bad) throw new Error(`stored ${bad}`);
    } catch (err) {
      skipped(ctx, p, b.baseOffset, b.count, (err as Error).message);
      bad.push([b.baseOffset, b.baseOffset + b.count]);
      continue;
    }
    metas.set(b.baseOffset, meta);
    inputs.push({ payload: b.payload, codec: meta.codec, flags: meta.flags, rawLength: meta.rawLength, lines: b.count, baseOffset: b.baseOffset, sourceOffset: meta.sourceOffset });
  }
  const past = (n: number) => {
    // A skipped batch the read has reached is stepped over; one beyond what was returned is not.
    for (const [start, end] of bad) if (start <= n) n = Math.max(n, end);
    return n;
  };
  if (inputs.length === 0) return { records: [], next: past(offset) };
  const timestamps = new Map(batches.map((b) => [b.baseOffset, b.timestamp]));
  const r = await ctx.payloads.records({ batches: inputs, from: offset, maxBytes, maxRaw: ctx.limits.maxDecompressedBatchBytes });
  for (const s of r.skipped) skipped(ctx, p, s.baseOffset, s.lines, s.reason);
  const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  const records: RecordJson[] = [];
  // Batches in offset order: walk them beside the records to find each record's batch.
  let bi = 0;
  let pos = 0;
  for (let k = 0; k < r.meta.length; k += 4) {
    const o = r.meta[k]!;
    while (bi + 1 < inputs.length && inputs[bi + 1]!.baseOffset <= o) bi++;
    const inp = inputs[bi]!;
    const meta = metas.get(inp.baseOffset)!;
    const len = r.meta[k + 2]!;
    const message = data.toString('utf8', pos, pos + len);
    pos += len;
    const rec: RecordJson = { offset: o, timestamp: new Date(timestamps.get(inp.baseOffset)!).toISOString(), host: meta.host, source: meta.source, source_offset: r.meta[k + 1]!, message };
    if (meta.flags & FLAG_JSON) mergeJsonRecord(rec as RecordJson & Record<string, unknown>);
    else if (meta.flags & FLAG_METRICS) {
      try {
        rec.metrics = (JSON.parse(message) as { metrics: unknown[] }).metrics;
        rec.message = '';
      } catch {
        /* keep the raw text: better than losing the record */
      }
    }
    const f = r.meta[k + 3]!;
    if (f) rec.flags = f;
    records.push(rec);
  }
  return { records, next: past(r.next) };
}

function skipped(ctx: ServerContext, p: PartitionHandle, baseOffset: number, lines: number, reason: string): void {
  ctx.metrics.readSkippedBatches.inc({ topic: p.topic });
  ctx.logger.error(
    { topic: p.topic, partition: p.partition, offsets: `${baseOffset}..${baseOffset + lines - 1}`, reason },
    'skipped a stored batch whose payload disagrees with its header (disk corruption or an older writer); readers continue after it',
  );
}
