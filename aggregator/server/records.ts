/**
 * GET /v1/topics/{t}/partitions/{p}/records?offset=&max_bytes=&wait_ms=&since=&parse= : fetch with long-poll.
 *
 * parse=1: each record also carries `document`, what the topic's pipeline
 * (aggregator/pipelines/) makes of it, or null when a drop/sample step
 * leaves it out, and `routes` when route steps named sinks. Parsing happens
 * here, on read: the stored bytes never change, so a changed pipeline
 * applies to old records too.
 *
 * Records come from the storage's RecordDecoder (bounded, off-thread, unusable
 * batches skipped: aggregator/storage/record-decoder.ts); this file is the
 * HTTP shape. The response is serialized in slices so no request keeps the
 * event loop for long.
 */
import type { ServerResponse } from 'node:http';
import type { PartitionHandle, TopicHandle } from '../storage/types.js';
import { HttpError, intParam, parseDecimal } from './http-util.js';
import type { ServerContext } from './context.js';
import type { StoredRecord } from '../storage/record-decoder.js';
import { PipelineSet } from '../pipelines/index.js';

const NO_PIPELINES = new PipelineSet({});

/** The record's JSON with `document` (and `routes`): the document's text from the pipeline's fast writer when it has one. */
function withDocumentJson(ctx: ServerContext, topic: string, r: StoredRecord): string {
  const set = ctx.pipelines ?? NO_PIPELINES;
  const { json, doc, dropped, routes } = set.parseJson(topic, r);
  // a record that carries its own document or routes field: the object spread below decides as before
  if (json === undefined || Object.hasOwn(r, 'document') || Object.hasOwn(r, 'routes')) {
    const document = dropped ? null : (doc ?? (JSON.parse(json!) as unknown));
    return JSON.stringify(routes ? { ...r, document, routes } : { ...r, document });
  }
  return `${JSON.stringify(r).slice(0, -1)},"document":${json}${routes ? `,"routes":${JSON.stringify(routes)}` : ''}}`;
}

const MAX_WAIT_MS = 30_000;
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
  // Skipped (unusable) batches are stepped over, bounded: an empty page means the end of the log.
  const parseParam = url.searchParams.get('parse');
  if (parseParam !== null && parseParam !== '0' && parseParam !== '1' && parseParam !== 'true' && parseParam !== 'false') {
    throw new HttpError(400, 'bad_request', `parse must be 1 or 0, got "${parseParam.slice(0, 20)}"`);
  }
  const parse = parseParam === '1' || parseParam === 'true';
  const { records, next } = await ctx.decoder.read(p, offset, maxBytes);
  const head = JSON.stringify({ topic: topicName, partition: p.partition, first_offset: p.firstOffset, high_watermark: p.nextOffset, next_offset: next });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write(`${head.slice(0, -1)},"records":[`);
  for (let i = 0; i < records.length; i += SLICE) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    if (res.destroyed) return;
    const part = records
      .slice(i, i + SLICE)
      .map((r) => (parse ? withDocumentJson(ctx, topicName, r) : JSON.stringify(r)))
      .join(',');
    res.write(i > 0 ? `,${part}` : part);
  }
  res.end(']}');
}
