/**
 * The byte path of the fast writer (aggregator/pipelines/bytes.ts) against
 * the string path it must equal: over generated access lines (hostile ones,
 * UTF-8, invalid UTF-8, Unicode spaces, long numbers, both request forms),
 * the bytes it writes for the ES sink's document are exactly the bytes of
 * parsedDocument's JSON (fast writer or object path), drops and routes alike;
 * and its scanner accepts exactly what the preset's regex accepts, with the
 * same captures.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Pipeline } from '../../../../aggregator/pipelines/index.js';
import { BYTES_DROPPED, BYTES_FALLBACK, BYTES_OK, ByteBuffer, BytePlan, scanAccess } from '../../../../aggregator/pipelines/bytes.js';
import { compilePattern } from '../../../../aggregator/pipelines/pattern.js';
import { parsedDocument, sinkFields, sinkValues, type DocumentContext } from '../../../../aggregator/sinks/elasticsearch/document.js';
import type { StepConfig } from '../../../../aggregator/pipelines/types.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';

const B = (s: string) => Buffer.from(s, 'utf8');

/** Text pieces as bytes: ASCII, quotes and backslashes, nginx escapes, UTF-8, invalid UTF-8, Unicode spaces, control bytes. */
const piece = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('/', '/index.html', '/a/b?q=1&x=%20', 'curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64)', '-', '', 'x', '12', 'HTTP/1.1').map(B) },
  { weight: 3, arbitrary: fc.constantFrom('\\"', '\\\\', '\\x22', '\\xC3\\xA9', '\\xFF', '"', '\\').map(B) },
  { weight: 3, arbitrary: fc.constantFrom('é', 'ü/ß', '日本', '😀').map(B) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x80, 0x41])) },
  { weight: 1, arbitrary: fc.constantFrom(' ', '\t', '\u00a0', '\u2028', '\u3000', '\ufeff', '\u0001', '\u007f').map(B) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)) },
);
const text = fc.array(piece, { maxLength: 5 }).map((a) => Buffer.concat(a));
const noSpace = text.map((b) => Buffer.from(b.filter((c) => c !== 0x20 && c !== 0x22 && c !== 0x0a)));

/** Mostly a value the preset accepts, now and then one it does not. */
const mostly = (good: string[], bad: string[]) => fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });

const accessLine = fc
  .record({
    ip: mostly(['10.0.0.1', '192.168.100.254', '::1', '2001:db8::7', 'fe80::1%eth0', 'web-1.example.com'], ['1.2.3', '1.2.3.4.5', '1234.1.1.1', '-host', '']),
    ident: mostly(['-', 'x'], ['']),
    user: mostly(['-', 'alice', '-bob', 'b"ob', 'é', '\\x'], ['a b']),
    time: mostly(['01/Dec/2026:18:14:55 +0000', '01/Dec/2026:18:14:56 +0000', '01/Dec/2026:18:14:55.123 -0530', '31/Feb/2026:18:14:55 +0100'], ['01/Dec/2026:18:14:55.1234567890 +0000', '1/Dec/2026:18:14:55 +0000', '01/Xyz/2026:18:14:55 +0000']),
    request: fc.oneof(
      { weight: 6, arbitrary: fc.tuple(mostly(['GET', 'POST', 'X', 'M-SEARCH'], ['get', 'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG']), noSpace, mostly([' HTTP/1.1', ' HTTP/2', ''], [' HTTP/1.x', ' HTTP/'])).map(([m, p, v]) => Buffer.concat([B(`${m} /`), p, B(v)])) },
      { weight: 1, arbitrary: text },
    ),
    status: mostly(['200', '404', '007', '503'], ['1234567890123456', '99999999999999999999', '123456789012345678901', '', 'x']),
    bytes: mostly(['-', '0', '5120', '00'], ['12345678901234567', '-1']),
    ref: text,
    ua: text,
    tail: mostly(['both', 'both', 'none', 'dash'], ['broken']),
  })
  .map((l) => {
    const tail =
      l.tail === 'none' ? B('') : l.tail === 'dash' ? B(' "-" "-"') : l.tail === 'broken' ? Buffer.concat([B(' "'), l.ref, B('"')]) : Buffer.concat([B(' "'), l.ref, B('" "'), l.ua, B('"')]);
    return Buffer.concat([B(`${l.ip} ${l.ident} ${l.user} [${l.time}] "`), l.request, B(`" ${l.status} ${l.bytes}`), tail]);
  });

const line = fc.oneof({ weight: 8, arbitrary: accessLine }, { weight: 1, arbitrary: text });

