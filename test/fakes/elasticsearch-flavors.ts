/**
 * What differs between the Elasticsearch and OpenSearch versions the fake impersonates:
 * the `GET /` body, the product header, `_type` in bulk items and action lines, the
 * media-type versions accepted, the error type of a document that fails to parse,
 * and whether the `logs-*-*` / `metrics-*-*` templates that declare data streams are built in.
 * Values follow what each server answers (ES 7.14+ sends `X-Elastic-Product` on its
 * answers; OpenSearch never does and says `distribution: "opensearch"`).
 */

export type FakeFlavor = '7.17' | '8' | '9' | 'opensearch-1' | 'opensearch-2';

export interface FlavorTraits {
  flavor: FakeFlavor;
  /** `version.number` in `GET /` */
  number: string;
  opensearch: boolean;
  /** bulk items carry `"_type":"_doc"` (ES 7.x, OpenSearch 1.x) */
  itemType: boolean;
  /** an action line with `_type` is accepted (and ignored) rather than refused */
  acceptsTypeInAction: boolean;
  /** `compatible-with=N` values accepted in vendor media types (empty: vendor types unknown) */
  compatibleWith: number[];
  /** error type of an item whose source cannot be mapped (8.8+ renamed it) */
  parseErrorType: 'mapper_parsing_exception' | 'document_parsing_exception';
  /** ES ships composable templates logs-*-*, metrics-*-* (priority 100) with data_stream: {} */
  builtinDataStreamTemplates: boolean;
  info: Record<string, unknown>;
}

const clusterUuid = 'xk5l2XqJQbGm0aFakeEs1w';

function esInfo(number: string, lucene: string, wire: string, index: string): Record<string, unknown> {
  return {
    name: 'fake-es-node',
    cluster_name: 'fake-es',
    cluster_uuid: clusterUuid,
    version: {
      number,
      build_flavor: 'default',
      build_type: 'docker',
      build_hash: '0000000000000000000000000000000000000000',
      build_date: '2026-01-01T00:00:00.000000000Z',
      build_snapshot: false,
      lucene_version: lucene,
      minimum_wire_compatibility_version: wire,
      minimum_index_compatibility_version: index,
    },
    tagline: 'You Know, for Search',
  };
}

function osInfo(number: string, lucene: string, wire: string, index: string): Record<string, unknown> {
  return {
    name: 'fake-opensearch-node',
    cluster_name: 'fake-opensearch',
    cluster_uuid: clusterUuid,
    version: {
      distribution: 'opensearch',
      number,
      build_type: 'tar',
      build_hash: '0000000000000000000000000000000000000000',
      build_date: '2026-01-01T00:00:00.000000Z',
      build_snapshot: false,
      lucene_version: lucene,
      minimum_wire_compatibility_version: wire,
      minimum_index_compatibility_version: index,
    },
    tagline: 'The OpenSearch Project: https://opensearch.org/',
  };
}

export function flavorTraits(flavor: FakeFlavor): FlavorTraits {
  switch (flavor) {
    case '7.17':
      return {
        flavor, number: '7.17.25', opensearch: false, itemType: true, acceptsTypeInAction: true, compatibleWith: [7],
        parseErrorType: 'mapper_parsing_exception', builtinDataStreamTemplates: true,
        info: esInfo('7.17.25', '8.11.3', '6.8.0', '6.0.0-beta1'),
      };
    case '8':
      return {
        flavor, number: '8.17.0', opensearch: false, itemType: false, acceptsTypeInAction: false, compatibleWith: [7, 8],
        parseErrorType: 'document_parsing_exception', builtinDataStreamTemplates: true,
        info: esInfo('8.17.0', '9.12.0', '7.17.0', '7.0.0'),
      };
    case '9':
      return {
        flavor, number: '9.1.0', opensearch: false, itemType: false, acceptsTypeInAction: false, compatibleWith: [8, 9],
        parseErrorType: 'document_parsing_exception', builtinDataStreamTemplates: true,
        info: esInfo('9.1.0', '10.2.2', '8.19.0', '8.0.0'),
      };
    case 'opensearch-1':
      return {
        flavor, number: '1.3.19', opensearch: true, itemType: true, acceptsTypeInAction: true, compatibleWith: [],
        parseErrorType: 'mapper_parsing_exception', builtinDataStreamTemplates: false,
        info: osInfo('1.3.19', '8.10.1', '6.8.0', '6.0.0-beta1'),
      };
    case 'opensearch-2':
      return {
        flavor, number: '2.18.0', opensearch: true, itemType: false, acceptsTypeInAction: false, compatibleWith: [],
        parseErrorType: 'mapper_parsing_exception', builtinDataStreamTemplates: false,
        info: osInfo('2.18.0', '9.12.0', '7.10.0', '7.0.0'),
      };
  }
}

/** Elasticsearch's error body: the cause, repeated as root_cause, and the status. */
export function errorBody(status: number, type: string, reason: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cause = { type, reason, ...extra };
  return { error: { root_cause: [cause], ...cause }, status };
}
