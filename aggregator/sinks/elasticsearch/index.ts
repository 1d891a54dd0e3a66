/**
 * The elasticsearch sink: records -> ECS documents -> `_bulk` (create only,
 * deterministic ids) on Elasticsearch 7.17/8/9 or OpenSearch 1/2.
 *
 * deliver() resolves only when every document of the delivery is in the
 * cluster (201, or 409: already there) or dead-lettered, so the runner's
 * cursor commit after it never skips a record. Inside a delivery:
 *  - documents are cut into requests (batch_max_docs / batch_max_bytes),
 *    gzipped on the thread pool, sent under an adaptive concurrency limit;
 *  - item 429 / 5xx: only those items are sent again, capped jittered backoff;
 *  - other item errors (mapping conflicts, 400s): dead_letter_topic (the
 *    record, error type and reason), or counted and logged when none is set;
 *  - whole-request failures (no connection, reset, timeout, 5xx, 429, auth):
 *    retried forever with backoff, Retry-After honoured, the next URL tried;
 *    health() reports degraded until a request succeeds; 413 splits the request.
 * At start, in the background (ingest never waits for Elasticsearch): GET /
 * (refuses unsupported versions) and the index template when manage_template.
 */
import { setMaxListeners } from 'node:events';
import { gzip } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { LogshipError } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/obs/logger.js';
import type { Delivery } from '../../consumer/index.js';
import { createAggregatorMetrics, type AggregatorMetrics } from '../../metrics.js';
import type { BatchDecoder, StoredRecord } from '../../storage/record-decoder.js';
import { FLAG_METRICS } from '../../../lib/protocol/codes.js';
import { FLAG_JSON } from '../../../lib/protocol/json-records.js';
import { CHUNK_FIELDS, ES_BULK_OP, META_FIELDS, type EsBulkBatchInfo, type EsBulkJob, type EsBulkResult } from './bulk-job.js';
import type { Sink, SinkConfigBase, SinkContext, SinkHealth } from '../types.js';
import { actionLine, BULK_PATH, bulkBody, chunk, classify, parseBulkResponse, retryAfterMs, type BulkItem, type ItemResult } from './bulk.js';
import { EsClient } from './client.js';
import { AimdLimiter } from './concurrency.js';
import type { ElasticsearchSinkConfig } from './config.js';
import { documentId, documentJson, parsedDocument, sinkFields, TargetNamer } from './document.js';
import type { Pipeline, PipelineSet } from '../../pipelines/index.js';
import { clusterInfo, EsRequestError, templateBody, templateName, UnsupportedClusterError, type ClusterInfo } from './probe.js';

const gzipAsync = promisify(gzip);

/** Backoff bounds for retries (items and whole requests). */
const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 10_000;
/** A Retry-After above this is capped (a misbehaving proxy must not park the sink for hours). */
const RETRY_AFTER_MAX_MS = 5 * 60_000;

export const VERSION = readVersion();

interface Item extends BulkItem {
  /** the record (built on demand for documents made on the payload workers: only dead letters need it) */
  record(): StoredRecord;
  index: string;
}

/** What decode() hands deliver(): request bodies built on a payload worker. */
interface Decoded {
  r: EsBulkResult;
  info: EsBulkBatchInfo[];
  /** the topic's pipeline, when the worker parsed the records with its copy */
  pipeline?: Pipeline | undefined;
}

type BulkOutcome = { kind: 'ok'; results: ItemResult[] | undefined } | { kind: 'failed'; status: number; retryAfterMs?: number } | { kind: 'too_large' };

interface Ctx {
  topic: string;
  partition: number;
}

export interface ElasticsearchSinkOptions {
  /** Backoff bounds (tests shorten them). */
  backoffMs?: { min: number; max: number };
}

export class ElasticsearchSink implements Sink {
  #cfg: ElasticsearchSinkConfig;
  #log: Logger;
  #m: AggregatorMetrics;
  #appendPlain: SinkContext['appendPlain'];
  #client: EsClient;
  #limiter: AimdLimiter;
  #namer: TargetNamer;
  #backoff: { min: number; max: number };
  #ac = new AbortController();
  #ready: Promise<void> | undefined;
  #info: ClusterInfo | undefined;
  #unsupported: string | undefined;
  #degraded: string | undefined;
  #lastError: { time: string; message: string } | undefined;
  #counts = { indexed: 0, duplicate: 0, dead_lettered: 0, dropped: 0, retried: 0, requests: 0 };
  #pipelines: PipelineSet | undefined;