const CONDS = [undefined, 'http.response.status_code >= 500', 'url.original contains "a"', 'not user.name', 'message matches "^1"'];
const later: fc.Arbitrary<StepConfig> = fc.oneof(
  fc.tuple(fc.constantFrom('labels.a', 'x', 'http.request.method', 'event.dataset', 'agent.name'), fc.constantFrom('v', 'é"\\', 'p-{{source.ip}}-{{http.response.status_code}}'), fc.boolean()).map(([field, value, override]) => ({ type: 'set', field, value, override }) as StepConfig),
  fc.constantFrom<StepConfig>(
    { type: 'rename', fields: { 'source.ip': 'client.ip' } },
    { type: 'copy', fields: { 'url.original': 'labels.url' } },
    { type: 'remove', fields: ['user_agent.original', 'message'] },
    { type: 'sample', rate: 2 },
  ),
  fc.constantFrom(...CONDS).map((c) => ({ type: 'drop', if: c ?? 'http.response.status_code == 404' }) as StepConfig),
  fc.tuple(fc.constantFrom(['es'], ['other']), fc.constantFrom(...CONDS)).map(([sinks, c]) => (c === undefined ? { type: 'route', sinks } : { type: 'route', sinks, if: c }) as StepConfig),
  fc.constant<StepConfig>({ type: 'timestamp', field: 'labels.none', formats: ['rfc3339'], timezone: 'UTC', target: '@timestamp', remove: false }),
);

const ctxFor = (stream: boolean): DocumentContext =>
  stream
    ? { topic: 'web', target: { name: 'logs-web-default', stream: { type: 'logs', dataset: 'web', namespace: 'default' } }, version: '1.2.3' }
    : { topic: 'web', target: { name: 'logship-web' }, version: '1.2.3' };

const ISO = '2026-12-01T18:00:00.000Z';

