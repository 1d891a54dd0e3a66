/**
 * POST /v1/batches: decode, check every batch completely, dedup, partition,
 * append, fsync, acknowledge. Nothing of a request is stored unless every
 * batch in it passes: headers and CRC here, payloads (inflated, bounded by
 * the declared raw length and limits) on the payload workers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BATCHES_CONTENT_TYPE, decodeRequest, type WireRequest } from '../../lib/protocol/batches.js';
import { LogshipError } from '../../lib/errors.js';
import { payloadProblem } from '../../lib/protocol/payload.js';
import type { IngestItem, IngestResult, PartitionHandle, TopicHandle } from '../storage/types.js';
import { partitionFor } from '../topics/partitioner.js';
import { HttpError, mediaType, readBody, sendJson } from './http-util.js';
import type { ServerContext } from './context.js';
import { AGENT_STATUS_HEADER } from './agents.js';

export async function handleBatches(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ct = mediaType(req.headers['content-type']);
  if (ct !== BATCHES_CONTENT_TYPE) {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type must be ${BATCHES_CONTENT_TYPE}, got "${ct.slice(0, 100)}"`);
  }
  const body = await readBody(req, ctx.limits.maxBodyBytes);
  const started = process.hrtime.bigint();
  let wire;
  try {
    wire = decodeRequest(body, { maxBatchRawBytes: ctx.limits.maxDecompressedBatchBytes, maxRequestRawBytes: ctx.limits.maxDecompressedRequestBytes });
  } catch (err) {
    ctx.metrics.refusedBatches.inc({ check: err instanceof LogshipError && err.code === 'LSH_ERR_TOO_LARGE' ? 'limit' : 'header' });
    throw err;
  }

  // Every topic is judged before any is created: a refused request leaves nothing behind.
  const fresh: string[] = [];
  const firstUse = new Map<string, number>();
  wire.batches.forEach((b, i) => {
    if (firstUse.has(b.topic)) return;
    ctx.auth.requireTopic(req, b.topic); // the token's topics allow-list (403), before anything is created
    firstUse.set(b.topic, i);
    if (!ctx.storage.has(b.topic)) fresh.push(b.topic);
  });
  ctx.topicPolicy.checkCreate(fresh, ctx.storage.count(), (name) => `batch ${firstUse.get(name)}`);

  const check = await checkPayloads(ctx, wire, body);
  if (check.index >= 0) {
    ctx.metrics.refusedBatches.inc({ check: 'payload' });
    const b = wire.batches[check.index]!;
    ctx.logger.warn({ host: wire.host, producer: wire.producer, batch: check.index, topic: b.topic, source: b.source, reason: check.reason }, 'refused a request: a batch disagrees with its header (400); nothing of it was stored');
    throw new HttpError(400, 'bad_batch', `batch ${check.index}: ${check.reason}; nothing of this request was stored`);
  }

  // Every topic of the request stays open (not evicted) until the request is answered.
  const held = new Map<string, TopicHandle>();
  try {
    await ingest(ctx, wire, held, res, started);
    if (ctx.agents) {
      let raw = 0;
      let lines = 0;
      for (const b of wire.batches) {
        raw += b.rawLength;
        lines += b.lines;
      }
      ctx.agents.record(wire.host, wire.producer, raw, lines, req.headers[AGENT_STATUS_HEADER]);
    }
  } finally {
    for (const name of held.keys()) ctx.storage.release(name);
  }
}

/**
 * A request whose batches inflate to at most this many bytes in all is checked on the event loop:
 * a round trip to a payload worker (post, wake its thread, answer, wake this one) costs more than
 * the inflate and scan of a few KiB, also on the event loop alone. Measured in one process, CPU
 * per check: a 10-line batch (1.9 KB raw) ~40-80 us through a worker against ~7 us here; a
 * 50-line one (10 KB) ~45-49 us against ~14-20 us, with the loop's time per check halved. A fleet
 * of agents, each sending a small batch a second, sends mostly such requests. Bigger requests still
 * go to the workers, so the event loop never inflates much at once.
 */
