/**
 * The calls shippers and clients make before they send (version probes,
 * health checks, license, sniffing, template and policy set-up), answered so
 * they proceed. Templates, ILM policies, component templates and data stream
 * definitions are kept in memory only, to answer a later GET/HEAD
 * consistently within this process (so Filebeat does not PUT them again and
 * again), and otherwise ignored: they change nothing about how documents are
 * stored, and they are forgotten on restart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, readBody } from '../http-util.js';
import type { ServerContext } from '../context.js';
import { CLAIMED_VERSION, clusterInfo, sendEs } from './product.js';

const MAX_DEFINITIONS = 256;
const MAX_DEFINITION_BYTES = 1 << 20;

/** Definitions PUT by clients, by kind ("_index_template", ...) and name. */
export class Definitions {
  #m = new Map<string, unknown>();
  get(kind: string, name: string): unknown {
    return this.#m.get(`${kind}\u0000${name}`);
  }
  put(kind: string, name: string, body: unknown): void {
    const k = `${kind}\u0000${name}`;
    this.#m.delete(k);
    this.#m.set(k, body);
    // Bounded: the oldest definition goes first.
    if (this.#m.size > MAX_DEFINITIONS) this.#m.delete(this.#m.keys().next().value!);
  }
  delete(kind: string, name: string): boolean {
    return this.#m.delete(`${kind}\u0000${name}`);
  }
}

export function handleRoot(req: IncomingMessage, res: ServerResponse): void {
  sendEs(res, 200, clusterInfo(), req.method === 'HEAD');
}

export function handleLicense(_req: IncomingMessage, res: ServerResponse): void {
  sendEs(res, 200, {
    license: {
      status: 'active',
      uid: '00000000-0000-0000-0000-000000000000',
      type: 'basic',
      issue_date: '1970-01-01T00:00:00.000Z',
      issue_date_in_millis: 0,
      max_nodes: 1000,
      max_resource_units: null,
      issued_to: 'logship',
      issuer: 'elasticsearch',
      start_date_in_millis: -1,
    },
  });
}

export function handleXpack(_req: IncomingMessage, res: ServerResponse): void {
  sendEs(res, 200, {
    build: { hash: '0000000000000000000000000000000000000000', date: '2024-12-11T12:08:05.663969764Z' },
    license: { uid: '00000000-0000-0000-0000-000000000000', type: 'basic', mode: 'basic', status: 'active' },
    features: {},
    tagline: 'You know, for X',
  });
}

export function handleClusterHealth(req: IncomingMessage, res: ServerResponse): void {
  sendEs(
    res,
    200,
    {
      cluster_name: 'logship',
      status: 'green',
      timed_out: false,
      number_of_nodes: 1,
      number_of_data_nodes: 1,
      active_primary_shards: 0,
      active_shards: 0,
      relocating_shards: 0,
      initializing_shards: 0,
      unassigned_shards: 0,
      delayed_unassigned_shards: 0,
      number_of_pending_tasks: 0,
      number_of_in_flight_fetch: 0,
      task_max_waiting_in_queue_millis: 0,
      active_shards_percent_as_number: 100.0,
    },
    req.method === 'HEAD',
  );
}

export function handleCatHealth(req: IncomingMessage, res: ServerResponse): void {
  const now = new Date();
  const epoch = Math.floor(now.getTime() / 1000);
  const line = `${epoch} ${now.toISOString().slice(11, 19)} logship green 1 1 0 0 0 0 0 0 - 100.0%\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': Buffer.byteLength(line), 'x-elastic-product': 'Elasticsearch' });
  res.end(req.method === 'HEAD' ? undefined : line);
}

/** Sniffing: one node, this aggregator, at the address the request came in on. */
export function handleNodes(req: IncomingMessage, res: ServerResponse): void {
  const info = clusterInfo();
  const addr = req.socket.localAddress ?? '127.0.0.1';
  const host = addr.includes(':') ? `[${addr}]` : addr;
  const publish = `${host}:${req.socket.localPort ?? 9400}`;
  sendEs(res, 200, {
    _nodes: { total: 1, successful: 1, failed: 0 },
    cluster_name: 'logship',
    nodes: {
      [String(info.cluster_uuid)]: {
        name: info.name,
        host: addr,
        ip: addr,
        version: CLAIMED_VERSION,
        roles: ['data', 'ingest', 'master'],
        http: { bound_address: [publish], publish_address: publish, max_content_length_in_bytes: 100 * 1024 * 1024 },
      },
    },
  });
}

/**
 * PUT/GET/HEAD/DELETE of /_index_template/{name}, /_component_template/{name},
 * /_template/{name}, /_ilm/policy/{name}, /_data_stream/{name}.
 */
export async function handleDefinition(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, kind: string, rawName: string): Promise<void> {
  const defs = ctx.jsonIngest?.definitions;
  if (!defs) throw new HttpError(503, 'unavailable', 'JSON ingest is not set up');
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    throw new HttpError(400, 'bad_request', `${kind} name is not valid %-encoding`);
  }
  const method = req.method ?? 'GET';
  if (method === 'PUT' || method === 'POST') {
    let body: unknown = {};
    if (kind !== '_data_stream') {
      const raw = await readBody(req, MAX_DEFINITION_BYTES);
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          throw new HttpError(400, 'x_content_parse_exception', `${kind}/${name}: the body is not JSON: ${(err as Error).message}`);
        }
      }
    }
    defs.put(kind, name, body);
    ctx.jsonIngest!.warnOnce(`definition:${kind}`, `${kind} PUT accepted and kept in memory only: it does not change how logship stores documents`, { kind, name });
    sendEs(res, 200, { acknowledged: true });
    return;
  }
  if (method === 'DELETE') {
    defs.delete(kind, name);
    sendEs(res, 200, { acknowledged: true });
    return;
  }
  const body = defs.get(kind, name);
  if (body === undefined) {
    const type = kind === '_ilm/policy' ? 'resource_not_found_exception' : kind === '_data_stream' ? 'index_not_found_exception' : 'resource_not_found_exception';
    const reason = `${kind.replace(/^_/, '').replace('/', ' ')} [${name}] not found`;
    sendEs(res, 404, method === 'HEAD' ? '' : { error: { root_cause: [{ type, reason }], type, reason }, status: 404 }, method === 'HEAD');
    return;
  }
  let answer: unknown;
  if (kind === '_index_template') answer = { index_templates: [{ name, index_template: body }] };
  else if (kind === '_component_template') answer = { component_templates: [{ name, component_template: body }] };
  else if (kind === '_ilm/policy') answer = { [name]: { version: 1, modified_date: '1970-01-01T00:00:00.000Z', policy: (body as { policy?: unknown }).policy ?? {} } };
  else if (kind === '_data_stream') answer = { data_streams: [{ name, timestamp_field: { name: '@timestamp' }, indices: [], generation: 1, status: 'GREEN', template: '' }] };
  else answer = { [name]: body };
  sendEs(res, 200, answer, method === 'HEAD');
}