describe('byte path of the document writer', () => {
  it('writes the bytes of the string path, over generated access lines and pipelines', () => {
    const counts = { ok: 0, fallback: 0, dropped: 0 };
    fc.assert(
      fc.property(fc.constantFrom('nginx_access', 'apache_access'), fc.array(later, { maxLength: 3 }), fc.array(line, { minLength: 1, maxLength: 10 }), fc.boolean(), (preset, more, lines, stream) => {
        const steps: StepConfig[] = [{ type: 'pattern', field: 'message', preset, definitions: {} } as StepConfig, ...more];
        const a = new Pipeline('t', { topics: [], steps });
        const b = new Pipeline('t', { topics: [], steps });
        const c = ctxFor(stream);
        const plan = a.bytePlan(sinkFields(c));
        if (!plan) return; // overlapping fields (a set of http.request.method.x ...): no fast plan at all
        // one stored batch: the lines joined by newlines, the scanner bounded by each line's end
        const batch = Buffer.concat(lines.flatMap((l) => [l, B('\n')]));
        const out = new ByteBuffer(64);
        let s = 0;
        for (let i = 0; i < lines.length; i++) {
          const host = i < 5 ? 'web-01' : 'web-"2"';
          const source = '/var/log/nginx/access.log';
          plan.context(host, source, ISO, sinkValues(c, host));
          const e = s + lines[i]!.length;
          const r: StoredRecord = { offset: i, timestamp: ISO, host, source, source_offset: s, message: batch.toString('utf8', s, e) };
          const want = parsedDocument(b, r, c);
          const before = out.p;
          const got = plan.write(batch, s, e, s, out);
          if (got === BYTES_FALLBACK) {
            counts.fallback++;
            expect(out.p).toBe(before);
          } else if (got === BYTES_DROPPED) {
            counts.dropped++;
            expect(want.dropped).toBe(true);
            expect(plan.routes).toEqual(want.routes);
          } else {
            counts.ok++;
            expect(got).toBe(BYTES_OK);
            expect(want.dropped).toBe(false);
            expect(plan.routes).toEqual(want.routes);
            expect(out.buf.toString('utf8', before, out.p)).toBe(want.json);
            expect(out.buf.subarray(before, out.p).equals(B(want.json))).toBe(true);
          }
          s = e + 1;
        }
      }),
      { numRuns: 1500 },
    );
    // every outcome came up, and most lines took the byte path
    expect(counts.ok).toBeGreaterThan(1000);
    expect(counts.fallback).toBeGreaterThan(100);
    expect(counts.dropped).toBeGreaterThan(10);
  });

  it('the scanner accepts exactly what the preset regex accepts, with the same captures', () => {
    for (const [block, apache] of [
      ['NGINX_ACCESS', false],
      ['APACHE_ACCESS', true],
    ] as const) {
      const p = compilePattern(`%{${block}}$`);
      // capture index in scanAccess's order for each of the pattern's fields
      const order = ['source.ip', 'source.domain', 'user.name', 'http.request.method', 'url.original', 'http.version', 'http.response.status_code', 'http.response.body.bytes', 'http.request.referrer', 'user_agent.original', '_pattern.time', '_pattern.request'];
      const caps = new Int32Array(24);
      let matched = 0;
      fc.assert(
        fc.property(line, (l) => {
          // the regex runs on decoded text: compare on lines whose bytes are that text (valid UTF-8, no Unicode space)
          const str = l.toString('utf8');
          if (!B(str).equals(l) || /[\u0080-\uffff]/.test(str.replace(/[^\s]/g, ''))) return;
          const m = p.regex.exec(str);
          const got = scanAccess(l, 0, l.length, apache, caps);
          if (!got) {
            // the scanner leaves numbers of more than 15 digits to the string path
            if (m) expect(/ \d{16,} |\d{16,}( "|$)/.test(str)).toBe(true);
            return;
          }
          expect(m).not.toBeNull();
          matched++;
          for (const c of p.captures) {
            const k = order.indexOf(c.field);
            expect(k).toBeGreaterThanOrEqual(0);
            const want = m![c.index];
            const text = caps[2 * k]! < 0 ? undefined : l.toString('utf8', caps[2 * k]!, caps[2 * k + 1]!);
            expect(text).toBe(want);
          }
        }),
        { numRuns: 4000 },
      );
      expect(matched).toBeGreaterThan(200);
    }
  });

  it('hostile lines: which take the byte path and which go back to the string path', () => {
    const p = new Pipeline('t', { topics: [], steps: [{ type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} }] });
    const c = ctxFor(true);
    const plan = p.bytePlan(sinkFields(c))!;
    expect(plan).toBeDefined();
    plan.context('web-01', '/var/log/nginx/access.log', ISO, sinkValues(c, 'web-01'));
    const cases: Array<[Buffer, number]> = [
      [B('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET /x HTTP/1.1" 200 5 "-" "curl/8"'), BYTES_OK],
      [B('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET /\\xE2\\x82\\xAC?q=\\x22 HTTP/1.1" 200 5 "r\\"x" "ü"'), BYTES_OK],
      [B('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET /a\\" HTTP/1.1" 200 5'), BYTES_OK],
      [B('10.0.0.1 - a\u0001b [01/Dec/2026:18:14:55 +0000] "GET / HTTP/1.1" 200 5'), BYTES_OK],
      [Buffer.concat([B('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET /'), Buffer.from([0xff]), B(' HTTP/1.1" 200 5')]), BYTES_FALLBACK],
      [B('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET /\u00a0 HTTP/1.1" 200 5'), BYTES_FALLBACK],
      [B('10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET / HTTP/1.1" 99999999999999999999 5'), BYTES_FALLBACK],
      [B('not an access line'), BYTES_FALLBACK],
    ];
    const out = new ByteBuffer(16);
    for (const [l, expected] of cases) {
      const before = out.p;
      expect(plan.write(l, 0, l.length, 7, out)).toBe(expected);
      const r: StoredRecord = { offset: 0, timestamp: ISO, host: 'web-01', source: '/var/log/nginx/access.log', source_offset: 7, message: l.toString('utf8') };
      if (expected === BYTES_OK) expect(out.buf.toString('utf8', before, out.p)).toBe(parsedDocument(p, r, c).json);
    }
    const ok = JSON.parse(out.buf.toString('utf8', 0, out.p).split('}{"@timestamp"')[0] + '}');
    expect(ok).toMatchObject({ '@timestamp': '2026-12-01T18:14:55.000Z', url: { original: '/x' }, http: { request: { method: 'GET' }, response: { status_code: 200, body: { bytes: 5 } } }, log: { offset: 7 }, data_stream: { dataset: 'web' } });
  });

  it('pipelines without the access preset first have no byte plan', () => {
    const c = ctxFor(false);
    const none = (steps: StepConfig[]) => new Pipeline('t', { topics: [], steps }).bytePlan(sinkFields(c));
    expect(none([{ type: 'pattern', field: 'message', preset: 'syslog_rfc3164', definitions: {} } as StepConfig])).toBeUndefined();
    expect(none([{ type: 'pattern', field: 'message', pattern: ['%{IP:source.ip}'], definitions: {} } as StepConfig])).toBeUndefined();
    expect(none([{ type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {}, if: 'message' } as StepConfig])).toBeUndefined();
    expect(none([{ type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} } as StepConfig, { type: 'json', field: 'message', target: '', levels: true } as StepConfig])).toBeUndefined();
    expect(none([{ type: 'pattern', field: 'message', preset: 'apache_access', definitions: {} } as StepConfig])).toBeDefined();
  });
});
