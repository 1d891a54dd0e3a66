/**
 * The strict fake Elasticsearch (test/fakes/elasticsearch.ts): each validation refuses what
 * Elasticsearch refuses, with its status and error type; each fault does what it says; the
 * flavors answer GET / as each server does. Real HTTP on 127.0.0.1 through undici.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { startFakeElasticsearch, type FakeElasticsearch, type FakeElasticsearchOptions } from '../../fakes/elasticsearch.js';

const fakes: FakeElasticsearch[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

async function fake(opts: FakeElasticsearchOptions = {}): Promise<FakeElasticsearch> {
  const f = await startFakeElasticsearch(opts);
  fakes.push(f);
  return f;
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; json: any; text: string }

async function call(f: FakeElasticsearch, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(f.url + path, { method: method as 'GET', body, headers });
  const text = await res.body.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

const ND = { 'content-type': 'application/x-ndjson' };
const bulk = (f: FakeElasticsearch, body: string | Buffer, headers: Record<string, string> = ND, path = '/_bulk') => call(f, 'POST', path, body, headers);
const nd = (...lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
const ts = '2026-12-01T10:00:00.000Z';
const doc = (n: number, extra: Record<string, unknown> = {}) => ({ '@timestamp': ts, message: `line ${n}`, host: { name: 'web-1' }, log: { offset: n }, ...extra });
const creates = (index: string, from: number, to: number) => {
  const lines: unknown[] = [];
  for (let i = from; i < to; i++) lines.push({ create: { _index: index, _id: `id-${i}` } }, doc(i));
  return nd(...lines);
};

describe('fake Elasticsearch: GET / and the product header', () => {
  it('answers as each flavor does', async () => {
    for (const [flavor, number, product] of [['7.17', /^7\.17\./, true], ['8', /^8\./, true], ['9', /^9\./, true], ['opensearch-1', /^1\./, false], ['opensearch-2', /^2\./, false]] as const) {
      const f = await fake({ flavor });
      const r = await call(f, 'GET', '/');
      expect(r.status).toBe(200);
      expect(r.json.version.number).toMatch(number);
      if (product) {
        expect(r.headers['x-elastic-product']).toBe('Elasticsearch');
        expect(r.json.tagline).toBe('You Know, for Search');
        expect(r.json.version.build_flavor).toBe('default');
        expect(r.json.version.distribution).toBeUndefined();
      } else {
        expect(r.headers['x-elastic-product']).toBeUndefined();
        expect(r.json.version.distribution).toBe('opensearch');
        expect(r.json.tagline).toContain('OpenSearch');
      }
      expect((await call(f, 'HEAD', '/')).status).toBe(200);
      expect((await call(f, 'GET', '/_cluster/health')).json.status).toBe('green');
    }
  });
});

describe('fake Elasticsearch: _bulk answers', () => {
  it('creates into a data stream: items in request order with the real success shape', async () => {
    const f = await fake();
    const r = await bulk(f, creates('logs-app-default', 0, 3));
    expect(r.status).toBe(200);
    expect(r.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(r.text).toContain('"errors":false');
    expect(Number.isInteger(r.json.took)).toBe(true);
    expect(r.json.items.map((i: any) => i.create._id)).toEqual(['id-0', 'id-1', 'id-2']);
    const item = r.json.items[0].create;
    expect(item).toMatchObject({ _version: 1, result: 'created', status: 201, _primary_term: 1, _shards: { total: 2, successful: 1, failed: 0 } });
    expect(item._index).toMatch(/^\.ds-logs-app-default-\d{4}\.\d{2}\.\d{2}-000001$/);
    expect(item._type).toBeUndefined();
    expect(f.dataStreams()).toEqual(['logs-app-default']);
    expect(f.count('logs-app-default')).toBe(3);
    expect(f.distinctIds()).toBe(3);
    expect(JSON.parse(f.documents('logs-app-default')[1]!.source as string)).toEqual(doc(1));
    expect(f.stats.bulkItems).toBe(3);
  });

  it('7.17 and OpenSearch 1 add _type to items; a generated _id has 20 characters', async () => {
    for (const flavor of ['7.17', 'opensearch-1'] as const) {
      const f = await fake({ flavor });
      const r = await bulk(f, nd({ index: { _index: 'app' } }, { a: 1 }));
      expect(r.json.items[0].index).toMatchObject({ _index: 'app', _type: '_doc', status: 201 });
      expect(r.json.items[0].index._id).toHaveLength(20);
    }
  });

  it('create with an _id already present: item 409 version_conflict_engine_exception, nothing stored twice', async () => {
    const f = await fake();
    await bulk(f, creates('logs-app-default', 0, 2));
    const r = await bulk(f, creates('logs-app-default', 1, 3));
    expect(r.status).toBe(200);
    expect(r.text).toContain('"errors":true');
    const [dup, fresh] = r.json.items.map((i: any) => i.create);
    expect(dup.status).toBe(409);
    expect(dup.error.type).toBe('version_conflict_engine_exception');
    expect(dup.error.reason).toBe('[id-1]: version conflict, document already exists (current version [1])');
    expect(dup.error).toMatchObject({ shard: '0', index: dup._index });
    expect(typeof dup.error.index_uuid).toBe('string');
    expect(fresh.status).toBe(201);
    expect(f.count()).toBe(3);
    expect(f.duplicates()).toBe(1);
    // the same _id twice in one request: the second one conflicts with the first
    const again = await bulk(f, nd({ create: { _index: 'logs-app-default', _id: 'x' } }, doc(9), { create: { _index: 'logs-app-default', _id: 'x' } }, doc(9)));
    expect(again.json.items.map((i: any) => i.create.status)).toEqual([201, 409]);
  });

  it('index replaces (200 updated); delete answers not_found as a 404 without an error', async () => {
    const f = await fake();
    await bulk(f, nd({ index: { _index: 'app', _id: 'a' } }, { v: 1 }));
    const r = await bulk(f, nd({ index: { _index: 'app', _id: 'a' } }, { v: 2 }, { delete: { _index: 'app', _id: 'zz' } }));
    expect(r.json.items[0].index).toMatchObject({ status: 200, result: 'updated', _version: 2 });
    expect(r.json.items[1].delete).toMatchObject({ status: 404, result: 'not_found' });
    expect(r.json.items[1].delete.error).toBeUndefined();
    expect(r.json.errors).toBe(false);
    expect(f.count('app')).toBe(1);
  });

  it('/{index}/_bulk supplies the index; /_bulk without one is a validation error', async () => {
    const f = await fake();
    const r = await bulk(f, nd({ index: {} }, { a: 1 }), ND, '/app/_bulk');
    expect(r.json.items[0].index._index).toBe('app');
    const bad = await bulk(f, nd({ index: {} }, { a: 1 }));
    expect(bad.status).toBe(400);
    expect(bad.json.error.type).toBe('action_request_validation_exception');
    expect(bad.json.error.reason).toContain('index is missing');
  });
});

describe('fake Elasticsearch: _bulk validation refuses the whole request', () => {
  const cases: Array<[string, string, number, string, RegExp]> = [
    ['no final newline', JSON.stringify({ create: { _index: 'a' } }) + '\n' + JSON.stringify({ a: 1 }), 400, 'illegal_argument_exception', /must be terminated by a newline/],
    ['an empty body', '', 400, 'parse_exception', /request body is required/],
    ['no actions', '\n', 400, 'action_request_validation_exception', /no requests added/],
    ['an unknown action', nd({ upsert: { _index: 'a' } }, { a: 1 }), 400, 'illegal_argument_exception', /expected one of \[create, delete, index, update\] but found \[upsert\]/],
    ['an unknown metadata key', nd({ create: { _index: 'a', _idx: 'x' } }, { a: 1 }), 400, 'illegal_argument_exception', /unknown parameter \[_idx\]/],
    ['_type on 8', nd({ create: { _index: 'a', _type: '_doc' } }, { a: 1 }), 400, 'illegal_argument_exception', /unknown parameter \[_type\]/],
    ['a malformed action line', '{"create":{"_index":"a"}\n{"a":1}\n', 400, 'x_content_parse_exception', /Malformed action\/metadata line \[1\]/],
    ['an action that is not an object', '["create"]\n{"a":1}\n', 400, 'illegal_argument_exception', /expected START_OBJECT or END_OBJECT but found \[START_ARRAY\]/],
    ['two actions on one line', nd({ create: { _index: 'a' }, index: { _index: 'a' } }, { a: 1 }), 400, 'illegal_argument_exception', /expected END_OBJECT but found \[FIELD_NAME\]/],
    ['metadata that is not an object', nd({ create: 'a' }, { a: 1 }), 400, 'illegal_argument_exception', /expected START_OBJECT but found \[VALUE_STRING\]/],
    ['an _id that is an object', nd({ create: { _index: 'a', _id: { x: 1 } } }, { a: 1 }), 400, 'illegal_argument_exception', /expected a simple value for field \[_id\]/],
    ['an empty _id', nd({ create: { _index: 'a', _id: '' } }, { a: 1 }), 400, 'action_request_validation_exception', /must not be empty/],
    ['an _id over 512 bytes', nd({ create: { _index: 'a', _id: 'x'.repeat(513) } }, { a: 1 }), 400, 'action_request_validation_exception', /is too long/],
    ['a delete without _id', nd({ delete: { _index: 'a' } }), 400, 'action_request_validation_exception', /id is missing/],
    ['a missing source line', nd({ create: { _index: 'a' } }), 400, 'action_request_validation_exception', /source is missing/],
  ];
  for (const [what, body, status, type, reason] of cases) {
    it(`refuses ${what}`, async () => {
      const f = await fake();
      const r = await bulk(f, body);
      expect(r.status).toBe(status);
      expect(r.json.status).toBe(status);
      expect(r.json.error.type).toBe(type);
      expect(r.json.error.root_cause[0].type).toBe(type);
      expect(r.json.error.reason).toMatch(reason);
      expect(f.count()).toBe(0);
      expect(f.stats.badRequests).toBe(1);
    });
  }

  it('accepts _type on 7.17, and on 8 under the compatible-with=7 media type', async () => {
    const body = nd({ create: { _index: 'a', _type: '_doc', _id: '1' } }, { a: 1 });
    expect((await bulk(await fake({ flavor: '7.17' }), body)).json.items[0].create.status).toBe(201);
    const v7 = { 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=7', accept: 'application/vnd.elasticsearch+json; compatible-with=7' };
    const r = await bulk(await fake({ flavor: '8' }), body, v7);
    expect(r.json.items[0].create.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/vnd.elasticsearch+json;compatible-with=7');
    expect((await bulk(await fake({ flavor: '9' }), body, { ...v7 })).status).toBe(400);
  });

  it('Content-Type: json, x-ndjson and the vendor types pass; others 406; compatible versions must agree', async () => {
    const f = await fake({ flavor: '8' });
    const body = () => nd({ create: { _index: 'a' } }, { a: 1 });
    for (const ct of ['application/json', 'application/json; charset=UTF-8', 'application/x-ndjson', 'application/vnd.elasticsearch+x-ndjson; compatible-with=8']) {
      expect((await bulk(f, body(), { 'content-type': ct })).status, ct).toBe(200);
    }
    expect((await bulk(f, body(), { 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=8', accept: 'application/vnd.elasticsearch+json; compatible-with=8' })).status).toBe(200);
    const missing = await call(f, 'POST', '/_bulk', body());
    expect(missing.status).toBe(406);
    expect(missing.json.error).toBe('Content-Type header is missing');
    const plain = await bulk(f, body(), { 'content-type': 'text/plain' });
    expect(plain.status).toBe(406);
    expect(plain.json.error).toBe('Content-Type header [text/plain] is not supported');
    const mismatch = await bulk(f, body(), { 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=8', accept: 'application/json' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.error.type).toBe('media_type_header_exception');
    expect(mismatch.json.error.caused_by.reason).toMatch(/compatible version is required on both/);
    expect((await bulk(f, body(), { 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=6' })).json.error.type).toBe('media_type_header_exception');
    const os = await fake({ flavor: 'opensearch-2' });
    expect((await bulk(os, body(), { 'content-type': 'application/vnd.elasticsearch+x-ndjson; compatible-with=8' })).status).toBe(406);
    expect(f.count()).toBe(5);
  });

  it('gzip bodies are inflated; a broken one is a 400', async () => {
    const f = await fake();
    const ok = await bulk(f, gzipSync(creates('logs-app-default', 0, 50)), { ...ND, 'content-encoding': 'gzip' });
    expect(ok.json.items).toHaveLength(50);
    expect(f.count()).toBe(50);
    const broken = await bulk(f, Buffer.from('not gzip at all\n'), { ...ND, 'content-encoding': 'gzip' });
    expect(broken.status).toBe(400);
    expect(broken.json.error.reason).toMatch(/decompress/);
  });

  it('a body over http.max_content_length is a 413; routes answer 405 and 400 as ES does', async () => {
    const f = await fake({ maxContentLength: 1024 });
    expect((await bulk(f, creates('a', 0, 50))).status).toBe(413);
    expect(f.count()).toBe(0);
    const wrong = await call(f, 'GET', '/_bulk');
    expect(wrong.status).toBe(405);
    expect(wrong.json.error).toMatch(/Incorrect HTTP method for uri \[\/_bulk\] and method \[GET\], allowed: \[POST, PUT\]/);
    const none = await call(f, 'GET', '/_nothing/here');
    expect(none.status).toBe(400);
    expect(none.json.error).toMatch(/no handler found for uri/);
  });
});

describe('fake Elasticsearch: per-item rules', () => {
  it('refuses index ops on a data stream, documents without @timestamp, and data_stream.* that contradict the name', async () => {
    const f = await fake();
    const r = await bulk(f, nd(
      { index: { _index: 'logs-app-default', _id: 'a' } }, doc(1),
      { create: { _index: 'logs-app-default', _id: 'b' } }, { message: 'no time' },
      { create: { _index: 'logs-app-default', _id: 'c' } }, doc(2, { data_stream: { type: 'logs', dataset: 'other', namespace: 'default' } }),
      { create: { _index: 'logs-app-default', _id: 'd' } }, doc(3, { data_stream: { type: 'logs', dataset: 'app', namespace: 'default' } }),
    ));
    const [idx, nots, wrongDs, ok] = r.json.items;
    expect(idx.index.status).toBe(400);
    expect(idx.index.error.type).toBe('illegal_argument_exception');
    expect(idx.index.error.reason).toBe('only write ops with an op_type of create are allowed in data streams');
    expect(nots.create.status).toBe(400);
    expect(nots.create.error.type).toBe('document_parsing_exception');
    expect(nots.create.error.reason).toMatch(/data stream timestamp field \[@timestamp\] is missing/);
    expect(wrongDs.create.status).toBe(400);
    expect(wrongDs.create.error.reason).toMatch(/\[constant_keyword\] field \[data_stream.dataset\] only accepts values that are equal to the value defined in the mappings \[app\], but got \[other\]/);
    expect(ok.create.status).toBe(201);
    expect(f.count()).toBe(1);
  });

  it('a document that contradicts the mapping fails its item only (7.17: mapper_parsing_exception)', async () => {
    for (const [flavor, type] of [['8', 'document_parsing_exception'], ['7.17', 'mapper_parsing_exception']] as const) {
      const f = await fake({ flavor });
      const r = await bulk(f, nd(
        { create: { _index: 'logs-app-default', _id: '1' } }, doc(1),
        { create: { _index: 'logs-app-default', _id: '2' } }, doc(2, { host: 'web-2' }),
        { create: { _index: 'logs-app-default', _id: '3' } }, doc(3, { log: { offset: 'abc' } }),
        { create: { _index: 'logs-app-default', _id: '4' } }, doc(4, { '@timestamp': 'yesterday' }),
        { create: { _index: 'logs-app-default', _id: '5' } }, '{"@timestamp": broken',
        { create: { _index: 'logs-app-default', _id: '6' } }, doc(6),
      ).replace('"{\\"@timestamp\\": broken"', '{"@timestamp": broken'));
      const statuses = r.json.items.map((i: any) => i.create.status);
      expect(statuses).toEqual([201, 400, 400, 400, 400, 201]);
      expect(r.json.items[1].create.error.reason).toMatch(/tried to parse field \[host\] as object, but found a concrete value/);
      expect(r.json.items[2].create.error.reason).toMatch(/failed to parse field \[log.offset\] of type \[long\]/);
      for (const i of [1, 2, 3, 4]) expect(r.json.items[i].create.error.type).toBe(type);
      expect(f.count()).toBe(2);
    }
  });

  it('an invalid index name fails its item with invalid_index_name_exception', async () => {
    const f = await fake();
    const r = await bulk(f, nd({ create: { _index: 'Logs-App', _id: '1' } }, doc(1), { create: { _index: 'ok', _id: '1' } }, doc(1)));
    expect(r.json.items[0].create.status).toBe(400);
    expect(r.json.items[0].create.error.type).toBe('invalid_index_name_exception');
    expect(r.json.items[0].create.error.reason).toBe('Invalid index name [Logs-App], must be lowercase');
    expect(r.json.items[1].create.status).toBe(201);
  });
});

describe('fake Elasticsearch: index templates and data streams', () => {
  it('OpenSearch has no built-in logs-*-* template: a write makes a plain index until a data_stream template exists', async () => {
    const f = await fake({ flavor: 'opensearch-2' });
    await bulk(f, creates('logs-a-default', 0, 1));
    expect(f.dataStreams()).toEqual([]);
    expect(f.indexNames()).toEqual(['logs-a-default']);
    const tpl = { index_patterns: ['logs-b-*'], data_stream: {}, priority: 200, template: { mappings: { properties: { log: { properties: { offset: { type: 'long' } } } } } } };
    const put = await call(f, 'PUT', '/_index_template/logship-b', JSON.stringify(tpl), { 'content-type': 'application/json' });
    expect(put.json).toEqual({ acknowledged: true });
    const r = await bulk(f, creates('logs-b-default', 0, 2));
    expect(r.json.items[0].create._index).toMatch(/^\.ds-logs-b-default-/);
    expect(f.dataStreams()).toEqual(['logs-b-default']);
    const got = await call(f, 'GET', '/_index_template/logship-b');
    expect(got.json.index_templates[0]).toMatchObject({ name: 'logship-b', index_template: { index_patterns: ['logs-b-*'], data_stream: {} } });
    expect((await call(f, 'HEAD', '/_index_template/nope')).status).toBe(404);
    expect((await call(f, 'GET', '/_data_stream/logs-b-default')).json.data_streams[0].template).toBe('logship-b');
    expect((await call(f, 'GET', '/logs-b-default/_count')).json.count).toBe(2);
  });

  it('a template mapping is enforced; a data stream created through the API needs a data_stream template', async () => {
    const f = await fake();
    const json = { 'content-type': 'application/json' };
    const tpl = { index_patterns: ['logs-c-*'], data_stream: {}, priority: 200, template: { mappings: { properties: { code: { type: 'long' } } } } };
    expect((await call(f, 'PUT', '/_index_template/c', JSON.stringify(tpl), json)).status).toBe(200);
    const r = await bulk(f, nd({ create: { _index: 'logs-c-default' } }, doc(1, { code: 'x' })));
    expect(r.json.items[0].create.status).toBe(400);
    expect((await call(f, 'PUT', '/_data_stream/logs-c-other', undefined)).status).toBe(200);
    const none = await call(f, 'PUT', '/_data_stream/plain-thing', undefined);
    expect(none.status).toBe(400);
    expect(none.json.error.reason).toBe('no matching index template found for data stream [plain-thing]');
  });

  it('refuses templates without index_patterns, duplicates under create=true, and same-priority overlaps', async () => {
    const f = await fake();
    const json = { 'content-type': 'application/json' };
    const noPatterns = await call(f, 'PUT', '/_index_template/x', JSON.stringify({ priority: 1 }), json);
    expect(noPatterns.status).toBe(400);
    expect(noPatterns.json.error.reason).toMatch(/index patterns are missing/);
    expect((await call(f, 'PUT', '/_index_template/x', JSON.stringify({ index_patterns: ['x-*'] }), json)).status).toBe(200);
    expect((await call(f, 'PUT', '/_index_template/x?create=true', JSON.stringify({ index_patterns: ['x-*'] }), json)).json.error.reason).toMatch(/already exists/);
    const overlap = await call(f, 'PUT', '/_index_template/y', JSON.stringify({ index_patterns: ['x-a*'] }), json);
    expect(overlap.status).toBe(400);
    expect(overlap.json.error.reason).toMatch(/same priority \[0\]/);
    expect((await call(f, 'PUT', '/_index_template/y', JSON.stringify({ index_patterns: ['x-a*'], priority: 5 }), json)).status).toBe(200);
    expect([...f.templates().keys()]).toEqual(['x', 'y']);
  });
});

describe('fake Elasticsearch: authentication', () => {
  it('requires the configured API key or basic credentials; 401 without the product header', async () => {
    const f = await fake({ auth: { apiKey: 'aWQ6a2V5', username: 'elastic', password: 's3cret' } });
    const body = nd({ create: { _index: 'a' } }, { a: 1 });
    const none = await bulk(f, body);
    expect(none.status).toBe(401);
    expect(none.json.error.type).toBe('security_exception');
    expect(none.json.error.reason).toBe('missing authentication credentials for REST request [/_bulk]');
    expect(none.headers['x-elastic-product']).toBeUndefined();
    expect(none.headers['www-authenticate']).toContain('ApiKey');
    expect((await bulk(f, body, { ...ND, authorization: 'ApiKey wrong' })).status).toBe(401);
    const badUser = await bulk(f, body, { ...ND, authorization: 'Basic ' + Buffer.from('elastic:nope').toString('base64') });
    expect(badUser.json.error.reason).toBe('unable to authenticate user [elastic] for REST request [/_bulk]');
    expect((await bulk(f, body, { ...ND, authorization: 'ApiKey aWQ6a2V5' })).status).toBe(200);
    expect((await bulk(f, body, { ...ND, authorization: 'Basic ' + Buffer.from('elastic:s3cret').toString('base64') })).status).toBe(200);
    expect((await call(f, 'GET', '/')).status).toBe(401);
    expect(f.stats.authFailures).toBe(4);
    expect(f.requests.every((r) => !JSON.stringify(r.headers).includes('aWQ6a2V5'))).toBe(true);
    const os = await fake({ flavor: 'opensearch-2', auth: { username: 'admin', password: 'pw' } });
    const osNone = await bulk(os, body);
    expect(osNone.status).toBe(401);
    expect(osNone.text).toBe('Unauthorized');
    await expect(startFakeElasticsearch({ flavor: 'opensearch-1', auth: { apiKey: 'x' } })).rejects.toThrow(/no API keys/);
  });
});

describe('fake Elasticsearch: faults', () => {
  it('whole-request 429 with Retry-After for the next N requests, then a share of 503s', async () => {
    const f = await fake();
    f.faults.requestFailure = { status: 429, next: 2, retryAfterSec: 3 };
    for (let i = 0; i < 2; i++) {
      const r = await bulk(f, creates('logs-a-default', 0, 1));
      expect(r.status).toBe(429);
      expect(r.headers['retry-after']).toBe('3');
      expect(r.json.error.type).toBe('es_rejected_execution_exception');
      expect(r.json.error.reason).toMatch(/coordinating operation/);
    }
    expect((await bulk(f, creates('logs-a-default', 0, 1))).status).toBe(200);
    f.faults.requestFailure = { status: 503, share: 1 };
    const r = await bulk(f, creates('logs-a-default', 1, 2));
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBeUndefined();
    f.faults.requestFailure = { status: 503, share: 0.5 };
    let failed = 0;
    for (let i = 0; i < 60; i++) if ((await bulk(f, creates('logs-a-default', 2, 3))).status === 503) failed++;
    expect(failed).toBeGreaterThan(10);
    expect(failed).toBeLessThan(50);
    expect(f.stats.rejectedRequests).toBe(3 + failed);
    expect(f.count()).toBe(2);
  });

  it('a share of items answered 429 es_rejected_execution_exception; those are not stored', async () => {
    const f = await fake();
    f.faults.itemRejectShare = 0.3;
    const r = await bulk(f, creates('logs-a-default', 0, 500));
    const rejected = r.json.items.filter((i: any) => i.create.status === 429);
    expect(rejected.length).toBeGreaterThan(75);
    expect(rejected.length).toBeLessThan(225);
    expect(rejected[0].create.error.type).toBe('es_rejected_execution_exception');
    expect(r.json.errors).toBe(true);
    expect(f.count()).toBe(500 - rejected.length);
    expect(f.stats.itemRejections).toBe(rejected.length);
  });

  it('adds latency to answers', async () => {
    const f = await fake();
    f.faults.latencyMs = 300;
    const t0 = Date.now();
    expect((await bulk(f, creates('logs-a-default', 0, 1))).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290); // a lower bound: a slow machine cannot break it
  });

  it('resets the connection mid-request, before indexing (nothing stored) or after (stored; the retry meets 409s)', async () => {
    const f = await fake();
    f.faults.resets = { next: 1 };
    await expect(bulk(f, creates('logs-a-default', 0, 10))).rejects.toThrow();
    expect(f.count()).toBe(0);
    f.faults.resets = { next: 1, afterIndexing: true };
    await expect(bulk(f, creates('logs-a-default', 0, 10))).rejects.toThrow();
    expect(f.count()).toBe(10);
    const retry = await bulk(f, creates('logs-a-default', 0, 10));
    expect(retry.json.items.every((i: any) => i.create.status === 409)).toBe(true);
    expect(f.stats.resets).toBe(2);
    expect(f.count()).toBe(10);
  });

  it('rejects the documents a predicate picks with a mapping conflict, every time; the rest are stored', async () => {
    const f = await fake();
    f.faults.mappingConflict = (d) => (d as any).log?.offset === 7;
    for (let round = 0; round < 2; round++) {
      const r = await bulk(f, creates('logs-a-default', 0, 10));
      const bad = r.json.items.filter((i: any) => i.create.status === 400);
      expect(bad).toHaveLength(1);
      expect(bad[0].create._id).toBe('id-7');
      expect(bad[0].create.error.type).toBe('document_parsing_exception');
      expect(bad[0].create.error.reason).toMatch(/failed to parse field \[log.offset\] of type \[long\] in document with id 'id-7'/);
    }
    expect(f.count()).toBe(9);
    expect(f.stats.mappingConflicts).toBe(2);
  });

  it('stalls bulk requests until the stall is lifted', async () => {
    const f = await fake();
    f.faults.stall = true;
    let answered = false;
    const p = bulk(f, creates('logs-a-default', 0, 3)).then((r) => { answered = true; return r; });
    await new Promise((r) => setTimeout(r, 400)); // time is what is tested: the request stays open
    expect(answered).toBe(false);
    expect(f.stats.stalledNow).toBe(1);
    expect(f.stats.inFlight).toBe(1);
    expect(f.count()).toBe(0);
    f.faults.stall = false;
    expect((await p).status).toBe(200);
    expect(f.count()).toBe(3);
  });

  it('down() refuses connections and resets open ones; up() serves again on the same port with the data kept', async () => {
    const f = await fake();
    await bulk(f, creates('logs-a-default', 0, 5));
    f.faults.stall = true;
    const open = bulk(f, creates('logs-a-default', 5, 6));
    await new Promise((r) => setTimeout(r, 200));
    await f.down();
    await expect(open).rejects.toThrow();
    await expect(bulk(f, creates('logs-a-default', 5, 6))).rejects.toThrow(/ECONNREFUSED|connect/);
    f.faults.stall = false;
    await f.up();
    const r = await bulk(f, creates('logs-a-default', 5, 6));
    expect(r.status).toBe(200);
    expect(f.count()).toBe(6);
  });

  it('count-only mode counts lines without parsing and answers every item created', async () => {
    const f = await fake({ countOnly: true });
    const r = await bulk(f, gzipSync(creates('logs-a-default', 0, 1000)), { ...ND, 'content-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.json.errors).toBe(false);
    expect(r.json.items).toHaveLength(1000);
    expect(r.json.items[0].create.status).toBe(201);
    expect(f.stats.countedLines).toBe(2000);
    expect(f.stats.countedDocs).toBe(1000);
    expect(f.count()).toBe(0);
  });
});
