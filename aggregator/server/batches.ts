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
import { HttpError, mediaType, readBody } from './http-util.js';
import type { ServerContext } from './context.js';
import { AGENT_STATUS_HEADER } from './agents.js';
import type { AggregatorMetrics } from '../metrics.js';

/** What the HTTP side of POST /v1/batches needs: the writer process's context, or an ingest process's. */
export type BatchesFront = Pick<ServerContext, 'auth' | 'metrics' | 'logger' | 'limits'> & {
  /** absent in an ingest process: every payload is checked on its own event loop */
  payloads?: ServerContext['payloads'];
};

export async function handleBatches(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { wire, started } = await receiveBatches(ctx, req, (topics, where) => judgeFresh(ctx, topics, where));
  const acks = await storeBatches(ctx, wire, req.headers[AGENT_STATUS_HEADER], false);
  ctx.metrics.ingestLatency.observe((performance.now() - started) / 1000);
  sendAcks(res, acks, ctx.metrics);
}

/** A batch stream's frame (batch-stream.ts): what handleBatches does with a request's body, the answer's JSON. */
export async function storeFrame(ctx: ServerContext, body: Buffer, principal: IncomingMessage, agentStatus: string): Promise<string> {
  const started = performance.now();
  const wire = await checkBatches(ctx, body, principal, (topics, where) => judgeFresh(ctx, topics, where));
  const acks = await storeBatches(ctx, wire, agentStatus === '' ? undefined : agentStatus, false);
  ctx.metrics.ingestLatency.observe((performance.now() - started) / 1000);
  return acksJson(acks, ctx.metrics);
}

/**
 * The HTTP half: media type, bounded body, decode (headers, CRC), the token's topic allow-list,
 * `judge` (topic creation policy, where storage is at hand), then every payload's check. Throws
 * the same errors, in the same order, whichever process runs it: an ingest process passes
 * `judgeElsewhere` instead of `judge`, asked (a round trip to the writer) only when a payload is
 * refused, since a request that passes is judged by the writer when it stores it.
 */
export async function receiveBatches(
  ctx: BatchesFront,
  req: IncomingMessage,
  judge?: (topics: string[], where: (name: string) => string) => void,
  judgeElsewhere?: (wire: WireRequest) => Promise<void>,
): Promise<{ wire: WireRequest; started: number }> {
  const header = req.headers['content-type'];
  const ct = header === BATCHES_CONTENT_TYPE ? header : mediaType(header);
  if (ct !== BATCHES_CONTENT_TYPE) {
    throw new HttpError(415, 'unsupported_media_type', `Content-Type must be ${BATCHES_CONTENT_TYPE}, got "${ct.slice(0, 100)}"`);
  }
  const body = await readBody(req, ctx.limits.maxBodyBytes);
  const started = performance.now();
  return { wire: await checkBatches(ctx, body, req, judge, judgeElsewhere), started };
}

/**
 * receiveBatches after the body is read (also a batch stream's frame, batch-stream.ts): decode,
 * the topic allow-list of the token `principal` (the request that carried it) was checked with,
 * `judge` or `judgeElsewhere`, every payload's check. Throws as receiveBatches does.
 */
export async function checkBatches(
  ctx: BatchesFront,
  body: Buffer,
  principal: IncomingMessage,
  judge?: (topics: string[], where: (name: string) => string) => void,
  judgeElsewhere?: (wire: WireRequest) => Promise<void>,
): Promise<WireRequest> {
  let wire;
  try {
    wire = decodeRequest(body, { maxBatchRawBytes: ctx.limits.maxDecompressedBatchBytes, maxRequestRawBytes: ctx.limits.maxDecompressedRequestBytes });
  } catch (err) {
    ctx.metrics.refusedBatches.inc({ check: err instanceof LogshipError && err.code === 'LSH_ERR_TOO_LARGE' ? 'limit' : 'header' });
    throw err;
  }

  // Every topic is judged before any is created: a refused request leaves nothing behind.
  const { topics, where } = requestTopics(wire);
  for (const topic of topics) ctx.auth.requireTopic(principal, topic); // the token's topics allow-list (403), before anything is created
  judge?.(topics, where);

  // Small requests are checked right here, without a promise; bigger ones on a payload worker (if any).
  const inline = checkInline(ctx, wire, ctx.payloads === undefined);
  const check = inline ?? (await checkOnWorker(ctx.payloads!, ctx.limits.maxDecompressedBatchBytes, wire, body));
  if (check.index >= 0) {
    // An ingest process has no storage at hand: the writer judges topic creation, which comes first (403 before 400).
    if (judgeElsewhere) await judgeElsewhere(wire);
    ctx.metrics.refusedBatches.inc({ check: 'payload' });
    const b = wire.batches[check.index]!;
    ctx.logger.warn({ host: wire.host, producer: wire.producer, batch: check.index, topic: b.topic, source: b.source, reason: check.reason }, 'refused a request: a batch disagrees with its header (400); nothing of it was stored');
    throw new HttpError(400, 'bad_batch', `batch ${check.index}: ${check.reason}; nothing of this request was stored`);
  }
  return wire;
}

