/**
 * The elasticsearch sink against a small scripted server on 127.0.0.1 (a real
 * HTTP server that answers _bulk per item as scripted, and checks the NDJSON
 * framing): per-item handling (409 delivered, 429/5xx retried alone, 400 to
 * the dead-letter seam), whole-request failures (health degraded, then
 * recovered), version refusal, gzip, auth headers and secrets kept out of logs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { ElasticsearchSink } from '../../../../aggregator/sinks/elasticsearch/index.js';
import type { ElasticsearchSinkConfig } from '../../../../aggregator/sinks/elasticsearch/config.js';
import { documentId, documentJson, formatDate, metricsObject, TargetNamer } from '../../../../aggregator/sinks/elasticsearch/document.js';
import { actionLine, chunk, parseBulkResponse } from '../../../../aggregator/sinks/elasticsearch/bulk.js';
import { CHUNK_FIELDS, ES_BULK_OP, META_FIELDS, runEsBulk } from '../../../../aggregator/sinks/elasticsearch/bulk-job.js';
import { RecordDecoder, type StoredBatchesRead } from '../../../../aggregator/storage/record-decoder.js';
import { encodeStoredMeta, type StoredMeta } from '../../../../aggregator/storage/stored-meta.js';
import type { PartitionHandle } from '../../../../aggregator/storage/types.js';
import { PayloadPool } from '../../../../lib/protocol/payload-pool.js';
import type { StoredInput } from '../../../../lib/protocol/payload-jobs.js';
import { encodeFramed } from '../../../../lib/protocol/records.js';
import { FLAG_FRAMED, FLAG_METRICS } from '../../../../lib/protocol/codes.js';
import { FLAG_JSON } from '../../../../lib/protocol/json-records.js';
import { compressSync } from '../../../../lib/codec/zstd-pool.js';
import { clusterInfo } from '../../../../aggregator/sinks/elasticsearch/probe.js';
import { AimdLimiter } from '../../../../aggregator/sinks/elasticsearch/concurrency.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import type { PlainItem } from '../../../../aggregator/storage/types.js';
import { createAggregatorMetrics } from '../../../../aggregator/metrics.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { looseSecretFiles } from '../../../../bin/config/secret-files.js';

interface Doc {
  index: string;
  id: string;
  source: Record<string, unknown>;
}

/** Answers one _bulk item: status and optional error, given the doc and how often its id was sent. */
type Script = (doc: Doc, attempt: number) => { status: number; type?: string; reason?: string };

interface Tiny {
  url: string;
  docs: Map<string, Doc>;
  attempts: Map<string, number>;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; docs: number }>;
  /** whole-request answer override (status) for the next n bulk requests */
  failNext: { n: number; status: number; retryAfter?: string };
  version: { number: string; distribution?: string; header: boolean };
  script: Script;
  close(): Promise<void>;
}

async function startTiny(tls?: HttpsOptions): Promise<Tiny> {
  const t: Tiny = {
    url: '',
    docs: new Map(),
    attempts: new Map(),
    requests: [],
    failNext: { n: 0, status: 503 },
    version: { number: '8.17.0', header: true },
    script: () => ({ status: 201 }),
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  const handler: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const send = (status: number, obj: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...(t.version.header ? { 'x-elastic-product': 'Elasticsearch' } : {}), ...headers });
        res.end(JSON.stringify(obj));
      };
      const rec = { method: req.method!, url: req.url!, headers: req.headers, docs: 0 };
      t.requests.push(rec);
      if (req.method === 'GET' && req.url === '/') return send(200, { version: { number: t.version.number, ...(t.version.distribution ? { distribution: t.version.distribution } : {}) } });
      if (req.method === 'PUT' && req.url!.startsWith('/_index_template/')) return send(200, { acknowledged: true });
      if (req.method !== 'POST' || !req.url!.startsWith('/_bulk')) return send(404, { error: { type: 'not_found', reason: req.url } });
      if (t.failNext.n > 0) {
        t.failNext.n--;
        return send(t.failNext.status, { error: { type: 'es_rejected_execution_exception', reason: 'busy' } }, t.failNext.retryAfter ? { 'retry-after': t.failNext.retryAfter } : {});
      }
      const text = body.toString('utf8');
      if (!text.endsWith('\n')) return send(400, { error: { type: 'illegal_argument_exception', reason: 'The bulk request must be terminated by a newline [\\n]' } });
      const lines = text.slice(0, -1).split('\n');
      if (lines.length % 2 !== 0) return send(400, { error: { type: 'illegal_argument_exception', reason: 'odd line count' } });
      const items: unknown[] = [];
      let errors = false;
      for (let i = 0; i < lines.length; i += 2) {
        const action = JSON.parse(lines[i]!) as Record<string, { _index: string; _id: string }>;
        const keys = Object.keys(action);
        if (keys.length !== 1 || keys[0] !== 'create') return send(400, { error: { type: 'illegal_argument_exception', reason: `op ${keys[0]}` } });
        const meta = action.create!;
        if ('_type' in meta) return send(400, { error: { type: 'illegal_argument_exception', reason: '_type' } });
        const doc: Doc = { index: meta._index, id: meta._id, source: JSON.parse(lines[i + 1]!) as Record<string, unknown> };
        rec.docs++;
        const attempt = (t.attempts.get(doc.id) ?? 0) + 1;
        t.attempts.set(doc.id, attempt);
        const r = t.docs.has(doc.id) ? { status: 409, type: 'version_conflict_engine_exception', reason: 'document already exists' } : t.script(doc, attempt);
        if (r.status === 201) t.docs.set(doc.id, doc);
        if (r.status >= 300) errors = true;
        items.push({ create: { _index: doc.index, _id: doc.id, status: r.status, ...(r.status >= 300 ? { error: { type: r.type ?? 'x', reason: r.reason ?? 'x' } } : {}) } });
      }
      send(200, { took: 1, errors, items });
    });
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return t;
}

