/**
 * The _bulk payload job (bulk-job.ts), run in-process: documents grouped by
 * (index, host) in request order, batches cut at maxBatchBytes, each
 * operation's batch and rank, item errors, whole-request refusals, and the
 * stored lines giving back every document byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { BATCH_FIELDS, B_END, B_HOST, B_INDEX, B_LINES, B_START, B_TIME, BULK_JOB, OP_BATCH, OP_END, OP_ERROR, OP_FIELDS, OP_INDEX, OP_RANK, OP_START, runBulkJob, type BulkJob } from '../../../../aggregator/server/es-compat/bulk-job.js';
import { hashBytes } from '../../../../aggregator/server/es-compat/documents.js';

const job = (body: string, over: Partial<BulkJob> = {}): BulkJob => ({
  op: BULK_JOB,
  batches: [{ payload: Buffer.from(body) }],
  pathIndex: undefined,
  client: '10.0.0.9',
  now: Date.UTC(2026, 0, 2),
  maxLineBytes: 4096,
  maxDocuments: 1000,
  maxBatchBytes: 8 << 20,
  ...over,
});
const line = (action: string, meta: object, doc?: unknown) => `${JSON.stringify({ [action]: meta })}\n${doc === undefined ? '' : `${typeof doc === 'string' ? doc : JSON.stringify(doc)}\n`}`;

describe('bulk payload job', () => {
  it('groups documents by index and host, keeps request order within a group, and stores each document byte for byte', () => {
    const docs = [
      { i: 'a', d: { n: 0, host: { name: 'h1' }, '@timestamp': '2026-01-01T00:00:00Z' } },
      { i: 'b', d: { n: 1, host: { name: 'h1' } } },
      { i: 'a', d: { n: 2, host: 'h2' } },
      { i: 'a', d: { n: 3, host: { name: 'h1' } } },
      { i: 'a', d: { n: 4 } },
    ];
    const r = runBulkJob(job(docs.map((x, k) => line(k === 3 ? 'create' : 'index', { _index: x.i, ...(k === 2 ? { _id: 'x-2' } : {}) }, x.d)).join('')));
    expect(r.error).toBeUndefined();
    expect(r.indexes).toEqual(['a', 'b']);
    expect(r.hosts).toEqual(['h1', 'h2', '10.0.0.9']);
    const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    const batches = [];
    for (let b = 0; b < r.batches.length / BATCH_FIELDS; b++) {
      const g = b * BATCH_FIELDS;
      const text = data.toString('utf8', r.batches[g + B_START]!, r.batches[g + B_END]!);
      expect(text.endsWith('\n')).toBe(true);
      batches.push({ index: r.indexes[r.batches[g + B_INDEX]!], host: r.hosts[r.batches[g + B_HOST]!], lines: r.batches[g + B_LINES], time: r.batches[g + B_TIME], ns: text.trimEnd().split('\n').map((l) => JSON.parse(JSON.parse(l).message).n) });
    }
    expect(batches).toEqual([
      { index: 'a', host: 'h1', lines: 2, time: Date.UTC(2026, 0, 1), ns: [0, 3] },
      { index: 'b', host: 'h1', lines: 1, time: Date.UTC(2026, 0, 2), ns: [1] },
      { index: 'a', host: 'h2', lines: 1, time: Date.UTC(2026, 0, 2), ns: [2] },
      { index: 'a', host: '10.0.0.9', lines: 1, time: Date.UTC(2026, 0, 2), ns: [4] },
    ]);
    const field = (i: number, f: number) => r.ops[i * OP_FIELDS + f];
    expect(docs.map((_, i) => [field(i, OP_BATCH), field(i, OP_RANK), field(i, OP_ERROR)])).toEqual([
      [0, 0, -1],
      [1, 0, -1],
      [2, 0, -1],
      [0, 1, -1],
      [3, 0, -1],
    ]);
    for (let i = 0; i < docs.length; i++) {
      const stored = JSON.parse(data.toString('utf8', field(i, OP_START), field(i, OP_END)));
      expect(stored.message).toBe(JSON.stringify(docs[i]!.d));
      expect(stored.bulk_id).toBe(i === 2 ? 'x-2' : undefined);
    }
    expect(r.ids).toEqual([null, null, 'x-2', null, null]);
    expect(r.hashes[2]).toBe(hashBytes(Buffer.from(JSON.stringify(docs[2]!.d))));
  });

  it('cuts a group into batches of at most maxBatchBytes (one document alone may be bigger), ranks restart per batch', () => {
    const body = Array.from({ length: 10 }, (_, k) => line('index', { _index: 'a' }, { n: k, pad: 'p'.repeat(k === 6 ? 900 : 100) })).join('');
    const r = runBulkJob(job(body, { maxBatchBytes: 400 }));
    const nb = r.batches.length / BATCH_FIELDS;
    let total = 0;
    for (let b = 0; b < nb; b++) {
      const g = b * BATCH_FIELDS;
      const size = r.batches[g + B_END]! - r.batches[g + B_START]!;
      if (r.batches[g + B_LINES]! > 1) expect(size).toBeLessThanOrEqual(400);
      total += r.batches[g + B_LINES]!;
    }
    expect(total).toBe(10);
    expect(nb).toBeGreaterThan(3);
    for (let i = 0; i < 10; i++) {
      const b = r.ops[i * OP_FIELDS + OP_BATCH]!;
      // the document's stored line lies in its batch, at its rank
      const start = r.batches[b * BATCH_FIELDS + B_START]!;
      expect(r.ops[i * OP_FIELDS + OP_START]).toBeGreaterThanOrEqual(start);
      expect(r.ops[i * OP_FIELDS + OP_END]).toBeLessThan(r.batches[b * BATCH_FIELDS + B_END]!);
      if (i > 0 && r.ops[(i - 1) * OP_FIELDS + OP_BATCH] === b) expect(r.ops[i * OP_FIELDS + OP_RANK]).toBe(r.ops[(i - 1) * OP_FIELDS + OP_RANK]! + 1);
      else expect(r.ops[i * OP_FIELDS + OP_RANK]).toBe(0);
    }
  });

  it('stored lines far larger than their documents (tiny documents, blanks escaped six-fold) are written whole', () => {
    const docs = [...Array.from({ length: 3000 }, () => '{}'), `{${'\t'.repeat(3000)}}`, `{"a":${'\r'.repeat(2000)}1}`];
    const r = runBulkJob(job(docs.map((d, k) => `{"index":{"_index":"a","_id":"${k}"}}\n${d}\n`).join(''), { maxLineBytes: 1 << 20, maxDocuments: 10_000 }));
    const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    docs.forEach((d, i) => {
      const stored = JSON.parse(data.toString('utf8', r.ops[i * OP_FIELDS + OP_START]!, r.ops[i * OP_FIELDS + OP_END]!));
      expect([stored.message, stored.bulk_id]).toEqual([d, String(i)]);
    });
  });

  it('answers item errors per operation and refuses a malformed request as a whole', () => {
    const body = line('update', { _index: 'a', _id: '1' }, { doc: {} }) + line('delete', { _index: 'a', _id: '2' }) + line('index', { _index: 'a' }, '{"x":') + line('index', {}, { ok: 1 }) + line('index', { _index: 'a' }, { big: 'b'.repeat(5000) }) + line('index', { _index: 'a' }, { ok: 2 });
    const r = runBulkJob(job(body));
    const err = (i: number) => (r.ops[i * OP_FIELDS + OP_ERROR]! >= 0 ? r.errors[r.ops[i * OP_FIELDS + OP_ERROR]!]!.type : null);
    expect([0, 1, 2, 3, 4, 5].map(err)).toEqual(['illegal_argument_exception', 'illegal_argument_exception', 'document_parsing_exception', null, 'document_too_large', null]);
    // no index: not stored, and left for the handler to answer (index is missing)
    expect(r.ops[3 * OP_FIELDS + OP_INDEX]).toBe(-1);
    expect(r.ops[3 * OP_FIELDS + OP_BATCH]).toBe(-1);
    expect(r.ops[5 * OP_FIELDS + OP_BATCH]).toBe(0);
    expect(r.batches[B_LINES]).toBe(1);

    expect(runBulkJob(job(line('index', { _index: 'a' }, { m: 1 }).slice(0, -1))).error).toEqual({ status: 400, type: 'illegal_argument_exception', reason: 'The bulk request must be terminated by a newline [\\n]' });
    expect(runBulkJob(job(line('index', { _index: 'a' }, { m: 1 }).repeat(3), { maxDocuments: 2 })).error?.status).toBe(413);
    expect(runBulkJob(job('{"index":\n{}\n')).error?.type).toBe('x_content_parse_exception');
  });
});
