/**
 * The byte scanner of _bulk documents agrees with JSON.parse: it accepts
 * exactly the JSON objects, finds the same @timestamp and host, and the
 * stored line gives back the document byte for byte.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { scanDocument } from '../../../../aggregator/server/es-compat/doc-scan.js';
import { StoredLineWriter } from '../../../../aggregator/server/es-compat/stored-line.js';
import { hostOf, usableHost } from '../../../../aggregator/server/es-compat/documents.js';

function reference(text: string): { ok: boolean; timestamp?: unknown; host?: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false };
  const o = v as Record<string, unknown>;
  const ts = o['@timestamp'];
  return { ok: true, timestamp: typeof ts === 'string' || typeof ts === 'number' ? ts : undefined, host: hostOf(o) };
}

function check(text: string): void {
  const buf = Buffer.from(`xx${text}yy`);
  const got = scanDocument(buf, 2, buf.length - 2);
  const want = reference(text);
  expect(got.error === undefined, `${text}: ${got.error}`).toBe(want.ok);
  if (!want.ok) return;
  expect(got.timestamp).toEqual(want.timestamp);
  expect(usableHost(got.host)).toEqual(want.host);
}

describe('scanDocument', () => {
  it('agrees with JSON.parse on hand-picked documents', () => {
    for (const t of [
      '{}',
      ' { "a" : [ 1 , -2.5e+3 , true , false , null , "x\\"y" , { } , [ ] ] } ',
      '{"@timestamp":"2024-05-01T12:00:00Z","host":{"name":"web1","os":{"name":"linux"}}}',
      '{"host":{"os":{"name":"linux"}}}',
      '{"host":"plain-host","host.name":"flat"}',
      '{"host.name":"flat","host":"plain"}',
      '{"host":{"name":"obj"},"host.name":"flat"}',
      '{"@timestamp":1714564800000,"message":"ü € 😀 \\u00e9"}',
      '{"host":{"name":"a\\u0041b"}}',
      '{"@timestamp":{"nested":1}}',
      '{"a":1,}',
      '{"a":01}',
      '{"a":1.}',
      '{"a":"\t"}',
      '{"a":"\\x"}',
      '{"a":tru}',
      '[1,2]',
      '"str"',
      '{"a":1}{"b":2}',
      '{"a":1',
      '{"a" 1}',
      '',
      '-',
    ]) check(t);
  });

  it('agrees with JSON.parse on generated JSON and on mangled JSON', () => {
    const doc = fc.dictionary(fc.oneof(fc.constantFrom('@timestamp', 'host', 'host.name', 'name', 'message'), fc.string()), fc.jsonValue({ maxDepth: 4 }));
    fc.assert(
      fc.property(doc, fc.nat(200), fc.integer({ min: 0, max: 5 }), (o, at, how) => {
        const text = JSON.stringify(o);
        check(text);
        // and a damaged copy: a byte dropped, doubled or replaced
        const i = at % Math.max(1, text.length);
        const damaged = how === 0 ? text.slice(0, i) + text.slice(i + 1) : how === 1 ? text.slice(0, i) + text[i] + text.slice(i) : text.slice(0, i) + '",:{}[]\\'[how] + text.slice(i + 1);
        check(damaged);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses nesting past its depth limit instead of overflowing the stack', () => {
    const deep = '{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    expect(scanDocument(Buffer.from(deep), 0, deep.length).error).toContain('nested too deeply');
  });
});

describe('StoredLineWriter', () => {
  it('writes {"message": the document, "timestamp": ISO[, "bulk_id": _id]} that gives back the document byte for byte', () => {
    const w = new StoredLineWriter();
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.integer({ min: 0, max: 253_402_300_799_999 }), (v, s, ts) => {
        for (const text of [JSON.stringify({ v }), JSON.stringify({ s }, null, '\t').replace(/\n/g, '\r')]) {
          const src = Buffer.from(`..${text}..`);
          const line = w.write(src, 2, src.length - 2, ts);
          const o = JSON.parse(line.toString('utf8'));
          expect(Buffer.from(o.message)).toEqual(Buffer.from(text));
          expect(o.timestamp).toBe(new Date(ts).toISOString());
          expect(Object.keys(o)).toEqual(['message', 'timestamp']);
          const withId = JSON.parse(w.write(src, 2, src.length - 2, ts, s).toString('utf8'));
          expect([Buffer.from(withId.message), withId.bulk_id]).toEqual([Buffer.from(text), s]);
        }
      }),
      { numRuns: 500 },
    );
  });
});
