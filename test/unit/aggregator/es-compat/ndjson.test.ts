/** The _bulk body scanner: what Elasticsearch refuses as a whole, what it takes, and where documents are. */
import { describe, expect, it } from 'vitest';
import { parseBulk } from '../../../../aggregator/server/es-compat/ndjson.js';
import { HttpError } from '../../../../aggregator/server/http-util.js';

const L = { maxLineBytes: 1 << 20, maxDocuments: 1000 };
const parse = (s: string, index?: string, limits = L) => parseBulk(Buffer.from(s), index, limits);
function refused(s: string, limits = L): HttpError {
  try {
    parse(s, undefined, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error('expected a refusal');
}

describe('parseBulk', () => {
  it('finds each operation, its target and its document line, with _type ignored and CRLF trimmed', () => {
    const body = '{"index":{"_index":"system","_type":"events"}}\n{"a":1}\r\n{"create":{"_id":"x1"}}\n{"b":2}\n{"delete":{"_index":"d","_id":"7"}}\n';
    const { ops } = parse(body, 'fallback');
    expect(ops.map((o) => [o.action, o.index, o.id, o.line])).toEqual([
      ['index', 'system', undefined, 1],
      ['create', 'fallback', 'x1', 3],
      ['delete', 'd', '7', 5],
    ]);
    const b = Buffer.from(body);
    expect(b.toString('utf8', ops[0]!.start, ops[0]!.end)).toBe('{"a":1}');
    expect(b.toString('utf8', ops[1]!.start, ops[1]!.end)).toBe('{"b":2}');
    expect(ops[2]!.start).toBe(-1);
  });

  it('takes rsyslog\'s hand-built action lines (a space after the colon, numeric _id)', () => {
    const { ops } = parse('{"index":{"_index": "system","_type":"events", "_id":42}}\n{"msg":"x"}\n');
    expect(ops[0]).toMatchObject({ action: 'index', index: 'system', id: '42' });
  });

  it('refuses a body without its final newline exactly as Elasticsearch does', () => {
    const e = refused('{"index":{"_index":"a"}}\n{"a":1}');
    expect([e.status, e.type, e.reason]).toEqual([400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]']);
  });

  it('refuses an empty body, malformed or unknown action lines, unknown metadata and a missing document line', () => {
    expect(refused('')).toMatchObject({ status: 400, type: 'action_request_validation_exception' });
    expect(refused('\n\n')).toMatchObject({ status: 400, type: 'action_request_validation_exception' });
    expect(refused('{"index":\n{"a":1}\n')).toMatchObject({ status: 400, type: 'x_content_parse_exception' });
    expect(refused('{"upsert":{}}\n{"a":1}\n').reason).toContain('[upsert]');
    expect(refused('{"index":{},"create":{}}\n{"a":1}\n').status).toBe(400);
    expect(refused('{"index":{"_index":"a","colour":"red"}}\n{"a":1}\n').reason).toContain('unknown parameter [colour]');
    expect(refused('{"index":{"_index":"a"}}\n').reason).toContain('no document line');
    expect(refused('["index"]\n{"a":1}\n').status).toBe(400);
    expect(refused(`{"index":{"_id":"${'x'.repeat(513)}"}}\n{}\n`).reason).toContain('too long');
  });

  it('reports a named pipeline (ignored by the handler, which warns once)', () => {
    expect(parse('{"index":{"_index":"a","pipeline":"p"}}\n{}\n').pipeline).toBe(true);
    expect(parse('{"index":{"_index":"a"}}\n{}\n').pipeline).toBe(false);
  });

  it('refuses more operations than limits.max_documents_per_request (413) and an action line past max_line_bytes (400)', () => {
    const many = '{"index":{"_index":"a"}}\n{}\n'.repeat(4);
    expect(refused(many, { maxLineBytes: 1 << 20, maxDocuments: 3 })).toMatchObject({ status: 413, type: 'too_large' });
    expect(parse(many, undefined, { maxLineBytes: 1 << 20, maxDocuments: 4 }).ops).toHaveLength(4);
    expect(refused(`{"index":{"_index":"${'a'.repeat(2000)}"}}\n{}\n`, { maxLineBytes: 1024, maxDocuments: 10 }).reason).toContain('limits.max_line_bytes');
  });
});