function config(url: string, over: Partial<ElasticsearchSinkConfig> = {}): ElasticsearchSinkConfig {
  return {
    type: 'elasticsearch',
    name: 'es',
    topics: ['app'],
    urls: [url],
    data_stream: 'logs-{topic}-default',
    manage_template: true,
    batch_max_bytes: 5 << 20,
    batch_max_docs: 5000,
    gzip: true,
    min_concurrency: 1,
    max_concurrency: 4,
    request_timeout: 10_000,
    ...over,
  };
}

function records(n: number, from = 0): StoredRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: from + i,
    timestamp: new Date(Date.UTC(2026, 11, 1, 10, 0, 0, i)).toISOString(),
    host: 'web1',
    source: '/var/log/app.log',
    source_offset: (from + i) * 10,
    message: `line ${from + i}`,
  }));
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(over: Partial<ElasticsearchSinkConfig> = {}, dead?: Array<{ topic: string; items: PlainItem[] }>) {
  const es = await startTiny();
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) });
  const metrics = createAggregatorMetrics(false);
  const sink = new ElasticsearchSink(
    config(es.url, over),
    { logger, metrics, appendPlain: dead ? async (topic, items) => void dead.push({ topic, items }) : undefined },
    { backoffMs: { min: 10, max: 100 } },
  );
  cleanups.push(() => es.close());
  cleanups.push(() => sink.close());
  return { es, sink, logs, metrics };
}

