/**
 * The fast document writer (aggregator/pipelines/writer.ts) against the object
 * path it replaces: over generated lines and generated pipelines, the JSON it
 * writes parses to the same document JSON.stringify makes of Pipeline.run's
 * object (the ES sink's document too: parsedDocument against
 * pipelineDocumentJson), with the same drop and routes; a record the plan
 * cannot finish goes the object way and is counted once.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ExtraFields, Pipeline } from '../../../../aggregator/pipelines/index.js';
import { FastPlan, quote } from '../../../../aggregator/pipelines/writer.js';
import { parsedDocument, pipelineDocumentJson, type DocumentContext } from '../../../../aggregator/sinks/elasticsearch/document.js';
import type { StepConfig } from '../../../../aggregator/pipelines/types.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';

// host and file change now and then, as from batch to batch (the writer keeps them in its text between values while they stay)
const rec = (message: string, i = 0): StoredRecord => ({ offset: i, timestamp: '2026-12-01T18:00:00.000Z', host: i % 3 === 2 ? 'web-"2"' : 'web-01', source: i % 4 === 3 ? '/var/log/b.log' : '/var/log/nginx/access.log', source_offset: i * 100, message });

/** Any UTF-16 text: control characters, quotes, backslashes, lone surrogates, astral pairs. */
const anyText = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((c) => String.fromCharCode(...c)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '-', 'é/ü?q=ß', '\\"quoted\\"', '\\x22\\xC3\\xA9', 'a"b', 'tab\there', '\ud83d\ude00', '\ud800x'),
);