export const INLINE_CHECK_RAW_BYTES = 16 * 1024;

/** Checks every batch's payload against its header (same check on or off the event loop); the first that disagrees, or index -1. */
async function checkPayloads(ctx: ServerContext, wire: WireRequest, body: Buffer): Promise<{ index: number; reason?: string }> {
  let raw = 0;
  for (const b of wire.batches) raw += b.rawLength;
  if (raw <= INLINE_CHECK_RAW_BYTES) {
    for (let i = 0; i < wire.batches.length; i++) {
      const reason = payloadProblem(wire.batches[i]!.payload, wire.batches[i]!, ctx.limits.maxDecompressedBatchBytes);
      if (reason) return { index: i, reason };
    }
    return { index: -1 };
  }
  // The body is moved to a payload worker and back (no copy): take the payloads from what comes back.
  const at = wire.batches.map((b) => [b.payload.byteOffset, b.payload.byteLength] as const);
  const check = await ctx.payloads.check(
    {
      batches: wire.batches.map((b) => ({ payload: b.payload, codec: b.codec, flags: b.flags, rawLength: b.rawLength, lines: b.lines })),
      maxRaw: ctx.limits.maxDecompressedBatchBytes,
    },
    body,
  );
  if (check.body) wire.batches.forEach((b, i) => (b.payload = Buffer.from(check.body!, at[i]![0], at[i]![1])));
  return check;
}

async function ingest(ctx: ServerContext, wire: WireRequest, held: Map<string, TopicHandle>, res: ServerResponse, started: bigint): Promise<void> {
  // Group per partition, keeping request order inside each group.
  const groups = new Map<PartitionHandle, { items: IngestItem[]; idx: number[] }>();
  const where: Array<{ topic: string; partition: number }> = [];
  for (let i = 0; i < wire.batches.length; i++) {
    const b = wire.batches[i]!;
    let topic = held.get(b.topic);
    if (!topic) held.set(b.topic, (topic = (await ctx.storage.acquire(b.topic, true))!));
    const p = topic.partitions[partitionFor(wire.host, b.source, topic.partitions.length)]!;
    let g = groups.get(p);
    if (!g) groups.set(p, (g = { items: [], idx: [] }));
    g.items.push({
      meta: {
        flags: b.flags,
        codec: b.codec,
        host: wire.host,
        source: b.source,
        sourceOffset: b.sourceOffset,
        producer: wire.producer,
        epoch: wire.epoch,
        seq: b.seq,
        rawLength: b.rawLength,
      },
      payload: b.payload,
      lines: b.lines,
      timestamp: b.timestamp,
    });
    g.idx.push(i);
    where.push({ topic: b.topic, partition: p.partition });
  }

  const acks: Array<IngestResult & { seq: number; topic: string; partition: number }> = new Array(wire.batches.length);
  const outcomes = await Promise.allSettled(
    [...groups].map(async ([p, g]) => {
      const r = await p.append(g.items);
      for (let j = 0; j < r.length; j++) {
        const i = g.idx[j]!;
        const b = wire.batches[i]!;
        acks[i] = { seq: b.seq, ...where[i]!, ...r[j]! };
        if (r[j]!.duplicate) ctx.metrics.dedupHits.inc({ topic: b.topic });
        else {
          ctx.metrics.appendedBatches.inc({ topic: b.topic });
          ctx.metrics.appendedRecords.inc({ topic: b.topic }, b.lines);
          ctx.metrics.appendedBytes.inc({ topic: b.topic }, b.payload.length);
        }
      }
    }),
  );
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    const err = failed.reason;
    if (err instanceof LogshipError && err.code === 'LSH_ERR_SEQUENCE') {
      ctx.metrics.badRequests.inc({ type: 'producer_fenced' });
      for (const b of wire.batches) ctx.metrics.producerFenced.inc({ topic: b.topic });
      ctx.logger.warn({ producer: wire.producer, epoch: wire.epoch, host: wire.host, reason: err.message }, 'refused a batch from a fenced producer (409)');
    }
    throw err;
  }
  ctx.metrics.ingestLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
  sendJson(res, 200, { acks });
}
