/**
 * Issue 13, acceptance: hostile _bulk bodies against a real aggregator with
 * its default (documented) limits: malformed NDJSON, a missing final newline
 * (refused as Elasticsearch refuses it), a 1 GiB gzip bomb (refused within
 * 10 s while the aggregator's peak RSS stays under 500 MiB), 10,000 actions
 * of 100 KiB each (over limits.max_inflated_body_bytes: a clear 413; plain,
 * over limits.max_body_bytes: 413 too; 100 such documents in a request within
 * the limits are stored intact), too many
 * documents, an over-long document line, a wrong content type (415), no or a
 * wrong credential (401). Every refusal is a clear JSON error and counted;
 * the process stays up and the records stored before read back unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { basic, bearer, call, countTopic, memoryOf, readTopic, startEsAggregator, type EsAggregator, type StoredRecord } from '../helpers/es-ingest.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The documented defaults (docs: limits.max_body_bytes, max_inflated_body_bytes, max_documents_per_request, max_line_bytes). */
const MAX_BODY = 16 * MiB;
const MAX_INFLATED = 128 * MiB;
const MAX_DOCS = 100_000;
const MAX_LINE = 4 * MiB;
const NDJSON = { 'content-type': 'application/x-ndjson' };

/** Streams `total` bytes of `unit` repeated through gzip; keeps only the compressed bytes (about 1/1000 of the input). */
async function gzipRepeated(unit: Buffer, total: number, head = Buffer.alloc(0)): Promise<Buffer> {
  const block = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(MiB / unit.length)) }, () => unit));
  async function* gen() {
    yield head;
    for (let sent = 0; sent < total; sent += block.length) yield block;
  }
  const out: Buffer[] = [];
  for await (const c of Readable.from(gen()).pipe(createGzip({ level: 9 }))) out.push(c as Buffer);
  return Buffer.concat(out);
}

/**
 * A client that keeps sending a large body but reads at the same time, as a shipper's HTTP stack does:
 * writes the head (with Content-Length) and then body chunks until an answer arrives, then stops and
 * returns the answer (the server may close the connection after it).
 */
function postWhileSending(port: number, path: string, headers: Record<string, string>, length: number, chunk: (i: number) => Buffer | undefined): Promise<{ status: number; text: string; json: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let answered = false;
    let i = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within 60 s; ${Buffer.concat(got).toString().slice(0, 200)}`));
    }, 60_000);
    const pump = () => {
      while (!answered) {
        const c = chunk(i++);
        if (!c) return;
        if (!sock.write(c)) return void sock.once('drain', pump);
      }
    };
    sock.on('connect', () => {
      const head = [`POST ${path} HTTP/1.1`, `host: 127.0.0.1:${port}`, `content-length: ${length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
      sock.write(head);
      pump();
    });
    sock.on('data', (d: Buffer) => {
      answered = true;
      got.push(d);
      const all = Buffer.concat(got).toString('utf8');
      const end = all.indexOf('\r\n\r\n');
      const cl = /\r\ncontent-length: *(\d+)/i.exec(all.slice(0, end));
      if (end >= 0 && cl && Buffer.byteLength(all.slice(end + 4)) >= Number(cl[1])) finish();
    });
    const finish = () => {
      clearTimeout(timer);
      const all = Buffer.concat(got).toString('utf8');
      sock.destroy();
      const end = all.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? -1);
      const hs: Record<string, unknown> = {};
      for (const l of all.slice(0, end).split('\r\n').slice(1)) hs[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      const text = end >= 0 ? all.slice(end + 4) : '';
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolve({ status, text, json, headers: hs });
    };
    sock.on('error', () => (answered ? finish() : undefined));
    sock.on('close', () => (answered ? finish() : reject(new Error('connection closed without an answer'))));
  });
}

function expectEsError(r: { status: number; json: any; headers: Record<string, unknown>; text: string }, status: number, type?: string | RegExp): void {
  expect(r.status, r.text.slice(0, 500)).toBe(status);
  expect(r.json?.error, r.text.slice(0, 500)).toBeDefined();
  expect(typeof r.json.error.type).toBe('string');
  expect(typeof r.json.error.reason).toBe('string');
  expect(r.json.error.reason.length).toBeGreaterThan(10);
  if (type instanceof RegExp) expect(r.json.error.type).toMatch(type);
  else if (type) expect(r.json.error.type).toBe(type);
}