const nginxish = fc
  .record({
    ip: fc.constantFrom('10.0.0.1', '::1', '2001:db8::7', '256.1.1.1', 'host'),
    user: fc.constantFrom('-', 'alice', 'b"ob'),
    time: fc.constantFrom('01/Dec/2026:18:14:55 +0000', '31/Feb/2026:18:14:55 +0100', '01/Dec/2026:18:14:55.123 -0530'),
    method: fc.constantFrom('GET', 'POST', 'X'),
    path: anyText.map((s) => `/${s.replace(/[\s"]/g, '')}`),
    status: fc.constantFrom('200', '404', '503', '99999999999999999999'),
    bytes: fc.constantFrom('-', '0', '5120'),
    ref: anyText.map((s) => s.replace(/"/g, '\\"')),
    ua: anyText.map((s) => s.replace(/"/g, '\\"')),
    tail: fc.constantFrom(true, false),
  })
  .map((l) => `${l.ip} - ${l.user} [${l.time}] "${l.method} ${l.path} HTTP/1.1" ${l.status} ${l.bytes}${l.tail ? ` "${l.ref}" "${l.ua}"` : ''}`);

const line = fc.oneof({ weight: 4, arbitrary: nginxish }, { weight: 1, arbitrary: anyText }, { weight: 1, arbitrary: fc.constantFrom('{"level":30,"msg":"hi","a":{"b":1}}', 'a=1 b="x y" c', '2026-12-01T18:14:55Z rest', '1764612895 x') });

// Field names the generated steps use: some overlap (a and a.b, event and event.dataset) so that pipelines without a fast plan come up too.
const FIELDS = ['source.ip', 'user.name', 'http.request.method', 'url.original', 'http.response.status_code', 'a.b', 'a.c', 'x', 'time', 'labels.t', 'event.dataset', 'agent.name', 'message', 'host.name', 'log.offset'];
const RARE = ['a', 'event', 'data_stream.x'];
const fieldArb = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.constantFrom(...RARE) });
const CONDS = [undefined, undefined, 'http.response.status_code >= 500', 'url.original contains "a"', 'not x', 'message matches "^1"', 'a.b == "1" or source.ip'];
const cond = fc.constantFrom(...CONDS);
const withIf = <T extends StepConfig>(s: T, c: string | undefined): StepConfig => (c === undefined ? s : { ...s, if: c });

const stepArb: fc.Arbitrary<StepConfig> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('nginx_access', 'apache_access').map((preset) => ({ type: 'pattern', field: 'message', preset, definitions: {} }) as StepConfig) },
  {
    weight: 2,
    arbitrary: fc.tuple(fieldArb, fieldArb, fieldArb, fc.boolean(), cond).map(([a, b, c, int, k]) =>
      withIf({ type: 'pattern', field: 'message', pattern: [`%{IPORHOST:${a}} %{NOTSPACE:_pattern.skip} %{NOTSPACE:${b}}${int ? ` \\[[^\\]]*\\] "[^"]*" %{POSINT:${c}:int}` : ` %{GREEDYDATA:${c}:unescape}`}`, '%{WORD:x}'], definitions: {} }, k),
    ),
  },
  { weight: 1, arbitrary: fc.tuple(fieldArb.filter((f) => f !== 'a.b'), cond).map(([f, k]) => withIf({ type: 'regex', field: 'message', pattern: `^(?<a__b>\\S+) (?<${f.replaceAll('.', '__')}>\\S+)` }, k)) },
  {
    weight: 2,
    arbitrary: fc.tuple(fieldArb, fc.constantFrom('@timestamp', 'time', 'x'), fc.boolean(), fc.constantFrom('UTC', '+02:00')).map(
      ([f, t, remove, tz]) => ({ type: 'timestamp', field: f, formats: ['nginx', 'rfc3339', 'epoch_s'], timezone: tz, target: t, remove }) as StepConfig,
    ),
  },
  { weight: 2, arbitrary: fc.tuple(fieldArb, fc.constantFrom('v', 'é"\\', 'p-{{source.ip}}-{{http.response.status_code}}', '{{a.b}}'), fc.boolean(), cond).map(([f, value, override, k]) => withIf({ type: 'set', field: f, value, override }, k)) },
  { weight: 1, arbitrary: fc.tuple(fieldArb, fieldArb, fc.boolean()).map(([a, b, copy]) => ({ type: copy ? 'copy' : 'rename', fields: { [a]: b } }) as StepConfig) },
  { weight: 1, arbitrary: fc.array(fieldArb, { minLength: 1, maxLength: 3 }).map((fields) => ({ type: 'remove', fields }) as StepConfig) },
  { weight: 1, arbitrary: cond.map((k) => withIf({ type: 'drop' }, k ?? 'http.response.status_code == 404')) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((rate) => ({ type: 'sample', rate }) as StepConfig) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(['es'], ['other'], ['es', 'x']), cond).map(([sinks, k]) => withIf({ type: 'route', sinks }, k)) },
  // steps the fast plan does not cover: the whole pipeline takes the object path
  { weight: 1, arbitrary: fc.constantFrom<StepConfig>({ type: 'json', field: 'message', target: '', levels: true }, { type: 'kv', field: 'message', target: 'kv', separator: '=', delimiter: ' ' }) },
);

const ctxFor = (stream: boolean): DocumentContext =>
  stream
    ? { topic: 'web', target: { name: 'logs-web-default', stream: { type: 'logs', dataset: 'web', namespace: 'default' } }, version: '1.2.3' }
    : { topic: 'web', target: { name: 'logship-web' }, version: '1.2.3' };

