/**
 * The aggregator's route table: every endpoint with its method(s), path
 * pattern, metric label, auth (none, or the accepted schemes plus the scope
 * it needs) and handler. Adding an endpoint (the Elasticsearch-compatible
 * `_bulk`, produce) is one entry here; `auth.schemes: 'es'` also accepts the
 * ApiKey and Basic credentials Elasticsearch clients send.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Scope } from './auth.js';
import { handleBatches } from './batches.js';
import { handleRecords } from './records.js';
import { handleGroupOffsets, handleTopics } from './topics.js';
import { handleSinks } from './sinks.js';
import { HttpError, decodePathSegment, sendJson } from './http-util.js';
import type { ServerContext } from './context.js';
import { esRoutes } from './es-compat/routes.js';
import { handleProduce } from './produce.js';
import { handleUi } from './ui/page.js';
import { handleGroupsList } from './groups-list.js';

export interface RouteAuth {
  /** 'bearer': Authorization: Bearer only | 'es': also ApiKey and Basic (token as password) */
  schemes: 'bearer' | 'es';
  scope: Scope;
  /** the path parameter holding a topic the token's allow-list must permit */
  topicParam?: number;
}

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** the raw request target (path and query) */
  raw: string;
  /** path parameters, still %-encoded */
  params: string[];
}

export interface Route {
  /** '*': any method (health and metrics answer whatever is asked, as before) */
  methods: readonly string[];
  /** exact path, or a pattern whose groups are the params */
  path: string | RegExp;
  /** the `route` label of logship_aggregator_requests_total */
  label: string;
  /** undefined: no token needed (health and metrics) */
  auth?: RouteAuth;
  handle: (ctx: ServerContext, r: RouteRequest) => Promise<void> | void;
}

export const routes: readonly Route[] = [
  {
    methods: ['GET'],
    path: '/v1/alerts',
    label: 'alerts',
    auth: { schemes: 'bearer', scope: 'read' },
    handle: (ctx, { res }) => sendJson(res, 200, ctx.alerts?.() ?? { rules: [], sinks: [] }),
  },
  { methods: ['*'], path: '/healthz', label: 'healthz', handle: (_ctx, { res }) => sendJson(res, 200, { status: 'ok' }) },
  {
    methods: ['*'],
    path: '/readyz',
    label: 'readyz',
    handle: (ctx, { res }) => (ctx.isReady() ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { error: { type: 'unavailable', reason: 'starting or shutting down' } })),
  },
  {
    methods: ['*'],
    path: '/metrics',
    label: 'metrics',
    handle: async (ctx, { res }) => {
      ctx.beforeScrape?.();
      const text = ctx.renderMetrics ? await ctx.renderMetrics() : await ctx.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
      res.end(text);
    },
  },
  { methods: ['POST'], path: '/v1/batches', label: 'batches', auth: { schemes: 'bearer', scope: 'ingest' }, handle: (ctx, { req, res }) => handleBatches(ctx, req, res) },
  {
    methods: ['GET'],
    path: '/v1/topics',
    label: 'topics',
    auth: { schemes: 'bearer', scope: 'read' },
    handle: (ctx, { req, res }) => handleTopics(ctx, res, (topic) => ctx.auth.allowsTopic(req, topic)),
  },
  {
    methods: ['GET'],
    path: /^\/v1\/topics\/([^/]+)\/partitions\/([^/]+)\/records$/,
    label: 'records',
    auth: { schemes: 'bearer', scope: 'read', topicParam: 0 },
    handle: (ctx, { req, res, raw, params }) => {
      // Only long-polls need to notice a client that went away; ingest skips the per-request AbortController.
      const ac = new AbortController();
      res.once('close', () => ac.abort());
      return handleRecords(ctx, parseUrl(raw), res, decodePathSegment(params[0]!, 'topic'), decodePathSegment(params[1]!, 'partition'), ac.signal);
    },
  },
  {
    methods: ['GET', 'POST'],
    path: /^\/v1\/groups\/([^/]+)\/offsets$/,
    label: 'groups',
    auth: { schemes: 'bearer', scope: 'read' },
    handle: (ctx, { req, res, params }) => handleGroupOffsets(ctx, req, res, decodePathSegment(params[0]!, 'group')),
  },
  { methods: ['GET'], path: '/v1/agents', label: 'agents', auth: { schemes: 'bearer', scope: 'read' }, handle: (ctx, { res }) => sendJson(res, 200, { agents: ctx.agents?.view() ?? [] }) },
  { methods: ['GET'], path: '/v1/groups', label: 'groups_list', auth: { schemes: 'bearer', scope: 'read' }, handle: (ctx, { req, res }) => handleGroupsList(ctx, req, res) },
  // The status page: static HTML without data (no token); its script reads the endpoints above with a read token.
  { methods: ['GET', 'HEAD'], path: /^\/ui\/?$/, label: 'ui', handle: (_ctx, { req, res }) => handleUi(req, res) },
  { methods: ['GET'], path: '/v1/sinks', label: 'sinks', auth: { schemes: 'bearer', scope: 'read' }, handle: (ctx, { res }) => handleSinks(ctx, res) },
  {
    methods: ['POST'],
    path: /^\/v1\/topics\/([^/]+)\/records$/,
    label: 'produce',
    auth: { schemes: 'bearer', scope: 'ingest', topicParam: 0 },
    handle: (ctx, { req, res, params }) => handleProduce(ctx, req, res, decodePathSegment(params[0]!, 'topic')),
  },
  ...esRoutes,
];

/** The route for `path` (whatever the method) and its params, or undefined. */
export function matchRoute(table: readonly Route[], path: string): { route: Route; params: string[] } | undefined {
  for (const route of table) {
    if (typeof route.path === 'string') {
      if (route.path === path) return { route, params: [] };
      continue;
    }
    const m = route.path.exec(path);
    if (m) return { route, params: m.slice(1) };
  }
  return undefined;
}

function parseUrl(raw: string): URL {
  try {
    return new URL(raw, 'http://x');
  } catch {
    throw new HttpError(400, 'bad_request', 'the request URL cannot be parsed');
  }
}