/**
 * The storage half, in the writer process: topic creation policy (when `judge`: the request came
 * from an ingest process), append with dedup, the per-topic counters and the agents table.
 * Resolves once every batch is durable (or a duplicate); the acks in request order.
 */
export async function storeBatches(ctx: ServerContext, wire: WireRequest, agentStatus: string | string[] | undefined, judge: boolean): Promise<Ack[]> {
  if (judge) judgeTopics(ctx, wire);
  const acks = wire.batches.length === 1 ? [await storeOne(ctx, wire)] : await storeMany(ctx, wire);
  if (ctx.agents) {
    let raw = 0;
    let lines = 0;
    for (const b of wire.batches) {
      raw += b.rawLength;
      lines += b.lines;
    }
    ctx.agents.record(wire.host, wire.producer, raw, lines, agentStatus);
  }
  return acks;
}

/**
 * A request of one batch (an agent's usual request): its topic held (not evicted) until the batch
 * is durable, taken without a promise when it is open already; no grouping by partition.
 */
async function storeOne(ctx: ServerContext, wire: WireRequest): Promise<Ack> {
  const b = wire.batches[0]!;
  const topic = ctx.storage.acquireOpen?.(b.topic) ?? (await ctx.storage.acquire(b.topic, true))!;
  try {
    const p = topic.partitions[partitionFor(wire.host, b.source, topic.partitions.length)]!;
    let r: IngestResult;
    try {
      [r] = (await p.append([itemOf(wire, b)])) as [IngestResult];
    } catch (err) {
      fenced(ctx, wire, err);
      throw err;
    }
    countStored(ctx.metrics, b, r);
    return { seq: b.seq, topic: b.topic, partition: p.partition, offset: r.offset, duplicate: r.duplicate };
  } finally {
    ctx.storage.release(b.topic);
  }
}

/** Several batches: every topic of the request stays open (not evicted) until the request is answered. */
async function storeMany(ctx: ServerContext, wire: WireRequest): Promise<Ack[]> {
  const held = new Map<string, TopicHandle>();
  try {
    return await ingest(ctx, wire, held);
  } finally {
    for (const name of held.keys()) ctx.storage.release(name);
  }
}

const batchZero = (): string => 'batch 0';

/**
 * A request's topics in order of first use, and where each is first used ("batch N") for error
 * messages. One batch (an agent's usual request) needs no map of first uses.
 */
function requestTopics(wire: WireRequest): { topics: string[]; where: (name: string) => string } {
  if (wire.batches.length === 1) return { topics: [wire.batches[0]!.topic], where: batchZero };
  const topics: string[] = [];
  const firstUse = new Map<string, number>();
  wire.batches.forEach((b, i) => {
    if (firstUse.has(b.topic)) return;
    firstUse.set(b.topic, i);
    topics.push(b.topic);
  });
  return { topics, where: (name) => `batch ${firstUse.get(name)}` };
}

/** The topic creation policy (max_topics, auto_create_topics: 403) for those of `topics` not stored yet. */
function judgeFresh(ctx: Pick<ServerContext, 'storage' | 'topicPolicy'>, topics: string[], where: (name: string) => string): void {
  const fresh = topics.filter((t) => !ctx.storage.has(t));
  if (fresh.length > 0) ctx.topicPolicy.checkCreate(fresh, ctx.storage.count(), where);
}

