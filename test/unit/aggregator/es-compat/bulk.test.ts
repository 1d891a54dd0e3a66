/**
 * The Elasticsearch-compatible routes against an aggregator in process (real
 * HTTP on 127.0.0.1, real data dir): product check, auth schemes, start-up
 * calls, _bulk storage (message, host, timestamp), gzip and its cap,
 * filter_path, limits and their metrics, and the _id window across a restart,
 * including ids whose journal lines were lost (rebuilt from the log).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { Aggregator } from '../../../../aggregator/index.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir } from '../../../helpers/procs.js';

const TOKEN = 'bulk-test-token-0123456789';
const APPONLY = 'app-only-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NDJSON = { 'content-type': 'application/x-ndjson' };

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function start(extraYaml = ''): Promise<{ url: string; agg: Aggregator; dir: string; restart: () => Promise<void> }> {
  const tmp = await tempDir();
  const yaml = `listen: 127.0.0.1:0
data_dir: ${join(tmp.dir, 'data')}
auth:
  tokens:
    - {name: t, token: ${TOKEN}, scopes: [ingest, read]}
    - {name: apponly, token: ${APPONLY}, scopes: [ingest], topics: [app]}
topics:
  default: {partitions: 2}
${extraYaml}`;
  const config = parseAggregatorConfig(yaml, 'agg.yaml', {});
  const state = { agg: new Aggregator({ config, logger: silentLogger(), fsync: false }), url: '' };
  const boot = async () => {
    const addr = await state.agg.start();
    state.url = `http://127.0.0.1:${addr.port}`;
  };
  await boot();
  cleanups.push(async () => {
    await state.agg.close();
    await tmp.cleanup();
  });
  return {
    get url() {
      return state.url;
    },
    get agg() {
      return state.agg;
    },
    dir: tmp.dir,
    restart: async () => {
      await state.agg.close();
      state.agg = new Aggregator({ config, logger: silentLogger(), fsync: false });
      await boot();
    },
  };
}

async function call(url: string, o: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
  const res = await request(url, { method: (o.method ?? 'GET') as 'GET', headers: o.headers ?? AUTH, ...(o.body !== undefined ? { body: o.body } : {}) });
  const text = await res.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

async function records(url: string, topic: string): Promise<any[]> {
  const out: any[] = [];
  for (let p = 0; p < 2; p++) {
    const r = await call(`${url}/v1/topics/${topic}/partitions/${p}/records?offset=0`);
    if (r.status === 200) out.push(...r.json.records);
  }
  return out;
}

const bulkLine = (action: string, meta: Record<string, unknown>, doc?: unknown) => `${JSON.stringify({ [action]: meta })}\n${doc === undefined ? '' : `${JSON.stringify(doc)}\n`}`;

describe('Elasticsearch-compatible ingest', () => {
  it('answers GET/HEAD / as Elasticsearch 8 with the product header; ApiKey (raw or base64 id:key) and Basic with the token as password; 401s carry the header too', { timeout: 60_000 }, async () => {
    const s = await start();
    const unauth = await call(`${s.url}/`, { headers: {} });
    expect(unauth.status).toBe(401);
    expect(unauth.headers['x-elastic-product']).toBe('Elasticsearch');
    for (const authorization of [
      `ApiKey ${Buffer.from(`some-id:${TOKEN}`).toString('base64')}`,
      `ApiKey ${TOKEN}`,
      `Basic ${Buffer.from(`elastic:${TOKEN}`).toString('base64')}`,
      `Bearer ${TOKEN}`,
    ]) {
      const r = await call(`${s.url}/`, { headers: { authorization } });
      expect(r.status, authorization.split(' ')[0]).toBe(200);
      expect(r.headers['x-elastic-product']).toBe('Elasticsearch');
      expect(r.json.version.number).toMatch(/^8\.\d+\.\d+$/);
      expect(r.json.version).toMatchObject({ build_flavor: 'default', minimum_wire_compatibility_version: expect.any(String), lucene_version: expect.any(String) });
      expect(r.json.tagline).toBe('You Know, for Search');
    }
    expect((await call(`${s.url}/`, { headers: { authorization: `ApiKey ${Buffer.from('id:wrong-token-0123456789').toString('base64')}` } })).status).toBe(401);
    // Basic and ApiKey are for the ES routes only
    expect((await call(`${s.url}/v1/topics`, { headers: { authorization: `ApiKey ${TOKEN}` } })).status).toBe(401);
    const head = await call(`${s.url}/`, { method: 'HEAD' });
    expect([head.status, head.headers['x-elastic-product'], head.text]).toEqual([200, 'Elasticsearch', '']);
  });

  it('answers the start-up calls harmlessly; templates and policies are remembered in memory', { timeout: 60_000 }, async () => {
    const s = await start();
    expect((await call(`${s.url}/_license?human=false`)).json.license).toMatchObject({ type: 'basic', status: 'active' });
    expect((await call(`${s.url}/_cluster/health`)).json).toMatchObject({ status: 'green', timed_out: false });
    expect((await call(`${s.url}/_cat/health`)).status).toBe(200);
    const nodes = (await call(`${s.url}/_nodes/http`)).json;
    expect(Object.values(nodes.nodes as Record<string, any>)[0].http.publish_address).toBe(s.url.slice('http://'.length));
    expect((await call(`${s.url}/_xpack`)).json.license.status).toBe('active');
    expect((await call(`${s.url}/_ilm/policy/filebeat`)).status).toBe(404);
    expect((await call(`${s.url}/_index_template/filebeat-8`, { method: 'HEAD' })).status).toBe(404);
    const put = await call(`${s.url}/_index_template/filebeat-8`, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"index_patterns":["filebeat-*"],"data_stream":{}}' });
    expect([put.status, put.json]).toEqual([200, { acknowledged: true }]);
    expect((await call(`${s.url}/_index_template/filebeat-8`, { method: 'HEAD' })).status).toBe(200);
    expect((await call(`${s.url}/_index_template/filebeat-8`)).json.index_templates[0]).toEqual({ name: 'filebeat-8', index_template: { index_patterns: ['filebeat-*'], data_stream: {} } });
  });

  it('stores each document as one record: message = the line as sent, host from host.name or the client, timestamp from @timestamp', { timeout: 60_000 }, async () => {
    const s = await start();
    const docs = [
      { '@timestamp': '2024-05-01T12:00:00.000Z', message: 'first', host: { name: 'web1' } },
      { '@timestamp': '2024-05-01T12:00:01.500Z', message: 'second', host: { name: 'web1' }, nested: { a: [1, 2] } },
      { message: 'no host, no time', '@timestamp': 'yesterday' },
    ];
    const body = bulkLine('create', { _index: 'app', _type: '_doc' }, docs[0]) + bulkLine('index', {}, docs[1]) + bulkLine('create', {}, docs[2]);
    const before = Date.now();
    const r = await call(`${s.url}/app/_bulk`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=8' }, body });
    expect(r.status).toBe(200);
    expect(r.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(r.text).toContain('"errors":false');
    expect(r.json.items.map((i: any) => Object.keys(i)[0])).toEqual(['create', 'index', 'create']);
    // compact, in Elasticsearch's key order, exactly what JSON.stringify writes
    expect(r.text).toBe(JSON.stringify(r.json));
    expect(Object.keys(r.json)).toEqual(['took', 'errors', 'items']);
    expect(Object.keys(r.json.items[0].create)).toEqual(['_index', '_id', '_version', 'result', '_shards', '_seq_no', '_primary_term', 'status']);
    expect(r.json.items.map((i: any) => Object.values(i)[0])).toEqual([
      expect.objectContaining({ _index: 'app', status: 201, result: 'created', _version: 1 }),
      expect.objectContaining({ _index: 'app', status: 201, result: 'created' }),
      expect.objectContaining({ _index: 'app', status: 201, result: 'created' }),
    ]);
    const recs = await records(s.url, 'app');
    expect(recs).toHaveLength(3);
    const by = new Map(recs.map((x) => [JSON.parse(x.message).message, x]));
    expect(by.get('first')).toMatchObject({ host: 'web1', timestamp: '2024-05-01T12:00:00.000Z', message: JSON.stringify(docs[0]) });
    expect(by.get('second')).toMatchObject({ host: 'web1', timestamp: '2024-05-01T12:00:01.500Z', message: JSON.stringify(docs[1]) });
    const third = by.get('no host, no time');
    expect(third.host).toBe('127.0.0.1');
    expect(Date.parse(third.timestamp)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('takes gzip, honours filter_path, answers per item for bad indexes, update/delete and bad documents, and keeps the rest', { timeout: 60_000 }, async () => {
    const s = await start('limits:\n  auto_create_topics: [app, "logs-*"]\n');
    const body =
      bulkLine('index', { _index: 'app' }, { message: 'ok' }) +
      bulkLine('index', { _index: 'bad*index' }, { message: 'x' }) +
      bulkLine('index', { _index: 'not-allowed' }, { message: 'x' }) +
      bulkLine('update', { _index: 'app', _id: '1' }, { doc: { a: 1 } }) +
      bulkLine('delete', { _index: 'app', _id: '1' }) +
      '{"index":{"_index":"app"}}\n{"broken": \n' +
      '{"index":{"_index":"app"}}\n[1,2]\n' +
      bulkLine('create', { _index: 'logs-app-default' }, { message: 'ok2' });
    const r = await call(`${s.url}/_bulk?filter_path=errors,items.*.error,items.*.status`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json; charset=UTF-8', 'content-encoding': 'gzip' },
      body: gzipSync(body),
    });
    expect(r.status).toBe(200);
    expect(r.json.errors).toBe(true);
    expect(r.json.items.map((i: any) => [Object.values(i)[0] as any].map((v) => [v.status, v.error?.type ?? null])[0])).toEqual([
      [201, null],
      [400, 'invalid_index_name_exception'],
      [404, 'index_not_found_exception'],
      [400, 'illegal_argument_exception'],
      [400, 'illegal_argument_exception'],
      [400, 'document_parsing_exception'],
      [400, 'document_parsing_exception'],
      [201, null],
    ]);
    expect(Object.keys(Object.values(r.json.items[0])[0] as object)).toEqual(['status']);
    expect((await records(s.url, 'app')).map((x) => x.message)).toEqual(['{"message":"ok"}']);
    expect((await records(s.url, 'logs-app-default')).map((x) => x.message)).toEqual(['{"message":"ok2"}']);
    expect((await call(`${s.url}/v1/topics`)).json.topics.map((t: any) => t.name).sort()).toEqual(['app', 'logs-app-default']);

    // a token limited to topic app: other indexes are item errors (403), app is stored
    const scoped = await call(`${s.url}/_bulk`, { method: 'POST', headers: { authorization: `ApiKey ${APPONLY}`, ...NDJSON }, body: bulkLine('index', { _index: 'app' }, { m: 1 }) + bulkLine('index', { _index: 'logs-x-y' }, { m: 2 }) });
    expect(scoped.json.items.map((i: any) => i.index.status)).toEqual([201, 403]);
    expect(scoped.json.items[1].index.error.type).toBe('security_exception');
  });

  it('refuses with clear JSON errors and counts them: content type (415), missing newline (400), inflated size (413), documents per request (413), a long document (item 413); the process stays up', { timeout: 60_000 }, async () => {
    const s = await start('limits:\n  max_inflated_body_bytes: 64KiB\n  max_documents_per_request: 10\n  max_line_bytes: 4KiB\n');
    const one = bulkLine('index', { _index: 'app' }, { message: 'x' });
    const wrongType = await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, 'content-type': 'text/plain' }, body: one });
    expect([wrongType.status, wrongType.json.error.type]).toEqual([415, 'media_type_header_exception']);
    const noNl = await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON }, body: one.slice(0, -1) });
    expect([noNl.status, noNl.json.error.reason]).toEqual([400, 'The bulk request must be terminated by a newline [\\n]']);
    // 16 MiB of zeros inside one document line: gzip is ~16 KiB, inflation stops at 64 KiB
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"index":{"_index":"app"}}\n{"m":"'), Buffer.alloc(16 << 20, 0x30), Buffer.from('"}\n')]));
    const big = await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON, 'content-encoding': 'gzip' }, body: bomb });
    expect([big.status, big.json.error.type]).toEqual([413, 'too_large']);
    expect(big.json.error.reason).toContain('limits.max_inflated_body_bytes');
    const many = await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON }, body: one.repeat(11) });
    expect([many.status, many.json.error.type]).toEqual([413, 'too_large']);
    const long = await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON }, body: bulkLine('index', { _index: 'app' }, { m: 'y'.repeat(5000) }) + one });
    expect(long.json.items.map((i: any) => i.index.status)).toEqual([413, 201]);
    const metrics = (await call(`${s.url}/metrics`)).text;
    expect(metrics).toMatch(/logship_aggregator_json_refused_total\{route="bulk",reason="media_type_header_exception"\} 1/);
    expect(metrics).toMatch(/logship_aggregator_json_refused_total\{route="bulk",reason="too_large"\} 2/);
    expect(metrics).toMatch(/logship_aggregator_json_refused_total\{route="bulk",reason="illegal_argument_exception"\} 1/);
    expect(metrics).toMatch(/logship_aggregator_json_items_total\{route="bulk",result="error"\} 1/);
    expect((await call(`${s.url}/healthz`)).status).toBe(200);
    expect((await records(s.url, 'app')).length).toBe(1);
  });

  it('an _id held in the window: create answers 409 as Elasticsearch, index with the same document is a noop, with another a new version; across a restart, also when the journal lost its lines', { timeout: 60_000 }, async () => {
    const s = await start();
    const send = async (body: string) => (await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON }, body })).json;
    const a = await send(bulkLine('create', { _index: 'app', _id: 'doc-1' }, { message: 'v1' }) + bulkLine('create', { _index: 'app', _id: 'doc-1' }, { message: 'v1' }));
    expect(a.items[0].create).toMatchObject({ status: 201, result: 'created', _id: 'doc-1', _version: 1 });
    expect(a.items[1].create).toEqual({
      _index: 'app',
      _id: 'doc-1',
      status: 409,
      error: { type: 'version_conflict_engine_exception', reason: '[doc-1]: version conflict, document already exists (current version [1])', index_uuid: '_na_', shard: '0', index: 'app' },
    });
    const b = await send(bulkLine('index', { _index: 'app', _id: 'doc-1' }, { message: 'v1' }) + bulkLine('index', { _index: 'app', _id: 'doc-1' }, { message: 'v2' }));
    expect(b.items.map((i: any) => [i.index.status, i.index.result, i.index._version])).toEqual([
      [200, 'noop', 1],
      [200, 'updated', 2],
    ]);
    expect((await records(s.url, 'app')).map((x) => [x.message, x.bulk_id])).toEqual([
      ['{"message":"v1"}', 'doc-1'],
      ['{"message":"v2"}', 'doc-1'],
    ]);

    await s.restart();
    const c = await send(bulkLine('create', { _index: 'app', _id: 'doc-1' }, { message: 'v1' }) + bulkLine('create', { _index: 'app', _id: 'doc-2' }, { message: 'new' }) + bulkLine('create', { _index: 'fresh', _id: 'f-1' }, { message: 'f' }));
    expect(c.items.map((i: any) => i.create.status)).toEqual([409, 201, 201]);
    expect(c.items[0].create.error.reason).toContain('current version [2]');

    // kill -9 between the fsync and the journal write: the journal is a prefix of what was written,
    // here cut before the entries of that last request (a damaged last line, too).
    await s.agg.close();
    const journal = join(s.dir, 'data', 'idempotence', 'journal');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    const cut = lines.findIndex((l) => l.startsWith('{"k"') && (l.includes('doc-2') || l.includes('f-1')));
    expect(cut).toBeGreaterThan(0);
    expect(lines.slice(0, cut).some((l) => l.startsWith('{"c":["fresh"'))).toBe(true);
    await writeFile(journal, `${lines.slice(0, cut).join('\n')}\n{"k": damaged\n`);
    await s.restart();
    const d = await send(
      bulkLine('create', { _index: 'app', _id: 'doc-1' }, { message: 'v1' }) +
        bulkLine('create', { _index: 'app', _id: 'doc-2' }, { message: 'new' }) +
        bulkLine('index', { _index: 'app', _id: 'doc-2' }, { message: 'new' }) +
        bulkLine('create', { _index: 'fresh', _id: 'f-1' }, { message: 'f' }),
    );
    expect(d.items.map((i: any) => Object.values(i)[0] as any).map((v: any) => [v.status, v.result ?? v.error.type])).toEqual([
      [409, 'version_conflict_engine_exception'],
      [409, 'version_conflict_engine_exception'],
      [200, 'noop'],
      [409, 'version_conflict_engine_exception'],
    ]);
    expect((await records(s.url, 'app')).length).toBe(3);
  });

  it('a request mixing conflicts, noops and new documents over several hosts and indexes: every stored item answers the _seq_no and partition of its own record', { timeout: 60_000 }, async () => {
    const s = await start();
    const send = async (body: string) => (await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON }, body })).json;
    await send(bulkLine('create', { _index: 'app', _id: 'held' }, { n: 'held', host: { name: 'h1' } }) + bulkLine('index', { _index: 'app', _id: 'same' }, { n: 'same', host: { name: 'h2' } }));
    const docs: string[] = [];
    for (let k = 0; k < 12; k++) {
      const host = { name: `h${k % 3}` };
      if (k === 4) docs.push(bulkLine('create', { _index: 'app', _id: 'held' }, { n: 'held', host: { name: 'h1' } }));
      else if (k === 7) docs.push(bulkLine('index', { _index: 'app', _id: 'same' }, { n: 'same', host: { name: 'h2' } }));
      else docs.push(bulkLine(k % 2 ? 'create' : 'index', { _index: k % 5 === 0 ? 'other' : 'app', ...(k % 4 === 1 ? { _id: `new-${k}` } : {}) }, { n: k, host }));
    }
    const r = await send(docs.join(''));
    const answers = r.items.map((i: any) => Object.values(i)[0] as any);
    expect(answers.map((a: any) => a.status)).toEqual([201, 201, 201, 201, 409, 201, 201, 200, 201, 201, 201, 201]);
    const stored = new Map<string, any>();
    for (const topic of ['app', 'other']) {
      for (let p = 0; p < 2; p++) {
        const got = await call(`${s.url}/v1/topics/${topic}/partitions/${p}/records?offset=0`);
        for (const rec of got.json?.records ?? []) stored.set(`${topic}/${p}/${rec.offset}`, JSON.parse(rec.message).n);
      }
    }
    answers.forEach((a: any, k: number) => {
      if (a.status !== 201) return;
      // auto ids are partition-offset; with an _id, find the partition by the offset's record
      const where = a._id.startsWith('new-') ? [0, 1].map((p) => `${a._index}/${p}/${a._seq_no}`).find((x) => stored.get(x) === k) : `${a._index}/${a._id.split('-')[0]}/${a._seq_no}`;
      expect(where && stored.get(where), `item ${k}: ${JSON.stringify(a)}`).toBe(k);
    });
  });

  it('produce: an Idempotency-Key whose journal line was lost in a crash is rebuilt from the log; the retry gets the first answer and stores nothing', { timeout: 60_000 }, async () => {
    const s = await start();
    const body = JSON.stringify([{ message: 'a', key: 'k1' }, { message: 'b' }, { message: 'c', key: 'k2' }]);
    const post = () => call(`${s.url}/v1/topics/orders/records`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', 'idempotency-key': 'req-7' }, body });
    const first = await post();
    expect(first.status).toBe(200);
    expect(first.json.offsets).toHaveLength(3);
    await s.agg.close();
    const journal = join(s.dir, 'data', 'idempotence', 'journal');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    const cut = lines.findIndex((l) => l.startsWith('{"k":"p\\u0000orders'));
    expect(cut).toBeGreaterThan(0);
    await writeFile(journal, `${lines.slice(0, cut).join('\n')}\n`);
    await s.restart();
    const again = await post();
    expect([again.status, again.text, again.headers['idempotent-replayed']]).toEqual([200, first.text, 'true']);
    expect((await records(s.url, 'orders')).map((r) => r.message).sort()).toEqual(['a', 'b', 'c']);
  });

  it('more JSON requests at once than limits.max_concurrent_json_requests: 429 es_rejected_execution_exception, counted', { timeout: 60_000 }, async () => {
    const s = await start('limits:\n  max_concurrent_json_requests: 1\n');
    // The first request holds the gate while its body is still coming (a raw socket sends half of it).
    const { connect } = await import('node:net');
    const port = Number(new URL(s.url).port);
    const sock = connect(port, '127.0.0.1');
    const body = bulkLine('index', { _index: 'app' }, { m: 1 });
    let answer = '';
    sock.on('data', (d) => (answer += d.toString()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`POST /_bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
    let busy: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 200 && busy?.status !== 429; i++) {
      busy = await call(`${s.url}/_bulk`, { method: 'POST', headers: { ...AUTH, ...NDJSON }, body: bulkLine('index', { _index: 'app' }, { m: 2 }) });
      if (busy.status !== 429) await new Promise((r) => setTimeout(r, 20));
    }
    expect([busy!.status, busy!.json.error.type]).toEqual([429, 'es_rejected_execution_exception']);
    sock.write(body.slice(10));
    const deadline = Date.now() + 20_000;
    while (!answer.includes('"errors":false') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    sock.destroy();
    expect((await call(`${s.url}/metrics`)).text).toMatch(/logship_aggregator_json_refused_total\{route="bulk",reason="es_rejected_execution_exception"\} [1-9]/);
  });

  it('single documents (rsyslog bulkmode="off", clients\' index/create): stored like _bulk items, answered without a top-level status; a held _id on create is 409 with status', { timeout: 60_000 }, async () => {
    const s = await start();
    const json = { ...AUTH, 'content-type': 'application/json; charset=utf-8' };
    const a = await call(`${s.url}/system/events`, { method: 'POST', headers: json, body: '{"msg":"from rsyslog","host":"h1"}' });
    expect(a.status).toBe(201);
    expect(a.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(a.json).toMatchObject({ _index: 'system', result: 'created', _version: 1 });
    expect(a.json.status).toBeUndefined();
    const b = await call(`${s.url}/app/_doc/x1`, { method: 'PUT', headers: json, body: '{\n  "message": "pretty",\n  "n": 1\n}\n' });
    expect([b.status, b.json._id, b.json.result]).toEqual([201, 'x1', 'created']);
    const c = await call(`${s.url}/app/_create/x1`, { method: 'PUT', headers: json, body: '{"message":"pretty","n":1}' });
    expect([c.status, c.json.status, c.json.error.type]).toEqual([409, 409, 'version_conflict_engine_exception']);
    const d = await call(`${s.url}/app/_doc`, { method: 'POST', headers: json, body: 'not json' });
    expect([d.status, d.json.error.type]).toEqual([400, 'document_parsing_exception']);
    expect((await records(s.url, 'system')).map((r) => [r.message, r.host])).toEqual([['{"msg":"from rsyslog","host":"h1"}', 'h1']]);
    expect((await records(s.url, 'app')).map((r) => [r.message, r.bulk_id])).toEqual([['{"message":"pretty","n":1}', 'x1']]);
  });
});
