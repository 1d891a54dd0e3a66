/**
 * What the cluster is (`GET /`) and the index template (`PUT _index_template`).
 *
 * Supported: Elasticsearch 7.17, 8.x, 9.x and OpenSearch 1.x, 2.x. An
 * Elasticsearch 8 or later must send `X-Elastic-Product: Elasticsearch`
 * (7.14+ send it too, older ones do not); OpenSearch says
 * `version.distribution: "opensearch"`. Both accept composable templates.
 */
import { LogshipError } from '../../../lib/errors.js';
import type { EsClient, EsResponse } from './client.js';

export interface ClusterInfo {
  product: 'elasticsearch' | 'opensearch';
  version: string;
  major: number;
  minor: number;
}

/** Not retried by waiting: the cluster is something we do not support (until it is upgraded). */
export class UnsupportedClusterError extends LogshipError {
  constructor(message: string) {
    super('LSH_ERR_CONFIG', message);
    this.name = 'UnsupportedClusterError';
  }
}

/** A whole-request failure worth retrying (network, 5xx, 429, auth). */
export class EsRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'EsRequestError';
  }
}

export function clusterInfo(res: EsResponse): ClusterInfo {
  if (res.status === 401 || res.status === 403) throw new EsRequestError(`${res.url} refused our credentials (HTTP ${res.status}): check api_key or username/password`, res.status);
  if (res.status !== 200) throw new EsRequestError(`GET ${res.url}/ answered HTTP ${res.status}`, res.status);
  let body: { version?: { number?: unknown; distribution?: unknown } };
  try {
    body = JSON.parse(res.body.toString('utf8')) as typeof body;
  } catch {
    throw new UnsupportedClusterError(`${res.url} is not Elasticsearch or OpenSearch: GET / did not answer JSON`);
  }
  const number = body?.version?.number;
  const m = typeof number === 'string' ? /^(\d+)\.(\d+)/.exec(number) : null;
  if (!m) throw new UnsupportedClusterError(`${res.url} is not Elasticsearch or OpenSearch: GET / has no version.number`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const version = number as string;
  if (body.version?.distribution === 'opensearch') {
    if (major < 1 || major > 2) throw new UnsupportedClusterError(`${res.url} is OpenSearch ${version}: supported are OpenSearch 1.x and 2.x`);
    return { product: 'opensearch', version, major, minor };
  }
  const supported = (major === 7 && minor >= 17) || major === 8 || major === 9;
  if (!supported) throw new UnsupportedClusterError(`${res.url} is Elasticsearch ${version}: supported are 7.17, 8.x and 9.x (and OpenSearch 1.x, 2.x)`);
  const product = res.headers['x-elastic-product'];
  if (major >= 8 && product !== 'Elasticsearch') {
    throw new UnsupportedClusterError(`${res.url} claims Elasticsearch ${version} but does not send X-Elastic-Product: Elasticsearch: not a genuine Elasticsearch`);
  }
  return { product: 'elasticsearch', version, major, minor };
}

/** The composable template with ECS mappings for what this sink writes. */
export function templateBody(pattern: string, dataStream: boolean, info: ClusterInfo, version: string): Record<string, unknown> {
  const es = info.product === 'elasticsearch';
  const kw = { type: 'keyword', ignore_above: 1024 };
  // constant_keyword and match_only_text are Elasticsearch (7.14+) types; OpenSearch gets keyword and text.
  const constant = es ? { type: 'constant_keyword' } : { type: 'keyword' };
  return {
    index_patterns: [pattern],
    // Above the built-in logs-*-* / metrics-*-* templates (100), so ours applies to the streams we write.
    priority: 150,
    ...(dataStream ? { data_stream: {} } : {}),
    template: {
      mappings: {
        dynamic_templates: [
          { logship_metrics: { path_match: 'metrics.*', match_mapping_type: 'long', mapping: { type: 'double' } } },
          { logship_metrics_double: { path_match: 'metrics.*', match_mapping_type: 'double', mapping: { type: 'double' } } },
          { logship_strings: { match_mapping_type: 'string', mapping: kw } },
        ],
        properties: {
          '@timestamp': { type: 'date' },
          message: es ? { type: 'match_only_text' } : { type: 'text' },
          host: { properties: { name: kw } },
          log: { properties: { file: { properties: { path: kw } }, offset: { type: 'long' } } },
          event: { properties: { dataset: kw, kind: kw } },
          agent: { properties: { type: kw, version: kw, id: kw } },
          ...(dataStream ? { data_stream: { properties: { type: constant, dataset: constant, namespace: constant } } } : {}),
          metrics: { type: 'object', dynamic: true },
        },
      },
    },
    _meta: { managed_by: 'logship', version },
  };
}

export function templateName(sink: string): string {
  return `logship-${sink.toLowerCase()}`;
}
