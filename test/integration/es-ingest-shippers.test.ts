/**
 * Issue 13, acceptance: _bulk request bodies as Filebeat 8, Fluent Bit's es
 * output, Vector's elasticsearch sink and Logstash's elasticsearch output send
 * them (fixtures built from their documented formats and headers: see
 * test/fixtures/es-bulk/README.md) are accepted by a real aggregator and read
 * back correctly: one record per document, message = the document's JSON,
 * topic = the action's _index, host = host.name (Vector: its string host;
 * else the client address),
 * timestamp = @timestamp (else the arrival time). filter_path as Filebeat and
 * Logstash send it trims the answer; a create whose _id is held answers 409.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../helpers/procs.js';
import { call, readTopic, startEsAggregator, type EsAggregator, type RawAnswer } from '../helpers/es-ingest.js';

const DIR = join(ROOT, 'test/fixtures/es-bulk');

interface FixtureRequest {
  name: string;
  body: string;
  method: string;
  path: string;
  gzip: boolean;
  auth: 'basic' | 'apikey-b64' | 'apikey-raw';
  headers: Record<string, string>;
}

interface Op {
  op: string;
  index: string;
  id?: string;
  doc: Record<string, any>;
  line: string;
}

const requests = (JSON.parse(readFileSync(join(DIR, 'requests.json'), 'utf8')) as { requests: FixtureRequest[] }).requests;

function parseBody(text: string): Op[] {
  const lines = text.split('\n');
  expect(lines.pop(), 'fixtures end with a newline, as every shipper sends them').toBe('');
  const ops: Op[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const action = JSON.parse(lines[i]!) as Record<string, { _index: string; _id?: string }>;
    const [op, meta] = Object.entries(action)[0]!;
    ops.push({ op, index: meta._index, id: meta._id, doc: JSON.parse(lines[i + 1]!), line: lines[i + 1]! });
  }
  return ops;
}

function authHeader(kind: FixtureRequest['auth'], token: string): string {
  if (kind === 'basic') return `Basic ${Buffer.from(`elastic:${token}`).toString('base64')}`;
  if (kind === 'apikey-b64') return `ApiKey ${Buffer.from(`shipper-key-id:${token}`).toString('base64')}`;
  return `ApiKey ${token}`;
}

/** A document as stored: the same JSON value (key order and spacing may differ). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

describe('shipper request bodies (Filebeat 8, Fluent Bit, Vector, Logstash)', () => {
  let agg: EsAggregator;
  /** per topic: what must be stored, with when it was sent */
  const expected = new Map<string, Array<{ doc: Record<string, any>; sentAt: [number, number]; from: string }>>();
  const heldIds = new Set<string>();

  beforeAll(async () => {
    agg = await startEsAggregator({}, 'logship-es-shippers-');
  });
  afterAll(async () => {
    await agg?.cleanup();
  });

  for (const r of requests) {
    it(`accepts ${r.name}`, async () => {
      const text = readFileSync(join(DIR, r.body), 'utf8');
      const ops = parseBody(text);
      const headers = { ...r.headers, authorization: authHeader(r.auth, agg.token), ...(r.gzip ? { 'content-encoding': 'gzip' } : {}) };
      const t0 = Date.now();
      const res: RawAnswer = await call(r.method, `${agg.url}${r.path}`, { body: r.gzip ? gzipSync(text) : text, headers });
      const t1 = Date.now();
      expect(res.status, res.text.slice(0, 500)).toBe(200);
      expect(res.headers['x-elastic-product']).toBe('Elasticsearch');
      const filtered = r.path.includes('filter_path=errors,items.*.error,items.*.status');
      // Compact, as Elasticsearch writes it (Vector searches the raw bytes for "errors":true).
      expect(res.text).toBe(JSON.stringify(res.json));
      if (filtered) expect(Object.keys(res.json).sort()).toEqual(['errors', 'items']);
      else expect(typeof res.json.took).toBe('number');
      expect(res.json.items).toHaveLength(ops.length);
      let anyError = false;
      ops.forEach((o, i) => {
        const item = res.json.items[i] as Record<string, any>;
        expect(Object.keys(item), `item ${i}`).toEqual([o.op]);
        const key = o.id === undefined ? undefined : `${o.index}\u0000${o.id}`;
        const dup = key !== undefined && o.op === 'create' && heldIds.has(key);
        if (dup) {
          anyError = true;
          expect(item.create.status, `item ${i}`).toBe(409);
          expect(item.create.error.type).toBe('version_conflict_engine_exception');
        } else {
          expect(item[o.op].status, `item ${i}: ${JSON.stringify(item)}`).toBe(201);
          expect(item[o.op].error).toBeUndefined();
          if (key !== undefined) heldIds.add(key);
          const list = expected.get(o.index) ?? [];
          list.push({ doc: o.doc, sentAt: [t0, t1], from: r.name });
          expected.set(o.index, list);
        }
        if (filtered) expect(Object.keys(item[o.op]).filter((k) => k !== 'status' && k !== 'error'), `item ${i} trimmed by filter_path`).toEqual([]);
        else expect(item[o.op]).toMatchObject({ _index: o.index, result: 'created' });
      });
      expect(res.json.errors).toBe(anyError);
    });
  }

  it('answers the calls shippers make at start: GET / (8.x for the Beats version check), HEAD /, _license, _cluster/health, _cat/health', async () => {
    const h = { authorization: authHeader('basic', agg.token) };
    const root = await call('GET', `${agg.url}/`, { headers: h });
    expect(root.status).toBe(200);
    expect(root.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(root.json).toMatchObject({ tagline: 'You Know, for Search', version: { build_flavor: 'default' } });
    // Filebeat refuses a server older than itself (unless allow_older_versions): at least the Beat of the fixtures.
    const [maj, min] = String(root.json.version.number).split('.').map(Number);
    expect(maj).toBe(8);
    expect(min).toBeGreaterThanOrEqual(17);
    const head = await call('HEAD', `${agg.url}/`, { headers: h });
    expect(head.status).toBe(200);
    expect(head.headers['x-elastic-product']).toBe('Elasticsearch');
    const lic = await call('GET', `${agg.url}/_license?human=false`, { headers: { ...h, 'x-elastic-product-origin': 'beats' } });
    expect(lic.status).toBe(200);
    expect(lic.json.license).toMatchObject({ status: 'active' });
    expect((await call('GET', `${agg.url}/_cluster/health`, { headers: h })).status).toBe(200);
    expect((await call('GET', `${agg.url}/_cat/health`, { headers: h })).status).toBe(200);
  });

  it('filter_path forms -took and items.*.error; the compatible-with=7 media type; an invalid index name fails its item only', async () => {
    const h = { authorization: authHeader('apikey-raw', agg.token) };
    const a = await call('POST', `${agg.url}/_bulk?filter_path=-took`, { body: '{"index":{"_index":"forms"}}\n{"a":1}\n', headers: { ...h, 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=7' } });
    expect(a.status, a.text).toBe(200);
    expect(Object.keys(a.json).sort()).toEqual(['errors', 'items']);
    expect(a.json.items[0].index.status).toBe(201);
    const body = '{"create":{"_index":"forms","_id":"f1"}}\n{"a":2}\n{"create":{"_index":"forms","_id":"f1"}}\n{"a":2}\n{"index":{"_index":"bad name"}}\n{"a":3}\n';
    const b = await call('POST', `${agg.url}/_bulk?filter_path=items.*.error`, { body, headers: { ...h, 'content-type': 'application/json' } });
    expect(b.status, b.text).toBe(200);
    // Only the failed items keep an entry, each with only its error (as Elasticsearch drops emptied objects).
    expect(b.json).toEqual({ items: [{ create: { error: expect.objectContaining({ type: 'version_conflict_engine_exception' }) } }, { index: { error: expect.objectContaining({ type: 'invalid_index_name_exception' }) } }] });
    expect((await readTopic(agg.url, 'forms')).map((r) => r.message).sort()).toEqual(['{"a":1}', '{"a":2}']);
  });

  it('reads every document back once, in its topic, with message, host and timestamp right', async () => {
    expect([...expected.keys()].sort()).toEqual(['filebeat-8.17.0', 'fluent-bit', 'logs-generic-default', 'logstash-2026.12.01', 'logstash-app-2026.12.01', 'vector-2026.12.01']);
    for (const [topic, want] of expected) {
      const got = await readTopic(agg.url, topic);
      expect(got.length, topic).toBe(want.length);
      const left = [...want];
      for (const rec of got) {
        const doc = JSON.parse(rec.message) as Record<string, any>;
        const i = left.findIndex((w) => canonical(w.doc) === canonical(doc));
        expect(i, `${topic}: stored a document not sent (or twice): ${rec.message.slice(0, 300)}`).toBeGreaterThanOrEqual(0);
        const w = left.splice(i, 1)[0]!;
        // host.name (ECS: Filebeat, Logstash), or Vector's plain string host (its log schema), else the client address.
        const h = w.doc.host;
        const hostName = h && typeof h === 'object' && typeof h.name === 'string' ? h.name : typeof h === 'string' ? h : undefined;
        expect(rec.host, `${w.from}: host`).toBe(hostName ?? '127.0.0.1');
        const ts = Date.parse(rec.timestamp);
        if (typeof w.doc['@timestamp'] === 'string') {
          // Nanosecond timestamps (Vector) keep their milliseconds.
          expect(rec.timestamp, `${w.from}: timestamp`).toBe(new Date(Date.parse(w.doc['@timestamp'])).toISOString());
        } else {
          expect(ts, `${w.from}: no @timestamp, so the arrival time`).toBeGreaterThanOrEqual(w.sentAt[0] - 1000);
          expect(ts).toBeLessThanOrEqual(w.sentAt[1] + 1000);
        }
      }
      expect(left).toEqual([]);
    }
  });

  it('the stored message is the document JSON byte for byte when the shipper sent it compactly', async () => {
    const sent = readFileSync(join(DIR, 'logstash.ndjson'), 'utf8').split('\n').filter((_, i) => i % 2 === 1);
    const got = (await readTopic(agg.url, 'logstash-app-2026.12.01')).map((r) => r.message);
    expect(got.sort()).toEqual(sent.filter((l) => l !== '').sort());
  });
});