describe('hostile _bulk bodies', () => {
  let agg: EsAggregator;
  let honest: StoredRecord[];
  const bulkUrl = () => `${agg.url}/_bulk`;

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${agg.url}/metrics`)).text();
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
    return sum;
  }

  async function alive(): Promise<void> {
    expect(agg.proc.child.exitCode, agg.proc.output().slice(-3000)).toBeNull();
    expect((await call('GET', `${agg.url}/healthz`)).status).toBe(200);
  }

  beforeAll(async () => {
    agg = await startEsAggregator({}, 'logship-es-hostile-');
    const lines: string[] = [];
    for (let i = 0; i < 1_000; i++) lines.push(JSON.stringify({ create: { _index: 'honest', _id: `h-${i}` } }), JSON.stringify({ '@timestamp': '2026-12-01T00:00:00.000Z', n: i, message: `honest ${i}` }));
    const r = await call('POST', bulkUrl(), { body: lines.join('\n') + '\n', headers: { ...NDJSON, ...bearer() } });
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    expect(r.json.errors).toBe(false);
    honest = await readTopic(agg.url, 'honest');
    expect(honest).toHaveLength(1_000);
  });

  afterAll(async () => {
    await agg?.cleanup();
  });

  it('malformed NDJSON: a broken or unknown action line fails the request (400), nothing of it is stored', async () => {
    const refusedBefore = await metric('logship_aggregator_json_refused_total');
    const bodies = [
      '{"index":{"_index":"malformed-a"}\n{"ok":1}\n', // action line not JSON (a brace short)
      '{"index":{"_index":"malformed-a"}}\n{"ok":1}\n{"upsert":{"_index":"malformed-a"}}\n{"ok":2}\n', // unknown operation
      '["index"]\n{"ok":1}\n', // action line is not an object
      '{"index":{"_index":"malformed-a"},"create":{}}\n{"ok":1}\n', // two operations in one action line
      '\u0000\u0001garbage\n',
    ];
    for (const body of bodies) {
      const r = await call('POST', bulkUrl(), { body, headers: { ...NDJSON, ...bearer() } });
      expectEsError(r, 400);
      expect(r.headers['x-elastic-product']).toBe('Elasticsearch');
    }
    expect(await countTopic(agg.url, 'malformed-a')).toBe(0);
    expect(await metric('logship_aggregator_json_refused_total')).toBeGreaterThanOrEqual(refusedBefore + bodies.length);
    await alive();
  });

  it('a document that is not a JSON object fails its item only (400 document_parsing_exception); the others are stored', async () => {
    const body = ['{"index":{"_index":"malformed-b"}}', '{"good":1}', '{"index":{"_index":"malformed-b"}}', '{"bad":', '{"index":{"_index":"malformed-b"}}', '[1,2]', '{"index":{"_index":"malformed-b"}}', '{"good":2}', ''].join('\n');
    const r = await call('POST', bulkUrl(), { body, headers: { ...NDJSON, ...bearer() } });
    expect(r.status, r.text.slice(0, 500)).toBe(200);
    expect(r.json.errors).toBe(true);
    expect(r.json.items.map((i: any) => i.index.status)).toEqual([201, 400, 400, 201]);
    expect(r.json.items[1].index.error.type).toBe('document_parsing_exception');
    expect((await readTopic(agg.url, 'malformed-b')).map((x) => x.message).sort()).toEqual(['{"good":1}', '{"good":2}']);
  });

  it('update and delete are answered per item with a clear error; the index beside them is stored', async () => {
    const body = ['{"update":{"_index":"ops","_id":"1"}}', '{"doc":{"a":1}}', '{"delete":{"_index":"ops","_id":"1"}}', '{"index":{"_index":"ops"}}', '{"a":2}', ''].join('\n');
    const r = await call('POST', bulkUrl(), { body, headers: { ...NDJSON, ...bearer() } });
    expect(r.status, r.text.slice(0, 500)).toBe(200);
    expect(r.json.errors).toBe(true);
    expect(r.json.items).toHaveLength(3);
    expect(r.json.items[0].update.status).toBeGreaterThanOrEqual(400);
    expect(r.json.items[0].update.error.reason).toMatch(/update/);
    expect(r.json.items[1].delete.status).toBeGreaterThanOrEqual(400);
    expect(r.json.items[1].delete.error.reason).toMatch(/delete/);
    expect(r.json.items[2].index.status).toBe(201);
    expect((await readTopic(agg.url, 'ops')).map((x) => x.message)).toEqual(['{"a":2}']);
  });

  it('a body without its final newline is refused as Elasticsearch refuses it (400 illegal_argument_exception), nothing stored', async () => {
    const r = await call('POST', bulkUrl(), { body: '{"index":{"_index":"no-newline"}}\n{"a":1}', headers: { ...NDJSON, ...bearer() } });
    expectEsError(r, 400, 'illegal_argument_exception');
    expect(r.json.error.reason).toMatch(/terminated by a newline/);
    expect(await countTopic(agg.url, 'no-newline')).toBe(0);
  });

  it('a 1 GiB gzip bomb is refused (413) within 10 s; the aggregator peak RSS stays under 500 MiB', { timeout: 180_000 }, async () => {
    const unit = Buffer.from(`{"index":{"_index":"bomb"}}\n{"m":"${'a'.repeat(990)}"}\n`);
    const bomb = await gzipRepeated(unit, 1024 * MiB);
    expect(bomb.length).toBeLessThan(MAX_BODY); // small on the wire: only inflation can stop it
    const t0 = performance.now();
    const r = await call('POST', bulkUrl(), { body: bomb, headers: { ...NDJSON, ...bearer(), 'content-encoding': 'gzip' }, timeoutMs: 60_000 });
    const took = performance.now() - t0;
    expectEsError(r, 413);
    expect(r.json.error.reason).toContain('max_inflated_body_bytes');
    expect(took, 'refused within 10 s').toBeLessThan(10_000);
    const mem = await memoryOf(agg.proc.child.pid!);
    console.log(`gzip bomb: ${bomb.length} bytes on the wire for 1 GiB inflated; refused after ${took.toFixed(0)} ms; aggregator VmHWM ${(mem.hwm / MiB).toFixed(0)} MiB, VmRSS ${(mem.rss / MiB).toFixed(0)} MiB`);
    expect(mem.hwm).toBeLessThan(500 * MiB);
    expect(await countTopic(agg.url, 'bomb')).toBe(0);
    await alive();
  });

  it('10,000 actions of 100 KiB each (gzip): over max_inflated_body_bytes, a clear 413; 600 of them plain: over max_body_bytes, a clear 413', { timeout: 180_000 }, async () => {
    const doc = (i: number) => `{"index":{"_index":"big-docs"}}\n{"n":${String(i).padStart(5, '0')},"pad":"${'p'.repeat(100 * KiB - 40)}"}\n`;
    // 10,000 x 100 KiB is about 1 GB: sent gzip'd (every line differs only in its number).
    async function* gen() {
      for (let i = 0; i < 10_000; i++) yield Buffer.from(doc(i));
    }
    const parts: Buffer[] = [];
    for await (const c of Readable.from(gen()).pipe(createGzip({ level: 6 }))) parts.push(c as Buffer);
    const gz = Buffer.concat(parts);
    const r = await call('POST', bulkUrl(), { body: gz, headers: { ...NDJSON, ...bearer(), 'content-encoding': 'gzip' }, timeoutMs: 60_000 });
    expectEsError(r, 413);
    expect(r.json.error.reason).toContain('max_inflated_body_bytes');
    // Plain, 600 of them (60 MiB, declared): over limits.max_body_bytes (16 MiB); the client keeps sending and still gets the 413.
    // (Past the aggregator's drain bound, 64 MiB or 10 s more, the connection is cut after the answer, which a client still
    // sending may never read: see the report of issue 13.)
    const p = await postWhileSending(agg.port, '/_bulk', { ...NDJSON, ...bearer() }, 600 * Buffer.byteLength(doc(0)), (i) => (i < 600 ? Buffer.from(doc(i)) : undefined));
    expectEsError(p, 413);
    expect(p.json.error.reason).toContain('max_body_bytes');
    expect(await countTopic(agg.url, 'big-docs')).toBe(0);
    await alive();
  });

  it('100 KiB documents within the limits (100 in one request) are stored intact', async () => {
    const lines: string[] = [];
    const sent: string[] = [];
    for (let i = 0; i < 100; i++) {
      const d = JSON.stringify({ n: i, pad: String.fromCharCode(97 + (i % 26)).repeat(100 * KiB) });
      sent.push(d);
      lines.push('{"create":{"_index":"big-ok"}}', d);
    }
    const r = await call('POST', bulkUrl(), { body: lines.join('\n') + '\n', headers: { ...NDJSON, ...bearer() } });
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    expect(r.json.errors).toBe(false);
    expect((await readTopic(agg.url, 'big-ok')).map((x) => x.message).sort()).toEqual(sent.sort());
  });

  it(`more than ${MAX_DOCS} actions in one request: 413 naming max_documents_per_request, nothing stored`, async () => {
    const one = '{"index":{"_index":"too-many"}}\n{"a":1}\n';
    const r = await call('POST', bulkUrl(), { body: one.repeat(MAX_DOCS + 1), headers: { ...NDJSON, ...bearer() } });
    expectEsError(r, 413);
    expect(r.json.error.reason).toContain('max_documents_per_request');
    expect(await countTopic(agg.url, 'too-many')).toBe(0);
  });

  it(`a document line over ${MAX_LINE / MiB} MiB fails its item (413); the others are stored`, async () => {
    const long = JSON.stringify({ pad: 'z'.repeat(MAX_LINE + 10) });
    const body = ['{"index":{"_index":"long-line"}}', '{"a":1}', '{"index":{"_index":"long-line"}}', long, '{"index":{"_index":"long-line"}}', '{"a":2}', ''].join('\n');
    const r = await call('POST', bulkUrl(), { body, headers: { ...NDJSON, ...bearer() } });
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    expect(r.json.items.map((i: any) => i.index.status)).toEqual([201, 413, 201]);
    expect(r.json.items[1].index.error.reason).toContain('max_line_bytes');
    expect((await readTopic(agg.url, 'long-line')).map((x) => x.message).sort()).toEqual(['{"a":1}', '{"a":2}']);
  });

  it('a wrong content type is refused with 415 and a JSON error; a gzip body that is not gzip with 400', async () => {
    const body = '{"index":{"_index":"ctype"}}\n{"a":1}\n';
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const r = await call('POST', bulkUrl(), { body, headers: { 'content-type': ct, ...bearer() } });
      expectEsError(r, 415);
    }
    const r = await call('POST', bulkUrl(), { body: '', headers: { ...bearer() } });
    expect([400, 415]).toContain(r.status);
    const g = await call('POST', bulkUrl(), { body: Buffer.from('not gzip at all\n'), headers: { ...NDJSON, ...bearer(), 'content-encoding': 'gzip' } });
    expectEsError(g, 400);
    expect(await countTopic(agg.url, 'ctype')).toBe(0);
  });

  it('no credential or a wrong one: 401 with a JSON error that never echoes the credential', async () => {
    const body = '{"index":{"_index":"unauth"}}\n{"a":1}\n';
    const wrong = 'wrong-token-0123456789abcdef';
    const cases: Array<Record<string, string>> = [
      {},
      bearer(wrong),
      basic(wrong),
      { authorization: `ApiKey ${wrong}` },
      { authorization: `ApiKey ${Buffer.from(`id:${wrong}`).toString('base64')}` },
      { authorization: 'Digest abc' },
    ];
    for (const h of cases) {
      const r = await call('POST', bulkUrl(), { body, headers: { ...NDJSON, ...h } });
      expectEsError(r, 401);
      expect(r.text).not.toContain(wrong);
      expect(r.text).not.toContain(Buffer.from(`id:${wrong}`).toString('base64'));
    }
    // Tokens are configured, so even GET / needs one.
    expect((await call('GET', `${agg.url}/`)).status).toBe(401);
    expect((await call('GET', `${agg.url}/`, { headers: basic() })).status).toBe(200);
    expect(await countTopic(agg.url, 'unauth')).toBe(0);
  });

  it('the process is up, every refusal was counted, and the records stored before read back unchanged', async () => {
    await alive();
    expect(await metric('logship_aggregator_json_refused_total')).toBeGreaterThanOrEqual(5 + 1 + 1 + 2 + 1 + 3 + 1);
    expect(await readTopic(agg.url, 'honest')).toEqual(honest);
  });
});
