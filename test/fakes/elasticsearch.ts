/**
 * A strict fake Elasticsearch (or OpenSearch) for tests and benchmarks: a real HTTP server
 * on 127.0.0.1 that validates what the real one validates and can misbehave on demand.
 *
 * Routes: GET|HEAD /, GET /_cluster/health, PUT|POST|GET|HEAD|DELETE /_index_template/{name},
 * GET /_index_template, GET|PUT /_data_stream/{name}, HEAD|PUT /{index}, GET /{index}/_count,
 * POST|PUT /_bulk, /{index}/_bulk (and /{index}/{type}/_bulk where types still exist).
 * Other paths answer 400 "no handler found", a known path with the wrong method 405.
 *
 * Checked on _bulk as the real server does: authentication (401, no product header),
 * Content-Type (application/json or application/x-ndjson, or the vendor
 * application/vnd.elasticsearch+json / +x-ndjson with compatible-with=N where the version
 * knows it; anything else 406; a compatible version on one of Accept/Content-Type but not the
 * other, or two different ones, 400), Content-Encoding gzip/deflate, the body size limit
 * (413), then the NDJSON itself (see elasticsearch-bulk.ts) and each document (see
 * elasticsearch-cluster.ts). Answers are compact JSON: items in request order.
 *
 * Faults (`fake.faults`, change them at any time; they apply to _bulk requests):
 * requestFailure (whole-request status for the next N or a share, with Retry-After),
 * itemRejectShare (items answered 429 es_rejected_execution_exception), latencyMs,
 * resets (the socket destroyed mid-request, before or after indexing), mappingConflict
 * (documents matching a predicate fail with a 400 mapping error), stall (never answer).
 * `down()` closes the listener and resets open sockets; `up()` listens on the same port.
 * `countOnly` counts NDJSON lines without parsing, for benchmarks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { parseBulk, type BulkItem } from './elasticsearch-bulk.js';
import { FakeCluster, indexNameProblem, type IndexTemplate, type StoredDoc } from './elasticsearch-cluster.js';
import { errorBody, flavorTraits, type FakeFlavor, type FlavorTraits } from './elasticsearch-flavors.js';
import { makeRng } from '../bench/gen-nginx.js';

export type { FakeFlavor } from './elasticsearch-flavors.js';
export type { BulkItem } from './elasticsearch-bulk.js';
export type { StoredDoc, IndexTemplate } from './elasticsearch-cluster.js';

export interface FakeElasticsearchOptions {
  /** default '8' */
  flavor?: FakeFlavor;
  /** required credentials: the encoded API key clients send as `ApiKey <key>`, and/or basic auth */
  auth?: { apiKey?: string; username?: string; password?: string };
  /** count NDJSON lines and answer success without parsing or storing anything */
  countOnly?: boolean;
  /** what to keep of each stored document: the raw source line (default), nothing, or a projection */
  retain?: 'source' | 'none' | ((doc: Record<string, unknown>) => unknown);
  /** listen on this port (default: a free one) */
  port?: number;
  /** http.max_content_length; default 100 MiB */
  maxContentLength?: number;
  /** seed of the PRNG behind share-based faults; default 1 */
  seed?: number;
}

export interface FakeFaults {
  /** whole-request failures of _bulk: the next `next` requests, else a `share` (0..1) of them */
  requestFailure?: { status: 429 | 500 | 502 | 503 | 504; next?: number; share?: number; retryAfterSec?: number };
  /** share (0..1) of bulk items answered 429 es_rejected_execution_exception */
  itemRejectShare?: number;
  /** added before every answer */
  latencyMs?: number;
  /** destroy the socket mid-request: the next `next` bulk requests, else a `share`; afterIndexing: store first, then reset */
  resets?: { next?: number; share?: number; afterIndexing?: boolean };
  /** documents for which this returns true fail with a mapping conflict (400) every time they are sent */
  mappingConflict?: (doc: Record<string, unknown>, item: BulkItem) => boolean;
  /** the field named in the mapping-conflict reason; default "log.offset" */
  mappingConflictField?: string;
  /** hold _bulk requests unanswered while true */
  stall?: boolean;
}

