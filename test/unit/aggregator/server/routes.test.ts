/** The route table and the one error catalogue: what needs a token, what matches, how errors answer. */
import { describe, expect, it } from 'vitest';
import { matchRoute, routes } from '../../../../aggregator/server/routes.js';
import { HttpError, toHttpError } from '../../../../aggregator/server/http-util.js';
import { LogshipError, OffsetOutOfRangeError } from '../../../../lib/errors.js';

describe('route table', () => {
  it('only health, readiness, metrics and the status page (static HTML, no data) are open; every other route names its scope', () => {
    expect(routes.filter((r) => !r.auth).map((r) => r.label)).toEqual(['healthz', 'readyz', 'metrics', 'ui']);
    expect(Object.fromEntries(routes.filter((r) => r.auth).map((r) => [r.label, r.auth!.scope]))).toEqual({ batches: 'ingest', topics: 'read', records: 'read', groups: 'read', sinks: 'read', agents: 'read', groups_list: 'read', alerts: 'read', produce: 'ingest', es_info: 'ingest', bulk: 'ingest', es_startup: 'ingest', es_doc: 'ingest' });
  });

  it('matches paths and hands back %-encoded params', () => {
    expect(matchRoute(routes, '/v1/topics/a%2Fb/partitions/3/records')).toMatchObject({ route: { label: 'records' }, params: ['a%2Fb', '3'] });
    expect(matchRoute(routes, '/v1/groups/g/offsets')?.route.label).toBe('groups');
    expect(matchRoute(routes, '/ui')?.route.label).toBe('ui');
    expect(matchRoute(routes, '/ui/')?.route.label).toBe('ui');
    expect(matchRoute(routes, '/v1/groups')?.route.label).toBe('groups_list');
    expect(matchRoute(routes, '/v1/topics/x/partitions/0/records/extra')).toBeUndefined();
    expect(matchRoute(routes, '/v1/batches/')).toBeUndefined();
    expect(matchRoute(routes, '/v1/topics/app/records')?.route.label).toBe('produce');
    expect(matchRoute(routes, '/logs-app-default/_bulk')).toMatchObject({ route: { label: 'bulk' }, params: ['logs-app-default'] });
    expect(matchRoute(routes, '/system/events/_bulk')).toMatchObject({ route: { label: 'bulk' }, params: ['system'] });
    expect(matchRoute(routes, '/_bulk/')?.route.label).toBe('bulk');
    expect(matchRoute(routes, '/_ilm/policy/filebeat')).toMatchObject({ route: { label: 'es_startup' }, params: ['_ilm/policy', 'filebeat'] });
    expect(matchRoute(routes, '/system/events')).toMatchObject({ route: { label: 'es_doc' }, params: ['system'] });
    expect(matchRoute(routes, '/app/_doc/a%2Fb')).toMatchObject({ route: { label: 'es_doc' }, params: ['app', 'a%2Fb'] });
    expect(matchRoute(routes, '/v1/nothing')).toBeUndefined();
    expect(matchRoute(routes, '/ui/nothing')).toBeUndefined();
  });
});

describe('errors over HTTP', () => {
  it('HttpError is a LogshipError whose code follows its status', () => {
    const e = new HttpError(403, 'forbidden', 'no');
    expect(e).toBeInstanceOf(LogshipError);
    expect([e.code, e.status, e.type, e.reason]).toEqual(['LSH_ERR_AUTH', 403, 'forbidden', 'no']);
    expect(new HttpError(415, 'unsupported_media_type', 'x').code).toBe('LSH_ERR_BAD_REQUEST');
  });

  it('a LogshipError answers with its code status; unknown failures are 503 internal', () => {
    expect(toHttpError(new OffsetOutOfRangeError(1, 5, 9))).toMatchObject({ status: 400, type: 'offset_out_of_range' });
    expect(toHttpError(new LogshipError('LSH_ERR_SEQUENCE', 'stale'))).toMatchObject({ status: 409, type: 'producer_fenced', reason: 'stale' });
    expect(toHttpError(new LogshipError('LSH_ERR_BAD_REQUEST', 'x', { http: [429, 'too_many_requests'] }))).toMatchObject({ status: 429, type: 'too_many_requests' });
    expect(toHttpError(new Error('boom'))).toMatchObject({ status: 503, type: 'internal' });
  });
});
