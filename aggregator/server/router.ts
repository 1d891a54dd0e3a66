/**
 * Routes a request through the route table (routes.ts); every failure becomes
 * a JSON error with a counted metric. Order, for every route that needs a
 * token: authenticate (401) -> ready (503) -> method (400) -> scope and topic
 * (403) -> handler. A path no route has is 401 without a valid token, then
 * 404, so nothing about the API is told to an unauthenticated caller beyond
 * the open endpoints.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, noteRefusal, sendError } from './http-util.js';
import type { ServerContext } from './context.js';
import { matchRoute, routes as defaultRoutes, type Route } from './routes.js';

export function createRouter(ctx: ServerContext, table: readonly Route[] = defaultRoutes) {
  // The requests counter's child per route and status, looked up by label once (bounded: routes x statuses).
  const counted = new Map<string, { inc(): void }>();
  const count = (route: string, status: number): void => {
    const key = `${route} ${status}`;
    let c = counted.get(key);
    if (!c) {
      if (counted.size >= 1000) counted.clear();
      counted.set(key, (c = ctx.metrics.requests.labels({ route, status: String(status) })));
    }
    c.inc();
  };
  return async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    // Full URL parsing only where a query string matters (records); ingest stays on the cheap path.
    const path = qi < 0 ? raw : raw.slice(0, qi);
    let label = 'other';
    try {
      const found = matchRoute(table, path);
      const r = found?.route;
      if (r && !r.auth) {
        label = r.label;
        return await r.handle(ctx, { req, res, raw, params: found.params });
      }
      // Elasticsearch clients check this header on every answer, errors included.
      if (r?.auth?.schemes === 'es') res.setHeader('x-elastic-product', 'Elasticsearch');
      ctx.auth.check(req, r?.auth?.schemes === 'es');
      if (!ctx.isReady()) throw new HttpError(503, 'unavailable', 'the aggregator is starting or shutting down; retry');
      if (!r) throw new HttpError(404, 'not_found', `no route for ${req.method} ${path}`);
      label = r.label;
      if (!r.methods.includes('*') && !r.methods.includes(req.method ?? '')) {
        throw new HttpError(400, 'bad_request', `method ${req.method} not allowed here; use ${r.methods.join(' or ')}`);
      }
      const auth = r.auth!;
      ctx.auth.requireScope(req, auth.scope, auth.topicParam === undefined ? undefined : found.params[auth.topicParam]);
      return await r.handle(ctx, { req, res, raw, params: found.params });
    } catch (err) {
      sendError(res, noteRefusal(err, ctx, { path }));
    } finally {
      try {
        count(label, res.statusCode);
      } catch (err) {
        ctx.logger.error({ err, path: path.slice(0, 200) }, 'counting a request failed');
      }
    }
  };
}