describe('elasticsearch sink: documents and ids', () => {
  it('builds an ECS document for a file record, with data_stream fields matching the stream name', () => {
    const namer = new TargetNamer('logs-{topic}-default', true);
    const r = records(1)[0]!;
    const target = namer.target('My-App', r.timestamp);
    expect(target.name).toBe('logs-my_app-default');
    const doc = JSON.parse(documentJson(r, { topic: 'My-App', target, version: '1.2.3' })) as Record<string, unknown>;
    expect(doc).toEqual({
      '@timestamp': '2026-12-01T10:00:00.000Z',
      message: 'line 0',
      host: { name: 'web1' },
      log: { file: { path: '/var/log/app.log' }, offset: 0 },
      event: { dataset: 'my_app', kind: 'event' },
      agent: { type: 'logship', version: '1.2.3', id: 'web1' },
      data_stream: { type: 'logs', dataset: 'my_app', namespace: 'default' },
    });
  });

  it('records from different hosts, files, topics and targets in turn each get their own fields', () => {
    const ds = new TargetNamer('logs-{topic}-default', true);
    const ix = new TargetNamer('logship-{topic}-{yyyy.MM.dd}', false);
    const base = records(1)[0]!;
    const cases = [
      { r: { ...base, host: 'a', source: '/x.log' }, topic: 'app', namer: ds },
      { r: { ...base, host: 'b', source: '/x.log' }, topic: 'app', namer: ds },
      { r: { ...base, host: 'b', source: '/y.log' }, topic: 'app', namer: ds },
      { r: { ...base, host: 'b', source: '/y.log' }, topic: 'web', namer: ds },
      { r: { ...base, host: 'b', source: '/y.log' }, topic: 'web', namer: ix },
      { r: { ...base, host: 'b', source: 'journald' }, topic: 'web', namer: ix },
    ];
    for (const { r, topic, namer } of [...cases, ...cases.reverse()]) {
      const target = namer.target(topic, r.timestamp);
      const doc = JSON.parse(documentJson(r, { topic, target, version: '1' })) as Record<string, any>;
      expect(doc.host.name).toBe(r.host);
      expect(doc.log?.file.path).toBe(r.source.startsWith('/') ? r.source : undefined);
      expect(doc.event.dataset).toBe(topic);
      expect(doc.data_stream?.dataset).toBe(namer.dataStream ? topic : undefined);
    }
  });

  it('dates index names from the record time (UTC) and keeps JSON-record fields without letting them overwrite ours', () => {
    const namer = new TargetNamer('logship-{topic}-{yyyy.MM.dd}', false);
    expect(namer.target('app', '2026-01-31T23:59:59.999Z').name).toBe('logship-app-2026.01.31');
    expect(formatDate('x-{yyyy.MM}', '2026-03-04T05:06:07.000Z')).toBe('x-2026.03');
    expect(namer.wildcard()).toBe('logship-*-*');
    const r = { ...records(1)[0]!, source: 'journald', labels: { unit: 'ssh' }, host: 'web1', '@timestamp': 'evil' } as StoredRecord;
    const doc = JSON.parse(documentJson(r, { topic: 'app', target: namer.target('app', r.timestamp), version: '1' })) as Record<string, unknown>;
    expect(doc.labels).toEqual({ unit: 'ssh' });
    expect(doc['@timestamp']).toBe(r.timestamp);
    expect(doc.log).toBeUndefined(); // not a file
    expect(doc.data_stream).toBeUndefined(); // an index, not a data stream
  });

  it('host-metric records become one document with metrics.<name> (labelled samples keyed by their sorted labels)', () => {
    const m = metricsObject([
      { name: 'node_memory_MemAvailable_bytes', labels: {}, value: 5 },
      { name: 'node_cpu_seconds_total', labels: { mode: 'user', cpu: '0' }, value: 1.5 },
      { name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/var', device: '/dev/sda1', fstype: 'ext4' }, value: 7 },
      { name: 'node_network_receive_bytes_total', labels: { device: 'eth0.100' }, value: 9 },
      { name: 'bad', value: 'x' },
    ]);
    expect(m).toEqual({
      node_memory_MemAvailable_bytes: 5,
      node_cpu_seconds_total: { 'cpu=0,mode=user': 1.5 },
      node_filesystem_avail_bytes: { 'device=/dev/sda1,fstype=ext4,mountpoint=/var': 7 },
      node_network_receive_bytes_total: { 'device=eth0_100': 9 },
    });
    const r: StoredRecord = { offset: 3, timestamp: '2026-12-01T00:00:00.000Z', host: 'web1', source: 'host_metrics', source_offset: 0, message: '', metrics: [{ name: 'node_load1', labels: {}, value: 0.5 }] };
    const doc = JSON.parse(documentJson(r, { topic: 'metrics', target: { name: 'm' }, version: '1' })) as Record<string, unknown>;
    expect(doc).toMatchObject({ event: { kind: 'metric' }, metrics: { node_load1: 0.5 } });
    expect(doc.message).toBeUndefined();
  });

  it('ids: same record same id; file records by host, path, offset and content; others by topic, partition, offset', () => {
    const [a, b] = records(2);
    expect(documentId('app', 0, a!)).toBe(documentId('other', 5, { ...a!, offset: 99 }));
    expect(documentId('app', 0, a!)).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(documentId('app', 0, a!)).not.toBe(documentId('app', 0, b!));
    // a rotated file reuses the path from offset 0: different content, different id
    expect(documentId('app', 0, a!)).not.toBe(documentId('app', 0, { ...a!, message: 'new file' }));
    const j = { ...a!, source: 'journald' };
    expect(documentId('app', 0, j)).not.toBe(documentId('app', 1, j));
    expect(documentId('app', 0, j)).toBe(documentId('app', 0, { ...j, message: 'other' }));
  });

  it('cuts requests by documents and bytes, and reads _bulk answers', () => {
    const items = Array.from({ length: 10 }, () => ({ lines: 'x', bytes: 100 }));
    expect(chunk(items, 4, 1 << 20).map((c) => c.length)).toEqual([4, 4, 2]);
    expect(chunk(items, 100, 250).map((c) => c.length)).toEqual([2, 2, 2, 2, 2]);
    expect(parseBulkResponse(Buffer.from('{"errors":false,"items":[]}'), 3)).toBeUndefined();
    expect(parseBulkResponse(Buffer.from('{"took":3,"errors":false,"items":[{"create":{"_type":"_doc","status":201}}]}'), 1)).toBeUndefined();
    expect(parseBulkResponse(Buffer.from('{"errors":true,"items":[{"create":{"_type":"_doc","status":429,"error":{"type":"es_rejected_execution_exception","reason":"r"}}}]}'), 1)).toEqual([
      { status: 429, type: 'es_rejected_execution_exception', reason: 'r' },
    ]);
    expect(() => parseBulkResponse(Buffer.from('{"errors":true,"items":[]}'), 1)).toThrow(/0 items for 1/);
  });

  it('detects Elasticsearch 7.17/8/9 and OpenSearch 1/2, and refuses the rest', () => {
    const res = (number: string, extra: Record<string, unknown> = {}, header = true) => ({
      status: 200,
      headers: header ? { 'x-elastic-product': 'Elasticsearch' } : {},
      body: Buffer.from(JSON.stringify({ version: { number, ...extra } })),
      url: 'http://es',
    });
    expect(clusterInfo(res('7.17.9', {}, false))).toMatchObject({ product: 'elasticsearch', major: 7 });
    expect(clusterInfo(res('8.17.0'))).toMatchObject({ product: 'elasticsearch', major: 8 });
    expect(clusterInfo(res('9.1.0'))).toMatchObject({ major: 9 });
    expect(clusterInfo(res('2.11.0', { distribution: 'opensearch' }, false))).toMatchObject({ product: 'opensearch', major: 2 });
    expect(() => clusterInfo(res('7.10.2', {}, false))).toThrow(/Elasticsearch 7\.10\.2: supported are 7\.17, 8\.x and 9\.x/);
    expect(() => clusterInfo(res('6.8.0'))).toThrow(/not supported|supported are/);
    expect(() => clusterInfo(res('8.17.0', {}, false))).toThrow(/X-Elastic-Product/);
    expect(() => clusterInfo(res('3.0.0', { distribution: 'opensearch' }))).toThrow(/OpenSearch 3\.0\.0/);
  });

  it('AIMD: grows by one per window of fast answers, halves on a 429', async () => {
    const l = new AimdLimiter({ min: 1, max: 8, initial: 2 });
    for (let i = 0; i < 20; i++) {
      await l.acquire();
      l.release(true, 10);
    }
    expect(l.limit).toBeGreaterThan(2);
    const before = l.limit;
    await l.acquire();
    l.release(false, 10);
    expect(l.limit).toBe(Math.max(1, Math.floor(before / 2)));
  });
});

describe('elasticsearch sink: delivery', () => {
  it('delivers every record once: 409 counts as delivered, item 429/503 are retried alone, a mapping conflict goes to the dead-letter topic', async () => {
    const dead: Array<{ topic: string; items: PlainItem[] }> = [];
    const { es, sink, metrics } = await setup({ dead_letter_topic: 'es-dead', batch_max_docs: 7 }, dead);
    es.script = (doc, attempt) => {
      const n = Number(String(doc.source.message).split(' ')[1]);
      if (n === 13) return { status: 400, type: 'mapper_parsing_exception', reason: 'failed to parse field [x]' };
      if (n % 5 === 0 && attempt === 1) return { status: 429, type: 'es_rejected_execution_exception', reason: 'queue full' };
      if (n % 7 === 0 && attempt < 3) return { status: 503, type: 'unavailable_shards_exception', reason: 'primary not active' };
      return { status: 201 };
    };
    await sink.start();
    const recs = records(50);
    await sink.deliver({ topic: 'app', partition: 0, records: recs });
    expect(es.docs.size).toBe(49);
    expect(sink.health()).toEqual({ ok: true });
    // only failed items were sent again: one extra for 429s, two for 503s
    for (const r of recs) {
      const id = documentId('app', 0, r);
      const n = r.offset;
      const want = n === 13 ? 1 : n % 7 === 0 ? 3 : n % 5 === 0 ? 2 : 1;
      expect(es.attempts.get(id), `attempts of line ${n}`).toBe(want);
    }
    // a redelivery (a crash before the commit) is all 409s and still resolves
    await sink.deliver({ topic: 'app', partition: 0, records: recs.slice(0, 20) });
    expect(es.docs.size).toBe(49);
    expect(dead).toHaveLength(2); // line 13 the first time and again on the redelivery
    const dl = JSON.parse(dead[0]!.items[0]!.payload.toString()) as Record<string, unknown>;
    expect(dead[0]!.topic).toBe('es-dead');
    expect(dl).toMatchObject({ sink: 'es', topic: 'app', partition: 0, offset: 13, status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [x]' }, record: { message: 'line 13', source_offset: 130 } });
    const text = await metrics.registry.metrics();
    expect(text).toContain('logship_aggregator_sink_docs_total{sink="es",result="indexed"} 49');
    expect(text).toContain('logship_aggregator_sink_docs_total{sink="es",result="duplicate"} 19');
    expect(text).toContain('logship_aggregator_sink_docs_total{sink="es",result="dead_lettered"} 2');
    expect(text).toMatch(/logship_aggregator_sink_items_retried_total\{sink="es",status="429"\} \d+/);
    expect(text).toMatch(/logship_aggregator_sink_items_retried_total\{sink="es",status="503"\} \d+/);
    // the wire: gzip, NDJSON, filter_path, template installed first
    const bulk = es.requests.filter((r) => r.url.startsWith('/_bulk'));
    expect(bulk.every((r) => r.headers['content-encoding'] === 'gzip' && r.headers['content-type'] === 'application/x-ndjson')).toBe(true);
    expect(bulk.every((r) => r.docs <= 7)).toBe(true);
    expect(es.requests.slice(0, 2).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /', 'PUT /_index_template/logship-es']);
  });

  it('without a dead-letter topic a rejected document is counted and dropped; delivery goes on', async () => {
    const { es, sink, logs, metrics } = await setup({ gzip: false });
    es.script = (doc) => (doc.source.message === 'line 2' ? { status: 400, type: 'document_parsing_exception', reason: 'bad' } : { status: 201 });
    await sink.start();
    await sink.deliver({ topic: 'app', partition: 0, records: records(5) });
    expect(es.docs.size).toBe(4);
    expect(await metrics.registry.metrics()).toContain('logship_aggregator_sink_docs_total{sink="es",result="dropped"} 1');
    expect(logs.some((l) => l.includes('dropped') && l.includes('document_parsing_exception'))).toBe(true);
  });

  it('whole-request 503s and 429s (Retry-After) are retried until they pass; health is degraded meanwhile', async () => {
    const { es, sink } = await setup();
    await sink.start();
    // Failing until the test has seen the degraded state (no race with the retries under load).
    es.failNext = { n: 1_000_000, status: 503 };
    const p = sink.deliver({ topic: 'app', partition: 0, records: records(10) });
    const deadline = Date.now() + 20_000;
    while (es.failNext.n > 1_000_000 - 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(sink.health().ok).toBe(false);
    expect(sink.health().reason).toMatch(/HTTP 503/);
    es.failNext.n = 0;
    await p;
    expect(es.docs.size).toBe(10);
    expect(sink.health()).toEqual({ ok: true });
    es.failNext = { n: 1, status: 429, retryAfter: '1' };
    const t0 = Date.now();
    await sink.deliver({ topic: 'app', partition: 0, records: records(5, 100) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // waited at least Retry-After (a lower bound only)
    expect(es.docs.size).toBe(15);
  });

  it('a connection refused is retried on the next URL (failover)', async () => {
    const es = await startTiny();
    cleanups.push(() => es.close());
    const sink = new ElasticsearchSink(config('http://127.0.0.1:1', { urls: ['http://127.0.0.1:1', es.url] }), { logger: pino({ level: 'silent' }) }, { backoffMs: { min: 10, max: 50 } });
    cleanups.push(() => sink.close());
    await sink.start();
    await sink.deliver({ topic: 'app', partition: 0, records: records(3) });
    expect(es.docs.size).toBe(3);
    expect((sink.status().url as string)).toBe(es.url);
  });

  it('refuses an unsupported cluster with a clear reason and does not deliver; close ends the wait', async () => {
    const { es, sink, logs } = await setup();
    es.version = { number: '7.10.2', header: false };
    await sink.start();
    const p = sink.deliver({ topic: 'app', partition: 0, records: records(1) }).then(() => 'resolved', (e: Error) => e.message);
    const deadline = Date.now() + 10_000;
    while (sink.health().ok !== false && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    while (!sink.health().reason?.includes('7.10.2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(sink.health().reason).toMatch(/Elasticsearch 7\.10\.2: supported are 7\.17/);
    expect(logs.some((l) => l.includes('"level":50') && l.includes('7.10.2'))).toBe(true);
    await sink.close();
    expect(await p).toMatch(/closing/);
    expect(es.docs.size).toBe(0);
  });

  it('sends ApiKey / Basic auth and never logs the secret', async () => {
    const secret = 'c2VjcmV0LWFwaS1rZXktdmFsdWUtMTIzNDU2';
    const { es, sink, logs } = await setup({ api_key: secret });
    await sink.start();
    es.failNext = { n: 2, status: 401 };
    await sink.deliver({ topic: 'app', partition: 0, records: records(2) });
    expect(es.requests.every((r) => r.headers.authorization === `ApiKey ${secret}`)).toBe(true);
    expect(logs.some((l) => l.includes('401'))).toBe(true);
    expect(logs.join('\n')).not.toContain(secret);
    expect(JSON.stringify(sink.status())).not.toContain(secret);

    const b = await setup({ username: 'elastic', password: 'pa55-word-xyz' });
    await b.sink.start();
    await b.sink.deliver({ topic: 'app', partition: 0, records: records(1) });
    expect(b.es.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('elastic:pa55-word-xyz').toString('base64')}`);
    expect(b.logs.join('\n')).not.toContain('pa55-word-xyz');
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in a temp dir. */
function makePki(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'logship-es-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=logship es test CA');
  for (const name of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), name === 'server' ? 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('elasticsearch sink: TLS', () => {
  it('verifies the cluster with ca_file and presents a client certificate; an unknown CA is refused (degraded), verify: false accepts it', async () => {
    const pki = makePki();
    cleanups.push(async () => pki.cleanup());
    const f = (n: string) => join(pki.dir, n);
    const es = await startTiny({ cert: readFileSync(f('server.pem')), key: readFileSync(f('server.key')), ca: readFileSync(f('ca.pem')), requestCert: true, rejectUnauthorized: true });
    cleanups.push(() => es.close());
    const mk = (tls: ElasticsearchSinkConfig['tls']) => {
      const sink = new ElasticsearchSink(config(es.url, { tls }), { logger: pino({ level: 'silent' }) }, { backoffMs: { min: 10, max: 50 } });
      cleanups.push(() => sink.close());
      return sink;
    };
    const good = mk({ ca_file: f('ca.pem'), cert_file: f('client.pem'), key_file: f('client.key'), verify: true });
    await good.start();
    await good.deliver({ topic: 'app', partition: 0, records: records(3) });
    expect(es.docs.size).toBe(3);

    const unknownCa = mk({ cert_file: f('client.pem'), key_file: f('client.key'), verify: true });
    await unknownCa.start();
    const deadline = Date.now() + 10_000;
    while (!/certificate|CERT/i.test(unknownCa.health().reason ?? '') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(unknownCa.health()).toMatchObject({ ok: false, reason: expect.stringMatching(/certificate|CERT/i) });
    await unknownCa.close();

    const noVerify = mk({ cert_file: f('client.pem'), key_file: f('client.key'), verify: false });
    await noVerify.start();
    await noVerify.deliver({ topic: 'app', partition: 0, records: records(2, 10) });
    expect(es.docs.size).toBe(5);
  });

  it('secret files of the sink are checked for loose permissions like token files (never their content)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logship-es-secret-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'pw'), 'hunter2-secret\n', { mode: 0o644 });
    writeFileSync(join(dir, 'user'), 'elastic\n', { mode: 0o600 });
    const cfg = parseAggregatorConfig(
      `listen: 127.0.0.1:0\ndata_dir: ${dir}\nsinks:\n  - {name: es, type: elasticsearch, topics: [app], urls: [http://127.0.0.1:9200], username_file: ${join(dir, 'user')}, password_file: ${join(dir, 'pw')}}\n`,
      'agg.yaml',
      {},
    );
    const warnings = looseSecretFiles({ aggregator: cfg });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^sinks\[0\]\.password_file: /);
    expect(warnings.join('\n')).not.toContain('hunter2');
  });

  it('config: refuses a dead-letter topic the sink reads, credentials in a URL, upper-case names; fills defaults', () => {
    const parse = (sink: string) => () => parseAggregatorConfig(`listen: 127.0.0.1:0\ndata_dir: /tmp/x\nsinks:\n  - {name: es, type: elasticsearch, topics: [app], ${sink}}\n`, 'agg.yaml', {});
    expect(parse('urls: [http://127.0.0.1:9200], dead_letter_topic: app')).toThrow(/agg\.yaml:4:\d+: sinks\[0\]\.dead_letter_topic: "app" is also one of this sink's topics/);
    expect(parse('urls: ["http://elastic:pw@127.0.0.1:9200"]')).toThrow(/sinks\[0\]\.urls\[0\]: credentials in the URL are not used/);
    expect(parse('urls: [http://127.0.0.1:9200], index: "Logs-{topic}"')).toThrow(/lower case/);
    expect(parse('urls: [http://127.0.0.1:9200], api_key: a, password: b, username: c')).toThrow(/set api_key or username and password, not both/);
    expect(parse('urls: [http://127.0.0.1:9200], password_file: /x, password: y, username: u')).toThrow(/set password or password_file, not both/);
    const ok = parse('urls: [http://127.0.0.1:9200], index: "logship-{topic}-{yyyy.MM.dd}"')().sinks[0] as unknown as ElasticsearchSinkConfig;
    expect(ok).toMatchObject({ index: 'logship-{topic}-{yyyy.MM.dd}', manage_template: false, gzip: true, batch_max_docs: 5000, batch_max_bytes: 5 << 20, max_concurrency: 8 });
    expect(ok.data_stream).toBeUndefined();
    const ds = parse('urls: [http://127.0.0.1:9200]')().sinks[0] as unknown as ElasticsearchSinkConfig;
    expect(ds).toMatchObject({ data_stream: 'logs-{topic}-default', manage_template: true });
  });

  it('a missing secret file is a config error naming the key and file, not its content', () => {
    expect(() => new ElasticsearchSink(config('http://127.0.0.1:1', { api_key_file: '/nonexistent/es.key' }), { logger: pino({ level: 'silent' }) })).toThrow(
      /api_key_file: \/nonexistent\/es\.key: cannot read it: no such file/,
    );
  });
});

/** Stored batches as a storage read gives them to a BatchDecoder, and the records the usual decoding makes of them. */
function storedRead(over: { maxBytes?: number; from?: number } = {}) {
  const lines = [
    'plain ascii line',
    'with "quotes" and \\backslash\\',
    'tab\there and \u0001 control',
    'unicode caf\u00e9 \u{1F600} \u2028',
    '',
    '{"looks":"like json"}',
  ];
  const bad = Buffer.concat([Buffer.from('bad utf8 '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(' end')]);
  type B = StoredInput & { meta: StoredMeta; timestamp: number };
  const batches: B[] = [];
  let base = 0;
  const add = (host: string, source: string, raw: Buffer, n: number, codec: number, flags = 0) => {
    const payload = codec === 1 ? compressSync(raw) : raw;
    batches.push({ payload, codec, flags, rawLength: raw.length, lines: n, baseOffset: base, sourceOffset: 1000 + base * 7, timestamp: Date.UTC(2026, 11, 1, 23, 59, 59, base), meta: { flags, codec, host, source, sourceOffset: 1000 + base * 7, producer: 'p', epoch: 1, seq: base, rawLength: raw.length } });
    base += n;
  };
  const text = (ls: Array<string | Buffer>) => Buffer.concat(ls.map((l) => Buffer.concat([typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')])));
  add('web1', '/var/log/app.log', text([...lines, bad]), lines.length + 1, 1);
  add('web-\u00e9', '/var/log/other "q".log', text(lines.slice(0, 3)), 3, 0);
  add('web2', 'journald:nginx.service', text([...lines, bad]), lines.length + 1, 1);
  const framed = encodeFramed([
    { message: Buffer.from('a long line, part one'), sourceBytes: 21, flags: 1 },
    { message: Buffer.from('part two'), sourceBytes: 9, flags: 0 },
    { message: Buffer.from('no newline at the end'), sourceBytes: 21, flags: 2 },
  ]);
  add('web1', '/var/log/app.log', framed, 3, 1, FLAG_FRAMED);
  const metas = new Map(batches.map((b) => [b.baseOffset, b.meta]));
  const timestamps = new Map(batches.map((b) => [b.baseOffset, b.timestamp]));
  return { batches, metas, timestamps, from: over.from ?? 0, maxBytes: over.maxBytes ?? 1 << 20, total: base };
}

/** The records the usual path makes of those batches (RecordDecoder over a storage stub). */
async function recordsOf(s: ReturnType<typeof storedRead>, pool: PayloadPool): Promise<{ records: StoredRecord[]; next: number }> {
  const decoder = new RecordDecoder({ payloads: pool, maxRawBytes: 1 << 20, onSkipped: () => undefined });
  const handle = { topic: 'app', partition: 3, nextOffset: s.total, read: async () => s.batches.map((b) => ({ baseOffset: b.baseOffset, count: b.lines, timestamp: b.timestamp, meta: encodeStoredMeta(b.meta), payload: Buffer.from(b.payload) })) } as unknown as PartitionHandle;
  return decoder.readOnce(handle, s.from, s.maxBytes);
}

/** Those batches as the storage read a sink's decode() gets; payloads copied, since a job may move them to a worker. */
function batchesRead(s: ReturnType<typeof storedRead>, pool: PayloadPool, partition: number, records: StoredBatchesRead['records']): StoredBatchesRead {
  return {
    topic: 'app',
    partition,
    batches: s.batches.map((b) => ({ ...b, payload: Buffer.from(b.payload) })),
    metas: s.batches.map((b) => b.meta),
    timestamps: s.batches.map((b) => b.timestamp),
    from: 0,
    maxBytes: 1 << 20,
    maxRaw: 1 << 20,
    payloads: pool,
    records,
  };
}

describe('elasticsearch sink: request bodies built on the payload workers', () => {
  const pool = new PayloadPool(0);

  for (const [label, pattern, ds] of [
    ['data stream', 'logs-{topic}-default', true],
    ['dated index', 'logship-{topic}-{yyyy.MM.dd}', false],
  ] as const) {
    it(`writes byte for byte the documents and ids of the record path (${label}): escapes, non-ASCII, bad UTF-8, framed, non-file sources, a start inside a batch, max_bytes`, async () => {
      for (const over of [{}, { from: 5 }, { from: 2, maxBytes: 150 }]) {
        const s = storedRead(over);
        const namer = new TargetNamer(pattern, ds);
        const want = await recordsOf(s, pool);
        const info = s.batches.map((b) => {
          const iso = new Date(b.timestamp).toISOString();
          const t = namer.target('app', iso);
          return { host: b.meta.host, source: b.meta.source, iso, target: t.name, ...(t.stream ? { stream: t.stream } : {}) };
        });
        for (const gzip of [false, true]) {
          const r = runEsBulk({ op: ES_BULK_OP, batches: s.batches.map((b) => ({ ...b, payload: Buffer.from(b.payload) })), info, topic: 'app', partition: 3, version: '1.2.3', from: s.from, maxBytes: s.maxBytes, maxRaw: 1 << 20, maxDocs: 4, maxBodyBytes: 900, gzip });
          expect(r.count).toBe(want.records.length);
          expect(r.next).toBe(want.next);
          const items = want.records.map((rec) => {
            const target = namer.target('app', rec.timestamp);
            const lines = `${actionLine(target.name, documentId('app', 3, rec))}${documentJson(rec, { topic: 'app', target, version: '1.2.3' })}\n`;
            return { lines, bytes: Buffer.byteLength(lines) };
          });
          expect(Buffer.from(r.body).subarray(0, r.bodyLength).toString('utf8')).toBe(items.map((x) => x.lines).join(''));
          // per document: offset, source offset and flags of its record
          for (let d = 0; d < r.count; d++) {
            const rec = want.records[d]!;
            expect([r.meta[d * META_FIELDS], r.meta[d * META_FIELDS + 1], r.meta[d * META_FIELDS + 2]]).toEqual([rec.offset, rec.source_offset, rec.flags ?? 0]);
          }
          // requests cut as chunk() cuts them; gzipped bodies inflate to the same bytes
          const cuts = chunk(items, 4, 900);
          expect(r.chunks.length / CHUNK_FIELDS).toBe(cuts.length);
          let doc = 0;
          for (let k = 0; k < cuts.length; k++) {
            const [first, end, a, z] = Array.from(r.chunks.subarray(k * CHUNK_FIELDS, (k + 1) * CHUNK_FIELDS));
            expect([first, end]).toEqual([doc, doc + cuts[k]!.length]);
            doc = end!;
            const wire = gzip ? gunzipSync(Buffer.from(r.wire).subarray(a, z)) : Buffer.from(r.body).subarray(a, z);
            expect(wire.toString('utf8')).toBe(cuts[k]!.map((x) => x.lines).join(''));
          }
        }
      }
    });
  }

  it('a batch whose payload disagrees with its header is skipped and reported; the rest are built', () => {
    const s = storedRead();
    s.batches[1]!.rawLength += 5;
    const info = s.batches.map((b) => ({ host: b.meta.host, source: b.meta.source, iso: new Date(b.timestamp).toISOString(), target: 'logs-app-default' }));
    const r = runEsBulk({ op: ES_BULK_OP, batches: s.batches, info, topic: 'app', partition: 0, version: '1', from: 0, maxBytes: 1 << 20, maxRaw: 1 << 20, maxDocs: 100, maxBodyBytes: 1 << 20, gzip: false });
    expect(r.skipped).toEqual([{ baseOffset: 7, lines: 3, reason: expect.any(String) }]);
    expect(r.count).toBe(s.total - 3);
    expect(r.next).toBe(s.total);
  });

  it('delivers through the sink exactly as records do: 409 delivered, item 429/503 retried alone, a mapping conflict dead-lettered with its original record', async () => {
    const dead: Array<{ topic: string; items: PlainItem[] }> = [];
    const { es, sink, metrics } = await setup({ dead_letter_topic: 'es-dead', batch_max_docs: 3 }, dead);
    es.script = (doc, attempt) => {
      const n = Number(doc.source['log'] ? (doc.source['log'] as { offset: number }).offset : -1);
      if (doc.source.message === 'part two') return { status: 400, type: 'mapper_parsing_exception', reason: 'failed to parse field [x]' };
      if (n % 5 === 0 && attempt === 1) return { status: 429, type: 'es_rejected_execution_exception', reason: 'queue full' };
      if (n % 3 === 0 && attempt < 3) return { status: 503, type: 'unavailable_shards_exception', reason: 'primary not active' };
      return { status: 201 };
    };
    await sink.start();
    const s = storedRead();
    const want = await recordsOf(s, pool);
    const read = () => batchesRead(s, pool, 3, () => recordsOf(s, pool));
    const d = await sink.decode(read());
    expect('value' in d && d.count).toBe(s.total);
    await sink.deliver({ topic: 'app', partition: 3, records: [], decoded: (d as { value: unknown }).value });
    expect(es.docs.size).toBe(s.total - 1);
    // the same documents and ids the record path makes
    const ids = want.records.map((r) => documentId('app', 3, r));
    expect([...es.docs.keys()].sort()).toEqual(ids.filter((_, i) => want.records[i]!.message !== 'part two').sort());
    // a redelivery (a crash before the commit) is all 409s and still resolves
    await sink.deliver({ topic: 'app', partition: 3, records: [], decoded: ((await sink.decode(read())) as { value: unknown }).value });
    expect(es.docs.size).toBe(s.total - 1);
    expect(dead).toHaveLength(2);
    const dl = JSON.parse(dead[0]!.items[0]!.payload.toString()) as Record<string, unknown>;
    const orig = want.records.find((r) => r.message === 'part two')!;
    expect(dl).toMatchObject({ sink: 'es', topic: 'app', partition: 3, offset: orig.offset, status: 400, error: { type: 'mapper_parsing_exception' } });
    expect(dl.record).toEqual(orig);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`logship_aggregator_sink_docs_total{sink="es",result="indexed"} ${s.total - 1}`);
    expect(text).toContain(`logship_aggregator_sink_docs_total{sink="es",result="duplicate"} ${s.total - 1}`);
    expect(text).toMatch(/logship_aggregator_sink_items_retried_total\{sink="es",status="429"\} \d+/);
    expect(text).toMatch(/logship_aggregator_sink_items_retried_total\{sink="es",status="503"\} \d+/);
    const bulk = es.requests.filter((r) => r.url.startsWith('/_bulk'));
    expect(bulk.every((r) => r.headers['content-encoding'] === 'gzip' && r.docs <= 3)).toBe(true);
  });

  it('structured (JSON) and host-metric batches, and topics with a pipeline, take the record path', async () => {
    const { sink } = await setup();
    const s = storedRead();
    const base = batchesRead(s, pool, 0, async () => ({ records: [], next: 42 }));
    for (const flag of [FLAG_JSON, FLAG_METRICS]) {
      const r = await sink.decode({ ...base, metas: base.metas.map((m, i) => (i === 2 ? { ...m, flags: m.flags | flag } : m)) });
      expect(r).toEqual({ records: [], next: 42 });
    }
    expect('value' in (await sink.decode(base))).toBe(true);
  });
});