export interface FakeStats {
  requests: number;
  bulkRequests: number;
  /** bulk items received (every attempt, including rejected and duplicate ones) */
  bulkItems: number;
  bulkBytes: number;
  rejectedRequests: number;
  itemRejections: number;
  resets: number;
  mappingConflicts: number;
  badRequests: number;
  authFailures: number;
  /** count-only mode: NDJSON lines seen */
  countedLines: number;
  /** count-only mode: documents (action lines) seen */
  countedDocs: number;
  stalledNow: number;
  /** bulk requests being handled now (received, not yet answered or reset) */
  inFlight: number;
}

export interface RequestRecord { method: string; url: string; headers: Record<string, string | string[] | undefined>; status?: number }

export interface FakeElasticsearch {
  url: string;
  port: number;
  flavor: FakeFlavor;
  readonly faults: FakeFaults;
  stats: FakeStats;
  /** the last 200 requests (Authorization redacted to its scheme) */
  requests: RequestRecord[];
  /** documents stored under a data stream or index name (a stream's backing indices) */
  documents(target: string): StoredDoc[];
  /** stored documents under a name, or in every index */
  count(target?: string): number;
  /** distinct _id values over every index */
  distinctIds(): number;
  /** create or index attempts that met an _id already stored (each answered 409 for create) */
  duplicates(): number;
  templates(): Map<string, IndexTemplate>;
  dataStreams(): string[];
  indexNames(): string[];
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Media { type: string; version?: number; vendor: boolean; raw: string }

function parseMedia(raw: string | undefined): Media | undefined {
  if (!raw) return undefined;
  const [essence, ...params] = raw.split(';').map((s) => s.trim());
  const type = essence!.toLowerCase();
  const cw = params.map((p) => p.split('=')).find(([k]) => k!.trim().toLowerCase() === 'compatible-with');
  const version = cw ? Number(cw[1]) : undefined;
  return { type, version, vendor: type.startsWith('application/vnd.elasticsearch+'), raw };
}

export async function startFakeElasticsearch(opts: FakeElasticsearchOptions = {}): Promise<FakeElasticsearch> {
  const flavor = opts.flavor ?? '8';
  const traits: FlavorTraits = flavorTraits(flavor);
  if (traits.opensearch && opts.auth?.apiKey) throw new Error('OpenSearch has no API keys: use username/password');
  const cluster = new FakeCluster(traits);
  const maxContentLength = opts.maxContentLength ?? 100 * 1024 * 1024;
  const random = makeRng(opts.seed ?? 1);
  const retainOpt = opts.retain ?? 'source';
  const retain = retainOpt === 'source' ? (_d: Record<string, unknown>, raw: string) => raw
    : retainOpt === 'none' ? () => null
    : (d: Record<string, unknown>) => retainOpt(d);
  const faults: FakeFaults = {};
  const stats: FakeStats = {
    requests: 0, bulkRequests: 0, bulkItems: 0, bulkBytes: 0, rejectedRequests: 0, itemRejections: 0, resets: 0,
    mappingConflicts: 0, badRequests: 0, authFailures: 0, countedLines: 0, countedDocs: 0, stalledNow: 0, inFlight: 0,
  };
  const requests: RequestRecord[] = [];
  const records = new WeakMap<IncomingMessage, RequestRecord>();
  const sockets = new Set<Socket>();
  const stallWaiters = new Set<() => void>();
  let closed = false;

  const expectedBasic = opts.auth?.username !== undefined ? Buffer.from(`${opts.auth.username}:${opts.auth.password ?? ''}`).toString('base64') : undefined;

  const send = async (req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, product = true) => {
    if (faults.latencyMs) await sleep(faults.latencyMs);
    if (res.destroyed) return;
    const rec = records.get(req);
    if (rec) rec.status = status;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const accept = parseMedia(req.headers.accept);
    const h: Record<string, string> = {
      'content-type': typeof body === 'string' ? 'text/plain; charset=UTF-8'
        : accept?.vendor && accept.version ? `application/vnd.elasticsearch+json;compatible-with=${accept.version}` : 'application/json',
      ...headers,
    };
    if (product && !traits.opensearch) h['x-elastic-product'] = 'Elasticsearch';
    res.writeHead(status, { ...h, 'content-length': String(Buffer.byteLength(text)) });
    res.end(req.method === 'HEAD' ? undefined : text);
  };

  const authProblem = (req: IncomingMessage): string | undefined => {
    if (!opts.auth) return undefined;
    const h = req.headers.authorization;
    const path = (req.url ?? '/').split('?')[0];
    if (!h) return `missing authentication credentials for REST request [${path}]`;
    const [scheme, value] = [h.slice(0, h.indexOf(' ')).toLowerCase(), h.slice(h.indexOf(' ') + 1).trim()];
    if (scheme === 'apikey' && opts.auth.apiKey !== undefined && value === opts.auth.apiKey) return undefined;
    if (scheme === 'basic' && expectedBasic !== undefined && value === expectedBasic) return undefined;
    if (scheme === 'basic') {
      const user = Buffer.from(value, 'base64').toString().split(':')[0];
      return `unable to authenticate user [${user}] for REST request [${path}]`;
    }
    return 'unable to authenticate with provided credentials and anonymous access is not allowed for this request';
  };

  const readBody = (req: IncomingMessage): Promise<Buffer | 'too-large'> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > maxContentLength) over = true;
        else chunks.push(c);
      });
      req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
      req.on('error', reject);
      req.on('close', () => { if (!req.complete) reject(new Error('client went away')); });
    });

  /** Content-Type / Accept checks; an answer to send, or undefined when acceptable. */
  const mediaProblem = (req: IncomingMessage, bulk: boolean): [number, unknown] | undefined => {
    const ct = parseMedia(req.headers['content-type']);
    if (!ct) return [406, { error: 'Content-Type header is missing', status: 406 }];
    const plain = bulk ? ['application/json', 'application/x-ndjson'] : ['application/json'];
    const vendor = bulk ? ['application/vnd.elasticsearch+json', 'application/vnd.elasticsearch+x-ndjson'] : ['application/vnd.elasticsearch+json'];
    const known = plain.includes(ct.type) || (traits.compatibleWith.length > 0 && vendor.includes(ct.type));
    if (!known) return [406, { error: `Content-Type header [${ct.raw}] is not supported`, status: 406 }];
    const accept = parseMedia(req.headers.accept);
    const mtErr = (reason: string): [number, unknown] => [400, errorBody(400, 'media_type_header_exception', 'Invalid media-type value on headers [Accept, Content-Type]', { caused_by: { type: 'status_exception', reason } })];
    for (const m of [ct, accept]) {
      if (!m?.vendor) continue;
      if (m.version === undefined || !traits.compatibleWith.includes(m.version)) {
        return mtErr(`Accept version must be either version ${traits.compatibleWith.join(' or ')}, but found ${m.version}. Accept=${req.headers.accept}`);
      }
    }
    const acceptCounts = accept && accept.type !== '*/*';
    const aV = accept?.vendor ? accept.version : undefined;
    const cV = ct.vendor ? ct.version : undefined;
    if ((aV !== undefined && cV !== undefined && aV !== cV) || (cV !== undefined && acceptCounts && aV === undefined) || (aV !== undefined && cV === undefined)) {
      return mtErr(`A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Accept=${req.headers.accept}, Content-Type=${req.headers['content-type']}`);
    }
    return undefined;
  };

  const pick = (f: { next?: number; share?: number } | undefined): boolean => {
    if (!f) return false;
    if (f.next !== undefined && f.next > 0) {
      f.next--;
      return true;
    }
    return f.share !== undefined && f.share > 0 && random() < f.share;
  };

  // counted on the bytes (a memchr per line), only the first line decoded: the bench measures the sink, not this
  const countOnlyAnswer = (body: Buffer): unknown => {
    let lines = 0;
    for (let i = body.indexOf(10); i >= 0; i = body.indexOf(10, i + 1)) lines++;
    const first = body.toString('utf8', 0, Math.max(0, body.indexOf(10)));
    let op = 'create';
    let index = 'count-only';
    try {
      const a = JSON.parse(first) as Record<string, { _index?: string }>;
      op = Object.keys(a)[0] ?? op;
      index = a[op]?._index ?? index;
    } catch { /* counted anyway */ }
    const docs = op === 'delete' ? lines : Math.floor(lines / 2);
    stats.countedLines += lines;
    stats.countedDocs += docs;
    const item = JSON.stringify({ [op]: { _index: index, _id: 'counted', _version: 1, result: 'created', status: 201 } });
    return `{"took":1,"errors":false,"items":[${docs > 0 ? (item + ',').repeat(docs - 1) + item : ''}]}`;
  };

  const handleBulk = async (req: IncomingMessage, res: ServerResponse, defaultIndex: string | undefined) => {
    stats.bulkRequests++;
    stats.inFlight++;
    try {
      await bulkRequest(req, res, defaultIndex);
    } finally {
      stats.inFlight--;
    }
  };

  const bulkRequest = async (req: IncomingMessage, res: ServerResponse, defaultIndex: string | undefined) => {
    const resetNow = pick(faults.resets);
    const resetAfter = resetNow && faults.resets?.afterIndexing === true;
    if (resetNow && !resetAfter) {
      stats.resets++;
      await new Promise<void>((r) => { req.once('data', () => r()); req.once('end', () => r()); setTimeout(r, 1000); });
      req.socket.destroy();
      return;
    }
    const media = mediaProblem(req, true);
    if (media) {
      stats.badRequests++;
      req.resume();
      return send(req, res, media[0], media[1]);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxContentLength) {
      req.resume();
      return send(req, res, 413, undefined, { connection: 'close' });
    }
    let raw: Buffer | 'too-large';
    try {
      raw = await readBody(req);
    } catch {
      return;
    }
    if (raw === 'too-large') return send(req, res, 413, undefined, { connection: 'close' });
    stats.bulkBytes += raw.length;
    const enc = (req.headers['content-encoding'] ?? '').toLowerCase().trim();
    let body: Buffer = raw;
    try {
      if (enc === 'gzip' || enc === 'x-gzip') body = gunzipSync(raw, { maxOutputLength: maxContentLength });
      else if (enc === 'deflate') body = inflateSync(raw, { maxOutputLength: maxContentLength });
    } catch (err) {
      stats.badRequests++;
      return send(req, res, 400, errorBody(400, 'illegal_argument_exception', `failed to decompress the request body (Content-Encoding: ${enc}): ${(err as Error).message}`));
    }
    const rf = faults.requestFailure;
    if (rf && pick(rf)) {
      stats.rejectedRequests++;
      const headers: Record<string, string> = rf.retryAfterSec !== undefined ? { 'retry-after': String(rf.retryAfterSec) } : {};
      const b = rf.status === 429
        ? errorBody(429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=4096, max_coordinating_and_primary_bytes=104857600]')
        : errorBody(rf.status, rf.status === 503 ? 'unavailable_shards_exception' : 'internal_server_error', rf.status === 503 ? '[fake][0] primary shard is not active Timeout: [1m]' : 'fake server error');
      return send(req, res, rf.status, b, headers);
    }
    if (faults.stall) {
      stats.stalledNow++;
      await new Promise<void>((r) => {
        const done = () => { stallWaiters.delete(check); r(); };
        const check = () => { if (!faults.stall || closed || res.destroyed) done(); };
        stallWaiters.add(check);
        res.once('close', done);
        const t = setInterval(() => { check(); if (!stallWaiters.has(check)) clearInterval(t); }, 50);
      });
      stats.stalledNow--;
      if (res.destroyed || closed) return;
    }
    if (opts.countOnly) return send(req, res, 200, countOnlyAnswer(body));
    const text = body.toString('utf8');
    const acceptType = traits.acceptsTypeInAction || (!traits.opensearch && (parseMedia(req.headers['content-type'])?.version === 7));
    const parsed = parseBulk(text, { defaultIndex, acceptType });
    if (!parsed.ok) {
      stats.badRequests++;
      return send(req, res, parsed.status, parsed.body);
    }
    const started = Date.now();
    stats.bulkItems += parsed.items.length;
    let errors = false;
    const items = parsed.items.map((item) => {
      if (faults.itemRejectShare && random() < faults.itemRejectShare) {
        stats.itemRejections++;
        errors = true;
        const head: Record<string, unknown> = traits.itemType ? { _index: item.index, _type: '_doc', _id: item.id ?? null } : { _index: item.index, _id: item.id ?? null };
        return { [item.op]: { ...head, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1024, max_coordinating_and_primary_bytes=104857600]' } } };
      }
      const r = cluster.execute(item, faults.mappingConflict, faults.mappingConflictField ?? 'log.offset', retain);
      const entry = r[item.op]!;
      if (entry.error) {
        errors = true;
        if (faults.mappingConflict && (entry.error as { reason?: string }).reason?.includes(`failed to parse field [${faults.mappingConflictField ?? 'log.offset'}]`)) stats.mappingConflicts++;
      }
      return r;
    });
    if (resetAfter) {
      stats.resets++;
      req.socket.destroy();
      return;
    }
    return send(req, res, 200, { took: Math.max(1, Date.now() - started), errors, items });
  };

  const readJson = async (req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; answer: [number, unknown] }> => {
    let raw: Buffer | 'too-large';
    try {
      raw = await readBody(req);
    } catch {
      return { ok: false, answer: [400, errorBody(400, 'parse_exception', 'request body is required')] };
    }
    if (raw === 'too-large') return { ok: false, answer: [413, undefined] };
    if (raw.length === 0) return { ok: false, answer: [400, errorBody(400, 'parse_exception', 'request body is required')] };
    const media = mediaProblem(req, false);
    if (media) return { ok: false, answer: media };
    try {
      return { ok: true, value: JSON.parse(raw.toString('utf8')) };
    } catch (err) {
      return { ok: false, answer: [400, errorBody(400, 'x_content_parse_exception', `[1:1] ${(err as Error).message}`)] };
    }
  };

  const dsView = (name: string) => {
    const ds = cluster.dataStreams.get(name)!;
    const backing = cluster.resolve(name);
    return {
      name, timestamp_field: { name: '@timestamp' }, indices: backing.map((i) => ({ index_name: i.name, index_uuid: i.uuid })),
      generation: ds.generation, status: 'GREEN', template: ds.template, hidden: false, system: false,
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const headers = { ...req.headers };
    if (headers.authorization) headers.authorization = headers.authorization.split(' ')[0] + ' <redacted>';
    const record: RequestRecord = { method: req.method ?? '', url: req.url ?? '', headers };
    records.set(req, record);
    requests.push(record);
    if (requests.length > 200) requests.shift();
    const auth = authProblem(req);
    if (auth) {
      stats.authFailures++;
      req.resume();
      if (traits.opensearch) return send(req, res, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="OpenSearch Security"' }, false);
      return send(req, res, 401, errorBody(401, 'security_exception', auth, { header: { 'WWW-Authenticate': ['Basic realm="security" charset="UTF-8"', 'ApiKey'] } }),
        { 'www-authenticate': 'Basic realm="security" charset="UTF-8", ApiKey' }, false);
    }
    const url = new URL(req.url ?? '/', 'http://fake');
    const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const wrongMethod = (allowed: string[]) => {
      req.resume();
      return send(req, res, 405, { error: `Incorrect HTTP method for uri [${req.url}] and method [${method}], allowed: [${allowed.join(', ')}]`, status: 405 });
    };
    const notFoundIndex = (name: string) => errorBody(404, 'index_not_found_exception', `no such index [${name}]`, { 'resource.type': 'index_or_alias', 'resource.id': name, index_uuid: '_na_', index: name });

    if (parts.length === 0) {
      if (method !== 'GET' && method !== 'HEAD') return wrongMethod(['GET', 'HEAD']);
      return send(req, res, 200, traits.info);
    }
    const last = parts[parts.length - 1];
    if (last === '_bulk' && parts.length <= (traits.itemType ? 3 : 2)) {
      if (method !== 'POST' && method !== 'PUT') return wrongMethod(['POST', 'PUT']);
      return handleBulk(req, res, parts.length >= 2 ? parts[0] : url.searchParams.get('index') ?? undefined);
    }
    if (parts[0] === '_cluster' && parts[1] === 'health') {
      return send(req, res, 200, {
        cluster_name: (traits.info as { cluster_name: string }).cluster_name, status: 'green', timed_out: false, number_of_nodes: 1, number_of_data_nodes: 1,
        active_primary_shards: cluster.indices.size, active_shards: cluster.indices.size, relocating_shards: 0, initializing_shards: 0, unassigned_shards: 0,
        delayed_unassigned_shards: 0, number_of_pending_tasks: 0, number_of_in_flight_fetch: 0, task_max_waiting_in_queue_millis: 0, active_shards_percent_as_number: 100.0,
      });
    }
    if (parts[0] === '_index_template') {
      const name = parts[1];
      if (name === undefined) {
        if (method !== 'GET') return wrongMethod(['GET']);
        return send(req, res, 200, { index_templates: [...cluster.templates].map(([n, t]) => ({ name: n, index_template: t })) });
      }
      if (method === 'PUT' || method === 'POST') {
        const b = await readJson(req);
        if (!b.ok) return send(req, res, b.answer[0], b.answer[1]);
        const err = cluster.putTemplate(name, b.value, url.searchParams.get('create') === 'true');
        if (err) return send(req, res, 400, errorBody(400, err.type, err.reason));
        return send(req, res, 200, { acknowledged: true });
      }
      const t = cluster.templates.get(name);
      if (method === 'GET' || method === 'HEAD') {
        if (!t) return send(req, res, 404, errorBody(404, 'resource_not_found_exception', `index template matching [${name}] not found`));
        return send(req, res, 200, { index_templates: [{ name, index_template: t }] });
      }
      if (method === 'DELETE') {
        if (!t) return send(req, res, 404, errorBody(404, 'resource_not_found_exception', `index_template [${name}] missing`));
        cluster.templates.delete(name);
        return send(req, res, 200, { acknowledged: true });
      }
      return wrongMethod(['GET', 'HEAD', 'PUT', 'POST', 'DELETE']);
    }
    if (parts[0] === '_data_stream') {
      const name = parts[1];
      if (method === 'GET') {
        const names = name === undefined ? [...cluster.dataStreams.keys()] : name.split(',').filter((n) => cluster.dataStreams.has(n));
        if (name !== undefined && names.length === 0) return send(req, res, 404, notFoundIndex(name));
        return send(req, res, 200, { data_streams: names.map(dsView) });
      }
      if (method === 'PUT' && name !== undefined) {
        req.resume();
        if (cluster.dataStreams.has(name)) return send(req, res, 400, errorBody(400, 'resource_already_exists_exception', `data_stream [${name}] already exists`));
        const m = cluster.matchTemplate(name);
        if (!m?.template.data_stream) return send(req, res, 400, errorBody(400, 'illegal_argument_exception', `no matching index template found for data stream [${name}]`));
        const err = cluster.create(name);
        if (err) return send(req, res, err[0], errorBody(err[0], err[1], err[2]));
        return send(req, res, 200, { acknowledged: true });
      }
      return wrongMethod(['GET', 'PUT']);
    }
    if (parts.length === 2 && last === '_count') {
      if (method !== 'GET' && method !== 'POST') return wrongMethod(['GET', 'POST']);
      req.resume();
      const idx = cluster.resolve(parts[0]!);
      if (idx.length === 0) return send(req, res, 404, notFoundIndex(parts[0]!));
      return send(req, res, 200, { count: idx.reduce((n, i) => n + i.docs.size, 0), _shards: { total: idx.length, successful: idx.length, skipped: 0, failed: 0 } });
    }
    if (parts.length === 1 && !parts[0]!.startsWith('_')) {
      const name = parts[0]!;
      if (method === 'HEAD' || method === 'GET') {
        const exists = cluster.resolve(name).length > 0;
        return send(req, res, exists ? 200 : 404, exists ? {} : notFoundIndex(name));
      }
      if (method === 'PUT') {
        req.resume();
        if (cluster.resolve(name).length > 0) return send(req, res, 400, errorBody(400, 'resource_already_exists_exception', `index [${name}/_na_] already exists`, { index: name }));
        const problem = indexNameProblem(name);
        if (problem) return send(req, res, 400, errorBody(400, 'invalid_index_name_exception', problem, { index: name }));
        if (cluster.matchTemplate(name)?.template.data_stream) {
          return send(req, res, 400, errorBody(400, 'illegal_argument_exception', `cannot create index with name [${name}], because it matches with template [${cluster.matchTemplate(name)!.name}] that creates data streams only, use create data stream api instead`));
        }
        cluster.create(name);
        return send(req, res, 200, { acknowledged: true, shards_acknowledged: true, index: name });
      }
      return wrongMethod(['GET', 'HEAD', 'PUT']);
    }
    req.resume();
    return send(req, res, 400, { error: `no handler found for uri [${req.url}] and method [${method}]`, status: 400 });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) send(req, res, 500, errorBody(500, 'exception', String(err))).catch(() => undefined);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(opts.port ?? 0);
  const port = (server.address() as { port: number }).port;
  let listening = true;

  const down = async () => {
    if (!listening) return;
    listening = false;
    const closedP = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    for (const w of stallWaiters) w();
    await closedP;
  };

  const fake: FakeElasticsearch = {
    url: `http://127.0.0.1:${port}`,
    port,
    flavor,
    faults,
    stats,
    requests,
    documents: (target) => cluster.resolve(target).flatMap((i) => [...i.docs.values()]),
    count: (target) => (target === undefined ? [...cluster.indices.values()] : cluster.resolve(target)).reduce((n, i) => n + i.docs.size, 0),
    distinctIds: () => {
      const ids = new Set<string>();
      for (const i of cluster.indices.values()) for (const id of i.docs.keys()) ids.add(id);
      return ids.size;
    },
    duplicates: () => cluster.duplicates,
    templates: () => cluster.templates,
    dataStreams: () => [...cluster.dataStreams.keys()],
    indexNames: () => [...cluster.indices.keys()],
    down,
    up: async () => {
      if (listening || closed) return;
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await listen(port);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw new Error(`fake Elasticsearch cannot listen on ${port} again: ${(err as Error).message}`);
          await sleep(100);
        }
      }
      listening = true;
    },
    close: async () => {
      closed = true;
      await down();
    },
  };
  return fake;
}
