/**
 * What makes the aggregator look like Elasticsearch 8.x to shippers and the
 * official clients: the `X-Elastic-Product: Elasticsearch` header on every
 * answer of these routes (the 8.x/9.x clients refuse a server without it),
 * the GET / body (Beats and Vector read version.number; 7.x clients also
 * check tagline and build_flavor), and errors in Elasticsearch's shape, which
 * is a superset of ours: {"error":{"root_cause":[..],"type","reason"},"status"}.
 */
import type { ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';

export const PRODUCT_HEADER = 'x-elastic-product';
export const PRODUCT = 'Elasticsearch';

/**
 * The version we claim. Beats refuse a server older than themselves unless
 * allow_older_versions is set, so it is a recent 8.x; clients only branch on
 * the major (8: no mapping types).
 */
export const CLAIMED_VERSION = '8.17.0';

export function clusterInfo(name = hostname()): Record<string, unknown> {
  // A stable uuid per host, so a client that caches it sees the same cluster.
  const uuid = createHash('sha256').update(`logship:${name}`).digest('base64url').slice(0, 22);
  return {
    name,
    cluster_name: 'logship',
    cluster_uuid: uuid,
    version: {
      number: CLAIMED_VERSION,
      build_flavor: 'default',
      build_type: 'tar',
      build_hash: '0000000000000000000000000000000000000000',
      build_date: '2024-12-11T12:08:05.663969764Z',
      build_snapshot: false,
      lucene_version: '9.12.0',
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'You Know, for Search',
  };
}

/** A compact JSON answer with the product header (Vector looks for `"errors":true` byte for byte). */
export function sendEs(res: ServerResponse, status: number, body: unknown, head = false): void {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), [PRODUCT_HEADER]: PRODUCT });
  if (head) res.end();
  else res.end(data);
}

/** Elasticsearch's error body for a whole-request failure. */
export function esErrorBody(status: number, type: string, reason: string): Record<string, unknown> {
  return { error: { root_cause: [{ type, reason }], type, reason }, status };
}