/** judgeFresh for a whole request (the writer, for an ingest process's request). */
export function judgeTopics(ctx: Pick<ServerContext, 'storage' | 'topicPolicy'>, wire: WireRequest): void {
  const { topics, where } = requestTopics(wire);
  judgeFresh(ctx, topics, where);
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

const PASSED = { index: -1 } as const;

/**
 * Checks every batch's payload against its header on the event loop when the request is small
 * enough (the first that disagrees, or index -1); undefined: too big, check it on a worker.
 */
function checkInline(ctx: BatchesFront, wire: WireRequest, always: boolean): { index: number; reason?: string } | undefined {
  if (!always) {
    let raw = 0;
    for (const b of wire.batches) raw += b.rawLength;
    if (raw > INLINE_CHECK_RAW_BYTES) return undefined;
  }
  for (let i = 0; i < wire.batches.length; i++) {
    const reason = payloadProblem(wire.batches[i]!.payload, wire.batches[i]!, ctx.limits.maxDecompressedBatchBytes);
    if (reason) return { index: i, reason };
  }
  return PASSED;
}

/** The same check as checkInline on a payload worker. */
async function checkOnWorker(payloads: ServerContext['payloads'], maxRaw: number, wire: WireRequest, body: Buffer): Promise<{ index: number; reason?: string }> {
  // The body is moved to a payload worker and back (no copy): take the payloads from what comes back.
  const at = wire.batches.map((b) => [b.payload.byteOffset, b.payload.byteLength] as const);
  const check = await payloads.check(
    {
      batches: wire.batches.map((b) => ({ payload: b.payload, codec: b.codec, flags: b.flags, rawLength: b.rawLength, lines: b.lines })),
      maxRaw,
    },
    body,
  );
  if (check.body) wire.batches.forEach((b, i) => (b.payload = Buffer.from(check.body!, at[i]![0], at[i]![1])));
  return check;
}

export type Ack = IngestResult & { seq: number; topic: string; partition: number };

async function ingest(ctx: ServerContext, wire: WireRequest, held: Map<string, TopicHandle>): Promise<Ack[]> {
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
    g.items.push(itemOf(wire, b));
    g.idx.push(i);
    where.push({ topic: b.topic, partition: p.partition });
  }

  const acks: Ack[] = new Array(wire.batches.length);
  const settle = (g: { items: IngestItem[]; idx: number[] }, r: IngestResult[]): void => {
    for (let j = 0; j < r.length; j++) {
      const i = g.idx[j]!;
      const b = wire.batches[i]!;
      const w = where[i]!;
      acks[i] = { seq: b.seq, topic: w.topic, partition: w.partition, offset: r[j]!.offset, duplicate: r[j]!.duplicate };
      countStored(ctx.metrics, b, r[j]!);
    }
  };
  try {
    if (groups.size === 1) {
      // Every batch on one partition: no settle-all bookkeeping.
      const [p, g] = groups.entries().next().value!;
      settle(g, await p.append(g.items));
    } else {
      const outcomes = await Promise.allSettled([...groups].map(async ([p, g]) => settle(g, await p.append(g.items))));
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } catch (err) {
    fenced(ctx, wire, err);
    throw err;
  }
  return acks;
}

function itemOf(wire: WireRequest, b: WireRequest['batches'][number]): IngestItem {
  return {
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
    payloadCrc: b.crc,
    lines: b.lines,
    timestamp: b.timestamp,
  };
}

function countStored(m: AggregatorMetrics, b: WireRequest['batches'][number], r: IngestResult): void {
  const c = topicCounters(m, b.topic);
  if (r.duplicate) c.dedup.inc();
  else {
    c.batches.inc();
    c.records.inc(b.lines);
    c.bytes.inc(b.payload.length);
  }
}

/** A fenced producer (409): counted and logged where it is refused. */
function fenced(ctx: ServerContext, wire: WireRequest, err: unknown): void {
  if (err instanceof LogshipError && err.code === 'LSH_ERR_SEQUENCE') {
    ctx.metrics.badRequests.inc({ type: 'producer_fenced' });
    for (const b of wire.batches) ctx.metrics.producerFenced.inc({ topic: b.topic });
    ctx.logger.warn({ producer: wire.producer, epoch: wire.epoch, host: wire.host, reason: err.message }, 'refused a batch from a fenced producer (409)');
  }
}

/** The counters of one topic, looked up by label once instead of per batch (bounded like the topics). */
interface TopicCounters {
  batches: { inc(n?: number): void };
  records: { inc(n?: number): void };
  bytes: { inc(n?: number): void };
  dedup: { inc(n?: number): void };
  /** the topic as a JSON string, for the answer */
  json: string;
}
const countersByMetrics = new WeakMap<AggregatorMetrics, Map<string, TopicCounters>>();
const MAX_CACHED_TOPICS = 10_000;

function topicCounters(m: AggregatorMetrics, topic: string): TopicCounters {
  let byTopic = countersByMetrics.get(m);
  if (!byTopic) countersByMetrics.set(m, (byTopic = new Map()));
  let c = byTopic.get(topic);
  if (!c) {
    if (byTopic.size >= MAX_CACHED_TOPICS) byTopic.clear();
    const labels = { topic };
    c = {
      batches: m.appendedBatches.labels(labels),
      records: m.appendedRecords.labels(labels),
      bytes: m.appendedBytes.labels(labels),
      dedup: m.dedupHits.labels(labels),
      json: JSON.stringify(topic),
    };
    byTopic.set(topic, c);
  }
  return c;
}

/**
 * 200 with `{"acks":[{"seq","topic","partition","offset","duplicate"}, ...]}`, written without
 * JSON.stringify of objects (the same bytes as before: field order and number format unchanged).
 */
export function sendAcks(res: ServerResponse, acks: ReadonlyArray<AckAnswer>, m: AggregatorMetrics): void {
  const data = acksJson(acks, m);
  // A flat header list: no header object to walk.
  res.writeHead(200, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(data))]);
  res.end(data);
}

export type AckAnswer = Pick<Ack, 'seq' | 'topic' | 'partition' | 'offset' | 'duplicate'>;

/** The answer's JSON: the same bytes over HTTP and on a batch stream. */
export function acksJson(acks: ReadonlyArray<AckAnswer>, m: AggregatorMetrics): string {
  let data = '{"acks":[';
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i]!;
    data += `${i === 0 ? '' : ','}{"seq":${a.seq},"topic":${topicCounters(m, a.topic).json},"partition":${a.partition},"offset":${a.offset},"duplicate":${a.duplicate}}`;
  }
  data += ']}';
  return data;
}
