/** filter_path in the forms shippers send, with Elasticsearch's empty-object pruning. */
import { describe, expect, it } from 'vitest';
import { applyFilterPath, parseFilterPath } from '../../../../aggregator/server/es-compat/filter-path.js';

const ok = { create: { _index: 'a', _id: '1', status: 201, result: 'created' } };
const bad = { create: { _index: 'a', _id: '2', status: 409, error: { type: 'version_conflict_engine_exception', reason: 'r' } } };
const f = (s: string, v: unknown) => JSON.stringify(applyFilterPath(v, parseFilterPath(s)!));

describe('filter_path', () => {
  it('errors,items.*.error on a clean answer gives {"errors":false}', () => {
    expect(f('errors,items.*.error', { took: 3, errors: false, items: [ok, ok] })).toBe('{"errors":false}');
  });

  it('keeps only failed items\' errors (Filebeat also asks for items.*.status)', () => {
    expect(f('errors,items.*.error', { took: 3, errors: true, items: [ok, bad] })).toBe('{"errors":true,"items":[{"create":{"error":{"type":"version_conflict_engine_exception","reason":"r"}}}]}');
    expect(f('errors,items.*.error,items.*.status', { took: 3, errors: true, items: [ok, bad] })).toBe(
      '{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"r"}}}]}',
    );
  });

  it('-took removes took and keeps the rest; ** matches any depth', () => {
    expect(f('-took', { took: 3, errors: false, items: [ok] })).toBe(`{"errors":false,"items":[${JSON.stringify(ok)}]}`);
    expect(f('**.status', { took: 3, errors: false, items: [ok] })).toBe('{"items":[{"create":{"status":201}}]}');
    expect(parseFilterPath('')).toBeUndefined();
    expect(parseFilterPath(null)).toBeUndefined();
  });
});
