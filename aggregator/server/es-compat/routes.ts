/**
 * The Elasticsearch-compatible routes (auth scheme 'es': Bearer, ApiKey, or
 * Basic with the token as password; scope ingest). The router adds
 * `X-Elastic-Product: Elasticsearch` to every answer of these routes, errors
 * included. Listed after logship's own routes in aggregator/server/routes.ts.
 */
import type { Route, RouteAuth, RouteRequest } from '../routes.js';
import type { ServerContext } from '../context.js';
import { decodePathSegment } from '../http-util.js';
import { handleBulk } from './bulk.js';
import { handleCatHealth, handleClusterHealth, handleDefinition, handleLicense, handleNodes, handleRoot, handleXpack } from './startup.js';

const es: RouteAuth = { schemes: 'es', scope: 'ingest' };
const DEFINITIONS = /^\/(_index_template|_component_template|_template|_ilm\/policy|_data_stream)\/([^/]+)\/?$/;

export const esRoutes: readonly Route[] = [
  { methods: ['GET', 'HEAD'], path: '/', label: 'es_info', auth: es, handle: (_ctx, { req, res }) => handleRoot(req, res) },
  { methods: ['POST', 'PUT'], path: /^\/_bulk\/?$/, label: 'bulk', auth: es, handle: (ctx, { req, res, raw }) => handleBulk(ctx, req, res, raw, undefined) },
  {
    methods: ['POST', 'PUT'],
    // /{index}/_bulk, and 7.x's /{index}/{type}/_bulk (the type is ignored)
    path: /^\/([^/_][^/]*)(?:\/[^/]+)?\/_bulk\/?$/,
    label: 'bulk',
    auth: es,
    handle: (ctx, { req, res, raw, params }) => handleBulk(ctx, req, res, raw, decodePathSegment(params[0]!, 'index')),
  },
  // Single documents (rsyslog's default bulkmode="off", clients' index()/create()); the type segment of 7.x paths
  // is ignored; first segments v1 and ui are logship's own paths, never an index here.
  { methods: ['POST'], path: /^\/((?!(?:v1|ui)\/)[^/_][^/]*)\/_doc\/?$/, label: 'es_doc', auth: es, handle: (ctx, r) => single(ctx, r, 'index', false) },
  { methods: ['PUT', 'POST'], path: /^\/((?!(?:v1|ui)\/)[^/_][^/]*)\/_doc\/([^/]+)$/, label: 'es_doc', auth: es, handle: (ctx, r) => single(ctx, r, 'index', true) },
  { methods: ['PUT', 'POST'], path: /^\/((?!(?:v1|ui)\/)[^/_][^/]*)\/_create\/([^/]+)$/, label: 'es_doc', auth: es, handle: (ctx, r) => single(ctx, r, 'create', true) },
  { methods: ['GET'], path: /^\/_license\/?$/, label: 'es_startup', auth: es, handle: (_ctx, { req, res }) => handleLicense(req, res) },
  { methods: ['GET'], path: /^\/_xpack\/?$/, label: 'es_startup', auth: es, handle: (_ctx, { req, res }) => handleXpack(req, res) },
  { methods: ['GET', 'HEAD'], path: /^\/_cluster\/health(?:\/[^/]+)?\/?$/, label: 'es_startup', auth: es, handle: (_ctx, { req, res }) => handleClusterHealth(req, res) },
  { methods: ['GET', 'HEAD'], path: /^\/_cat\/health\/?$/, label: 'es_startup', auth: es, handle: (_ctx, { req, res }) => handleCatHealth(req, res) },
  { methods: ['GET'], path: /^\/_nodes(?:\/_all)?(?:\/http)?\/?$/, label: 'es_startup', auth: es, handle: (_ctx, { req, res }) => handleNodes(req, res) },
  {
    methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
    path: DEFINITIONS,
    label: 'es_startup',
    auth: es,
    handle: (ctx, { req, res, params }) => handleDefinition(ctx, req, res, params[0]!, params[1]!),
  },
  { methods: ['POST'], path: /^\/((?!(?:v1|ui)\/)[^/_][^/]*)\/[^/_][^/]*\/?$/, label: 'es_doc', auth: es, handle: (ctx, r) => single(ctx, r, 'index', false) },
  { methods: ['PUT', 'POST'], path: /^\/((?!(?:v1|ui)\/)[^/_][^/]*)\/[^/_][^/]*\/([^/]+)$/, label: 'es_doc', auth: es, handle: (ctx, r) => single(ctx, r, 'index', true) },
];

function single(ctx: ServerContext, { req, res, raw, params }: RouteRequest, action: 'index' | 'create', withId: boolean): Promise<void> {
  const index = decodePathSegment(params[0]!, 'index');
  return handleBulk(ctx, req, res, raw, index, withId ? { action, id: decodePathSegment(params[1]!, '_id') } : { action });
}