  /** The sink's `pipeline` ("none": no pipeline), else the topic's. */
  #pipelineFor(topic: string): Pipeline | undefined {
    const name = this.#cfg.pipeline;
    if (name === 'none') return undefined;
    return name !== undefined ? this.#pipelines?.pipelines.get(name) : this.#pipelines?.forTopic(topic);
  }

  constructor(cfg: ElasticsearchSinkConfig, ctx: SinkContext, opts: ElasticsearchSinkOptions = {}) {
    this.#cfg = cfg;
    // Every retrying request sleeps on this signal.
    setMaxListeners(0, this.#ac.signal);
    this.#log = ctx.logger;
    this.#m = ctx.metrics ?? createAggregatorMetrics(false);
    this.#appendPlain = ctx.appendPlain;
    this.#pipelines = ctx.pipelines;
    if (cfg.dead_letter_topic !== undefined && !this.#appendPlain) throw new LogshipError('LSH_ERR_CONFIG', `sink ${cfg.name}: dead_letter_topic needs storage to append to`);
    this.#limiter = new AimdLimiter({ min: cfg.min_concurrency, max: cfg.max_concurrency, initial: Math.min(cfg.max_concurrency, Math.max(cfg.min_concurrency, 2)) });
    this.#client = new EsClient(cfg, cfg.max_concurrency);
    const ds = cfg.data_stream !== undefined;
    this.#namer = new TargetNamer((ds ? cfg.data_stream : cfg.index) ?? 'logs-{topic}-default', ds);
    this.#backoff = opts.backoffMs ?? { min: BACKOFF_MIN_MS, max: BACKOFF_MAX_MS };
    this.#m.sinkConcurrency.set({ sink: cfg.name }, this.#limiter.limit);
  }

  async start(): Promise<void> {
    this.#ready = this.#prepare();
    // A failure here is retried inside #prepare; an abort on close is the only way out.
    this.#ready.catch(() => undefined);
  }

  health(): SinkHealth {
    if (this.#unsupported) return { ok: false, reason: this.#unsupported };
    if (this.#degraded) return { ok: false, reason: this.#degraded };
    if (!this.#info) return { ok: false, reason: 'connecting' };
    return { ok: true };
  }

  status(): Record<string, unknown> {
    return {
      cluster: this.#info ? `${this.#info.product} ${this.#info.version}` : null,
      url: this.#client.current,
      docs: { ...this.#counts },
      concurrency: { limit: this.#limiter.limit, in_flight: this.#limiter.inFlight },
      last_error: this.#lastError ?? null,
    };
  }

  abort(): void {
    this.#ac.abort();
  }

  async close(): Promise<void> {
    this.#ac.abort();
    await this.#client.close();
  }

  /**
   * Plain line batches of a topic without pipeline, or whose pipeline has a
   * byte plan (aggregator/pipelines/bytes.ts): straight to request bodies on
   * a payload worker (bulk-job.ts). Anything else: records.
   */
  decode: BatchDecoder = async (read) => {
    if (read.metas.some((m) => m.flags & (FLAG_JSON | FLAG_METRICS))) return read.records();
    const pipeline = this.#pipelineFor(read.topic);
    if (pipeline && !pipeline.bytePlan(sinkFields({ topic: read.topic, target: this.#namer.target(read.topic, new Date(read.timestamps[0] ?? 0).toISOString()), version: VERSION }))) return read.records();
    const info = read.batches.map((_, i): EsBulkBatchInfo => {
      const m = read.metas[i]!;
      const iso = new Date(read.timestamps[i]!).toISOString();
      const t = this.#namer.target(read.topic, iso);
      return { host: m.host, source: m.source, iso, target: t.name, ...(t.stream ? { stream: t.stream } : {}) };
    });
    const job: EsBulkJob = {
      op: ES_BULK_OP,
      batches: read.batches,
      info,
      topic: read.topic,
      partition: read.partition,
      version: VERSION,
      from: read.from,
      maxBytes: read.maxBytes,
      maxRaw: read.maxRaw,
      maxDocs: this.#cfg.batch_max_docs,
      maxBodyBytes: this.#cfg.batch_max_bytes,
      gzip: this.#cfg.gzip,
      ...(pipeline ? { pipeline: { name: pipeline.name, steps: pipeline.config.steps, sink: this.#cfg.name } } : {}),
    };
    const r = await read.payloads.run<EsBulkResult>(job);
    const value: Decoded = { r, info, pipeline };
    return { count: r.count, next: r.next, skipped: r.skipped, value };
  };

  async deliver(d: Delivery): Promise<void> {
    // step failures a worker's copy of the pipeline counted: the pipeline's own counts and metric, once per delivery as on the record path
    if (d.decoded !== undefined) for (const [step, n] of (d.decoded as Decoded).r.failures ?? []) (d.decoded as Decoded).pipeline?.addFailures(step, n);
    await this.#ready;
    const c: Ctx = { topic: d.topic, partition: d.partition };
    if (d.decoded !== undefined) return this.#deliverDecoded(d.decoded as Decoded, c);
    const pipeline = this.#pipelineFor(d.topic);
    const items: Item[] = [];
    for (let i = 0; i < d.records.length; i++) {
      const r = d.records[i]!;
      const target = this.#namer.target(d.topic, r.timestamp);
      let doc: string;
      if (pipeline) {
        // a record a drop/sample step leaves out, or routed to other sinks, is not sent (and stays stored)
        const p = parsedDocument(pipeline, r, { topic: d.topic, target, version: VERSION });
        if (p.dropped || (p.routes !== undefined && !p.routes.includes(this.#cfg.name))) continue;
        doc = p.json;
      } else doc = documentJson(r, { topic: d.topic, target, version: VERSION });
      const lines = `${actionLine(target.name, documentId(d.topic, d.partition, r))}${doc}\n`;
      // byteLength also flattens the concatenated string, which makes the later write into the body fast.
      items.push({ lines, bytes: Buffer.byteLength(lines), record: () => r, index: target.name });
    }
    const chunks = chunk(items, this.#cfg.batch_max_docs, this.#cfg.batch_max_bytes);
    await Promise.all(chunks.map((ch) => this.#sendUntilDone(ch, c)));
  }

  /**
   * Requests a payload worker built: each is sent as it is; only when the
   * answer is not a plain success do its documents become items (for the
   * retry, split and dead-letter handling of #sendUntilDone).
   */
  async #deliverDecoded(dec: Decoded, c: Ctx): Promise<void> {
    const { r, info } = dec;
    const msgs = r.messages ? Buffer.from(r.messages.buffer, r.messages.byteOffset, r.messages.byteLength) : undefined;
    const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.bodyLength);
    const wire = this.#cfg.gzip ? Buffer.from(r.wire.buffer, r.wire.byteOffset, r.wire.byteLength) : body;
    const m = r.meta;
    const docStart = (d: number) => (d === 0 ? 0 : m[(d - 1) * META_FIELDS + 3]!);
    const items = (first: number, end: number): Item[] => {
      const out: Item[] = [];
      for (let d = first; d < end; d++) {
        const s = docStart(d);
        const e = m[d * META_FIELDS + 3]!;
        const inf = info[m[d * META_FIELDS + 4]!]!;
        const buf = body.subarray(s, e);
        const k = d * META_FIELDS;
        const message = msgs ? () => msgs.toString('utf8', d === 0 ? 0 : r.messageEnds![d - 1]!, r.messageEnds![d]!) : undefined;
        out.push({ buf, bytes: e - s, index: inf.target, record: () => recordOf(buf, inf, m[k]!, m[k + 1]!, m[k + 2]!, message?.()) });
      }
      return out;
    };
    const sends: Promise<void>[] = [];
    for (let k = 0; k < r.chunks.length; k += CHUNK_FIELDS) {
      const [first, end, a, z] = [r.chunks[k]!, r.chunks[k + 1]!, r.chunks[k + 2]!, r.chunks[k + 3]!];
      sends.push(
        (async () => {
          this.#throwIfClosed();
          const out = await this.#post(wire.subarray(a, z), end - first);
          if (out.kind === 'ok' && !out.results) return this.#done('indexed', end - first);
          await this.#sendUntilDone(items(first, end), c, out);
        })(),
      );
    }
    await Promise.all(sends);
  }

  /** Sends until each item is in the cluster or dead-lettered; rejects only when the sink is closed. `first`: the answer to a first attempt already made. */
  async #sendUntilDone(items: Item[], c: Ctx, first?: BulkOutcome): Promise<void> {
    let pending = items;
    let attempt = 0;
    while (pending.length > 0) {
      this.#throwIfClosed();
      const r = first ?? (await this.#bulk(pending));
      first = undefined;
      if (r.kind === 'too_large') {
        if (pending.length === 1) {
          await this.#reject(pending, [{ status: 413, type: 'request_entity_too_large', reason: 'the document alone is larger than the cluster accepts (http.max_content_length)' }], c);
          return;
        }
        const half = pending.length >> 1;
        await Promise.all([this.#sendUntilDone(pending.slice(0, half), c), this.#sendUntilDone(pending.slice(half), c)]);
        return;
      }
      if (r.kind === 'failed') {
        this.#m.sinkItemsRetried.inc({ sink: this.#cfg.name, status: String(r.status) }, pending.length);
        this.#counts.retried += pending.length;
        await this.#sleep(this.#delay(++attempt, r.retryAfterMs));
        continue;
      }
      if (!r.results) {
        this.#done('indexed', pending.length);
        return;
      }
      const retry: Item[] = [];
      const dead: Item[] = [];
      const deadResults: ItemResult[] = [];
      let indexed = 0;
      let duplicate = 0;
      const byStatus = new Map<number, number>();
      for (let i = 0; i < pending.length; i++) {
        const res = r.results[i]!;
        const what = classify(res);
        if (what === 'ok') res.status === 409 ? duplicate++ : indexed++;
        else if (what === 'retry') {
          retry.push(pending[i]!);
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
        } else {
          dead.push(pending[i]!);
          deadResults.push(res);
        }
      }
      this.#done('indexed', indexed);
      this.#done('duplicate', duplicate);
      if (dead.length > 0) await this.#reject(dead, deadResults, c);
      for (const [status, n] of byStatus) this.#m.sinkItemsRetried.inc({ sink: this.#cfg.name, status: String(status) }, n);
      this.#counts.retried += retry.length;
      // Backoff grows only while nothing gets through; a partly accepted request starts it again.
      if (retry.length < pending.length) attempt = 0;
      pending = retry;
      if (pending.length > 0) await this.#sleep(this.#delay(++attempt, undefined));
    }
  }

  /** One _bulk request of these items: its outcome, never a throw (except on close). */
  async #bulk(items: Item[]): Promise<BulkOutcome> {
    const raw = bulkBody(items);
    const body = this.#cfg.gzip ? await gzipAsync(raw, { level: 1 }) : raw;
    return this.#post(body, items.length);
  }

  /** POST one body (gzipped when the sink gzips) of n documents. */
  async #post(body: Buffer, n: number): Promise<BulkOutcome> {
    const name = this.#cfg.name;
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
    if (this.#cfg.gzip) headers['content-encoding'] = 'gzip';
    await this.#limiter.acquire();
    this.#m.sinkInFlight.inc({ sink: name });
    const started = performance.now();
    const url = this.#client.current;
    let ok = false;
    try {
      this.#throwIfClosed();
      this.#counts.requests++;
      this.#m.sinkBytesSent.inc({ sink: name }, body.length);
      let res;
      try {
        res = await this.#client.request({ method: 'POST', path: BULK_PATH, body, headers });
      } catch (err) {
        this.#throwIfClosed();
        return this.#requestFailed(url, 0, `no answer from ${url}: ${describe(err)}`);
      }
      if (res.status === 413) {
        ok = true;
        return { kind: 'too_large' };
      }
      if (res.status !== 200) {
        const why = `${url} answered HTTP ${res.status} to _bulk${errorReason(res.body)}`;
        return this.#requestFailed(url, res.status, res.status === 401 || res.status === 403 ? `${why}: check api_key or username/password` : why, retryAfterMs(res.headers['retry-after']));
      }
      let results: ItemResult[] | undefined;
      try {
        results = parseBulkResponse(res.body, n);
      } catch (err) {
        return this.#requestFailed(url, res.status, `${url}: ${(err as Error).message}`);
      }
      ok = !results || !results.some((x) => x.status === 429);
      if (this.#degraded) this.#log.info({ url }, 'elasticsearch answers again: delivery resumed');
      this.#degraded = undefined;
      return { kind: 'ok', results };
    } finally {
      const ms = performance.now() - started;
      this.#limiter.release(ok, ms);
      this.#m.sinkRequestSeconds.observe({ sink: name }, ms / 1000);
      this.#m.sinkInFlight.dec({ sink: name });
      this.#m.sinkConcurrency.set({ sink: name }, this.#limiter.limit);
    }
  }

  #requestFailed(url: string, status: number, message: string, retryAfter?: number): { kind: 'failed'; status: number; retryAfterMs?: number } {
    this.#m.sinkRequestFailures.inc({ sink: this.#cfg.name, status: String(status) });
    if (status === 0 || status === 429 || status >= 500) this.#client.failover(url);
    this.#noteError(message);
    if (this.#degraded !== message) this.#log.warn({ url, status, retry: true }, `bulk request failed: ${message}; retrying with backoff`);
    this.#degraded = message;
    return { kind: 'failed', status, retryAfterMs: retryAfter };
  }

  /** Permanent item errors: to the dead-letter topic (or counted and dropped); resolves once durable there. */
  async #reject(items: Item[], results: ItemResult[], c: Ctx): Promise<void> {
    const dl = this.#cfg.dead_letter_topic;
    const first = results[0]!;
    const reason = `${first.type ?? `HTTP ${first.status}`}: ${first.reason ?? ''}`;
    this.#noteError(`rejected ${items.length} document(s) from ${c.topic}/${c.partition}: ${reason}`);
    if (dl === undefined) {
      this.#log.error({ topic: c.topic, partition: c.partition, offsets: items.slice(0, 20).map((x) => x.record().offset), count: items.length, error: reason }, 'elasticsearch rejected documents for good and no dead_letter_topic is set: dropped');
      this.#done('dropped', items.length);
      return;
    }
    const now = Date.now();
    const batch = items.map((it, i) => {
      const res = results[i]!;
      const record = it.record();
      const line = `${JSON.stringify({
        sink: this.#cfg.name,
        topic: c.topic,
        partition: c.partition,
        offset: record.offset,
        index: it.index,
        status: res.status,
        error: { type: res.type ?? null, reason: res.reason ?? null },
        record,
      })}\n`;
      const payload = Buffer.from(line);
      return { meta: { flags: 0, codec: 0, host: record.host, source: `sink:${this.#cfg.name}`, sourceOffset: 0, rawLength: payload.length }, payload, lines: 1, timestamp: now };
    });
    await this.#appendPlain!(dl, batch);
    this.#log.warn({ topic: c.topic, partition: c.partition, count: items.length, dead_letter_topic: dl, error: reason }, 'elasticsearch rejected documents for good: written to the dead-letter topic');
    this.#done('dead_lettered', items.length);
  }

  #done(result: 'indexed' | 'duplicate' | 'dead_lettered' | 'dropped', n: number): void {
    if (n === 0) return;
    this.#counts[result] += n;
    this.#m.sinkDocs.inc({ sink: this.#cfg.name, result }, n);
  }

  #noteError(message: string): void {
    this.#lastError = { time: new Date().toISOString(), message };
  }

  /** GET / on a URL that answers, then the template; retried until it works or the sink closes. */
  async #prepare(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.#throwIfClosed();
      const url = this.#client.current;
      try {
        const res = await this.#client.request({ method: 'GET', path: '/' });
        const info = clusterInfo(res);
        if (this.#cfg.manage_template) await this.#installTemplate(info);
        this.#info = info;
        this.#unsupported = undefined;
        this.#degraded = undefined;
        this.#log.info({ url, cluster: `${info.product} ${info.version}` }, 'elasticsearch sink connected');
        return;
      } catch (err) {
        this.#throwIfClosed();
        const message = err instanceof UnsupportedClusterError || err instanceof EsRequestError ? err.message : `no answer from ${url}: ${describe(err)}`;
        this.#noteError(message);
        if (err instanceof UnsupportedClusterError) {
          if (this.#unsupported !== message) this.#log.error({ url }, `elasticsearch sink cannot deliver: ${message}`);
          this.#unsupported = message;
        } else {
          if (this.#degraded !== message) this.#log.warn({ url }, `elasticsearch sink not connected yet: ${message}; retrying`);
          this.#degraded = message;
          this.#client.failover(url);
        }
        await this.#sleep(err instanceof UnsupportedClusterError ? 30_000 : this.#delay(attempt, undefined));
      }
    }
  }

  async #installTemplate(info: ClusterInfo): Promise<void> {
    const name = templateName(this.#cfg.name);
    const body = JSON.stringify(templateBody(this.#namer.wildcard(), this.#namer.dataStream, info, VERSION));
    const res = await this.#client.request({ method: 'PUT', path: `/_index_template/${encodeURIComponent(name)}`, body, headers: { 'content-type': 'application/json' } });
    if (res.status === 200) return;
    const why = `PUT _index_template/${name} answered HTTP ${res.status}${errorReason(res.body)}`;
    if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 401 && res.status !== 403) throw new UnsupportedClusterError(`${why} (fix the cluster or set manage_template: false)`);
    throw new EsRequestError(why, res.status);
  }

  /** Capped exponential backoff with jitter (half to full), at least Retry-After. */
  #delay(attempt: number, retryAfter: number | undefined): number {
    const { min, max } = this.#backoff;
    const cap = Math.min(max, min * 2 ** Math.min(attempt - 1, 20));
    const d = cap / 2 + (Math.random() * cap) / 2;
    return retryAfter === undefined ? d : Math.max(d, Math.min(retryAfter, RETRY_AFTER_MAX_MS));
  }

  #throwIfClosed(): void {
    if (this.#ac.signal.aborted) throw new LogshipError('LSH_ERR_CLOSED', `sink ${this.#cfg.name} is closing`);
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#ac.signal;
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new LogshipError('LSH_ERR_CLOSED', `sink ${this.#cfg.name} is closing`));
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        if (signal.aborted) reject(new LogshipError('LSH_ERR_CLOSED', `sink ${this.#cfg.name} is closing`));
        else resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The record behind a document a payload worker built (its source line holds the message); for dead letters. */
function recordOf(lines: Buffer, inf: EsBulkBatchInfo, offset: number, sourceOffset: number, flags: number, message?: string): StoredRecord {
  // a parsed document's message may be changed or gone: the worker sent the raw one
  const text = message ?? (JSON.parse(lines.toString('utf8', lines.indexOf(10) + 1)) as { message: string }).message;
  const rec: StoredRecord = { offset, timestamp: inf.iso, host: inf.host, source: inf.source, source_offset: sourceOffset, message: text };
  if (flags) rec.flags = flags;
  return rec;
}

export function createElasticsearchSink(config: SinkConfigBase, ctx: SinkContext): Sink {
  return new ElasticsearchSink(config as ElasticsearchSinkConfig, ctx);
}

/** An error without request details that could carry credentials. */
function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code ?? e?.message ?? String(err);
}

/** ": type: reason" from an Elasticsearch error body, if it has one. */
function errorReason(body: Buffer): string {
  try {
    const e = (JSON.parse(body.subarray(0, 64 * 1024).toString('utf8')) as { error?: { type?: unknown; reason?: unknown } }).error;
    if (e && typeof e.type === 'string') return `: ${e.type}${typeof e.reason === 'string' ? `: ${e.reason.slice(0, 300)}` : ''}`;
  } catch {
    /* not JSON */
  }
  return '';
}

function readVersion(): string {
  for (const rel of ['../../../../package.json', '../../../package.json']) {
    try {
      const v = (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string });
      if (v.name === 'logship' && typeof v.version === 'string') return v.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
}