describe('fast document writer', () => {
  it('writes what JSON.stringify writes of the object path, over generated pipelines and lines', () => {
    let fast = 0;
    let fallback = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 6 }), fc.array(line, { minLength: 1, maxLength: 8 }), fc.boolean(), (steps, lines, stream) => {
        const a = new Pipeline('t', { topics: [], steps });
        const b = new Pipeline('t', { topics: [], steps });
        const c = ctxFor(stream);
        lines.forEach((l, i) => {
          const r = rec(l, i);
          const got = a.runJson(r);
          const want = b.run(r);
          expect(got.dropped).toBe(want.dropped);
          expect(got.routes).toEqual(want.routes);
          if (got.json !== undefined) fast++;
          else fallback++;
          if (!want.dropped) {
            const text = got.json ?? JSON.stringify(got.doc);
            expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(want.doc)));
            // the ES sink's document: same semantics as pipelineDocumentJson of the object
            const es = parsedDocument(a, r, c);
            expect(es.dropped).toBe(false);
            expect(JSON.parse(es.json)).toEqual(JSON.parse(pipelineDocumentJson(b.run(r).doc, r, c)));
          }
        });
      }),
      { numRuns: 1000 },
    );
    // both paths were exercised (a generated pipeline often has a json step, overlapping fields or a failing step: the object path)
    expect(fast).toBeGreaterThan(1000);
    expect(fallback).toBeGreaterThan(0);
  });

  it('the nginx preset with the ES fields has a plan; overlapping fields and json steps have none', () => {
    const nginx: StepConfig = { type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} };
    expect(FastPlan.whyNot([nginx], new ExtraFields(['event.dataset', 'agent.id'], ['data_stream']))).toBeUndefined();
    expect(FastPlan.whyNot([nginx, { type: 'set', field: 'a', value: 'x', override: true }, { type: 'set', field: 'a.b', value: 'y', override: true }])).toMatch(/parent/);
    expect(FastPlan.whyNot([{ type: 'set', field: 'event', value: 'x', override: true }], new ExtraFields(['event.dataset']))).toMatch(/parent/);
    expect(FastPlan.whyNot([{ type: 'set', field: 'data_stream.x', value: 'x', override: true }], new ExtraFields([], ['data_stream']))).toMatch(/data_stream/);
    expect(FastPlan.whyNot([{ type: 'json', field: 'message', target: '', levels: true }])).toMatch(/json/);
  });

  it('a failing step is counted once and tagged (the object path writes that record)', () => {
    const failures: string[] = [];
    const p = new Pipeline('web', { topics: [], steps: [{ type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} }] }, (pl, step) => failures.push(`${pl}/${step}`));
    const ok = p.runJson(rec('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET /é HTTP/1.1" 200 5 "-" "curl/8"'));
    expect(ok.json).toBeDefined();
    expect(JSON.parse(ok.json!)).toMatchObject({ '@timestamp': '2026-12-01T18:14:55.000Z', url: { original: '/é' }, http: { response: { status_code: 200 } } });
    const bad = p.runJson(rec('not an access line'));
    expect(bad.json).toBeUndefined();
    expect(bad.failed).toEqual(['0-pattern']);
    expect(bad.doc).toMatchObject({ tags: ['_parse_failure'], message: 'not an access line' });
    expect(failures).toEqual(['web/0-pattern']);
    expect(p.failures.get('0-pattern')).toBe(1);
  });

  it('a pipeline with more fields than a shape holds (31) is written by the tree writer, the same document', () => {
    const steps: StepConfig[] = Array.from({ length: 40 }, (_, i) => ({ type: 'set', field: `f${i % 7}.g${i}`, value: i % 5 === 0 ? 'x"{{message}}' : `v${i}`, override: true }) as StepConfig);
    steps.push({ type: 'remove', fields: ['f3.g10', 'f1.g8'] });
    const a = new Pipeline('t', { topics: [], steps });
    expect(a.fastPlan()).toBeDefined();
    for (let i = 0; i < 5; i++) {
      const r = rec(`line ${i} "q"`, i);
      expect(JSON.parse(a.runJson(r).json!)).toEqual(JSON.parse(JSON.stringify(a.run(r).doc)));
    }
  });

  it('quote() is JSON.stringify for any string', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.string({ unit: 'binary', maxLength: 80 })), (s) => {
        expect(quote(s)).toBe(JSON.stringify(s));
      }),
      { numRuns: 5000 },
    );
  });
});
