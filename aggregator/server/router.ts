/** Routes a request to its handler; every failure becomes a JSON error with a counted metric. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handleBatches } from './batches.js';
import { handleRecords } from './records.js';
import { handleGroupOffsets, handleTopics } from './topics.js';
import { HttpError, decodePathSegment, sendError, sendJson, toHttpError } from './http-util.js';
import type { ServerContext } from './context.js';

const RECORDS = /^\/v1\/topics\/([^/]+)\/partitions\/([^/]+)\/records$/;
const GROUP = /^\/v1\/groups\/([^/]+)\/offsets$/;

export function createRouter(ctx: ServerContext) {
  return async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    // Full URL parsing only where a query string matters (records); ingest stays on the cheap path.
    const path = qi < 0 ? raw : raw.slice(0, qi);
    let label = 'other';
    try {
      if (path === '/healthz') {
        label = 'healthz';
        return sendJson(res, 200, { status: 'ok' });
      }
      if (path === '/readyz') {
        label = 'readyz';
        return ctx.isReady() ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { error: { type: 'unavailable', reason: 'starting or shutting down' } });
      }
      if (path === '/metrics') {
        label = 'metrics';
        ctx.beforeScrape?.();
        const text = await ctx.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
        return void res.end(text);
      }
      ctx.auth.check(req);
      if (!ctx.isReady()) throw new HttpError(503, 'unavailable', 'the aggregator is starting or shutting down; retry');
      if (path === '/v1/batches') {
        label = 'batches';
        if (req.method !== 'POST') throw methodNotAllowed(req, 'POST');
        ctx.auth.requireScope(req, 'ingest');
        return await handleBatches(ctx, req, res);
      }
      if (path === '/v1/topics') {
        label = 'topics';
        if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
        ctx.auth.requireScope(req, 'read');
        return await handleTopics(ctx, res, (topic) => ctx.auth.allowsTopic(req, topic));
      }
      let m = RECORDS.exec(path);
      if (m) {
        label = 'records';
        if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
        ctx.auth.requireScope(req, 'read', m[1]);
        // Only long-polls need to notice a client that went away; ingest skips the per-request AbortController.
        const ac = new AbortController();
        res.once('close', () => ac.abort());
        return await handleRecords(ctx, parseUrl(raw), res, decodePathSegment(m[1]!, 'topic'), decodePathSegment(m[2]!, 'partition'), ac.signal);
      }
      m = GROUP.exec(path);
      if (m) {
        label = 'groups';
        if (req.method !== 'GET' && req.method !== 'POST') throw methodNotAllowed(req, 'GET or POST');
        ctx.auth.requireScope(req, 'read');
        return await handleGroupOffsets(ctx, req, res, decodePathSegment(m[1]!, 'group'));
      }
      throw new HttpError(404, 'not_found', `no route for ${req.method} ${path}`);
    } catch (err) {
      const e = toHttpError(err);
      if (e.status >= 500 && e.type === 'internal') ctx.logger.error({ err, path }, 'request failed');
      else if (e.status >= 500) ctx.logger.warn({ path, reason: e.reason }, 'request refused');
      if (e.status === 400 || e.status === 413 || e.status === 415) ctx.metrics.badRequests.inc({ type: e.type });
      sendError(res, e);
    } finally {
      try {
        ctx.metrics.requests.inc({ route: label, status: String(res.statusCode) });
      } catch (err) {
        ctx.logger.error({ err, path: path.slice(0, 200) }, 'counting a request failed');
      }
    }
  };
}

function parseUrl(raw: string): URL {
  try {
    return new URL(raw, 'http://x');
  } catch {
    throw new HttpError(400, 'bad_request', 'the request URL cannot be parsed');
  }
}

function methodNotAllowed(req: IncomingMessage, allowed: string): HttpError {
  return new HttpError(400, 'bad_request', `method ${req.method} not allowed here; use ${allowed}`);
}
