/**
 * The Authorization header parser and token matching (issue 9, findings 3 and 9), unit and
 * property-based: any header, any bytes, never a throw other than the documented 401/403
 * HttpError, never the credentials in a message, accepted exactly when the bytes match.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { IncomingMessage } from 'node:http';
import { parseAuthorization, TokenAuth, loadTokens } from '../../../aggregator/server/auth.js';
import { HttpError } from '../../../aggregator/server/http-util.js';
import { ConfigError } from '../../../lib/errors.js';

const req = (authorization: string | undefined) => ({ headers: authorization === undefined ? {} : { authorization } }) as unknown as IncomingMessage;

const REASONS = new Set([
  'missing Authorization header: send "Authorization: Bearer <token>"',
  'Authorization header longer than 8192 bytes',
  'malformed Authorization header: expected "Bearer <token>"',
  'malformed Basic credentials: expected base64 of "user:token"',
  'unsupported Authorization scheme: use Bearer',
  'unsupported Authorization scheme: use Bearer, ApiKey or Basic',
  'empty token in the Authorization header',
  'invalid token',
]);

/** A token as a config may hold it: 16-80 visible ASCII characters. */
const tokenArb = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 16, maxLength: 80 });
/** A header value as Node hands it over: one char per received byte. */
const latin1Arb = fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 200 });
const headerArb = fc.oneof(
  latin1Arb,
  fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'ApiKey', 'Basic', 'Token', ''), fc.constantFrom(' ', '  ', '\t', ''), latin1Arb).map(([s, sp, rest]) => `${s}${sp}${rest}`),
);

describe('parseAuthorization', () => {
  it('takes the credential as the received bytes, trimming only ASCII whitespace', () => {
    expect(parseAuthorization('Bearer \xA0', false)).toEqual({ ok: true, scheme: 'bearer', credential: Buffer.from([0xa0]) });
    expect(parseAuthorization('Bearer  abc\t ', false)).toMatchObject({ ok: true, credential: Buffer.from('abc') });
    expect(parseAuthorization('Bearer ', false)).toEqual({ ok: false, reason: 'empty token in the Authorization header' });
    expect(parseAuthorization(`Basic ${Buffer.from('u:p:q').toString('base64')}`, true)).toMatchObject({ ok: true, scheme: 'basic', credential: Buffer.from('p:q') });
    expect(parseAuthorization('ApiKey abc', false)).toEqual({ ok: false, reason: 'unsupported Authorization scheme: use Bearer' });
  });

  it('property: never throws, and a refusal is one of the fixed messages (it never quotes the header)', () => {
    fc.assert(
      fc.property(headerArb, fc.boolean(), (h, es) => {
        const r = parseAuthorization(h, es);
        if (!r.ok) expect(REASONS.has(r.reason), r.reason).toBe(true);
        else expect(r.credential.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('TokenAuth', () => {
  it('refuses blank, short and control-character tokens outright', () => {
    for (const t of ['', '   ', '\xA0', 'short', 'x'.repeat(15), `${'x'.repeat(16)}\n${'y'.repeat(16)}`]) {
      expect(() => new TokenAuth([{ name: 'n', token: t }]), JSON.stringify(t)).toThrow();
    }
  });

  it('property: a request is accepted exactly when its credential bytes equal a configured token; failures are 401 without the header', () => {
    fc.assert(
      fc.property(fc.uniqueArray(tokenArb, { minLength: 1, maxLength: 4 }), headerArb, fc.boolean(), (tokens, h, es) => {
        const auth = new TokenAuth(tokens.map((token, i) => ({ name: `t${i}`, token })));
        const parsed = parseAuthorization(h, es);
        const expected = parsed.ok ? tokens.findIndex((t) => Buffer.from(t).equals(parsed.credential)) : -1;
        try {
          const p = auth.check(req(h), es);
          expect(expected).toBeGreaterThanOrEqual(0);
          expect(p?.name).toBe(`t${expected}`);
        } catch (err) {
          expect(err).toBeInstanceOf(HttpError);
          expect((err as HttpError).status).toBe(401);
          expect(REASONS.has((err as HttpError).reason)).toBe(true);
          expect(expected).toBe(-1);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: the configured token is accepted with any ASCII whitespace around it, and no longer with any other byte added', () => {
    fc.assert(
      fc.property(tokenArb, fc.constantFrom('', ' ', '\t', '  '), fc.integer({ min: 0x80, max: 0xff }), (token, ws, extra) => {
        const auth = new TokenAuth([{ name: 'ops', token }]);
        expect(auth.check(req(`Bearer ${ws}${token}${ws}`))?.name).toBe('ops');
        expect(() => auth.check(req(`Bearer ${token}${String.fromCharCode(extra)}`))).toThrow(HttpError);
      }),
      { numRuns: 500 },
    );
  });

  it('scopes: admin implies every scope; no scopes is full access; a topics list limits topics; 403 names scope or topic, never the token', () => {
    const auth = new TokenAuth([
      { name: 'fleet', token: 'f'.repeat(20), scopes: ['ingest'] },
      { name: 'ops', token: 'o'.repeat(20), scopes: ['read'], topics: ['app'] },
      { name: 'root', token: 'r'.repeat(20), scopes: ['admin'] },
      { name: 'legacy', token: 'l'.repeat(20) },
    ]);
    const as = (t: string) => {
      const r = req(`Bearer ${t.repeat(20)}`);
      auth.check(r);
      return r;
    };
    expect(() => auth.requireScope(as('f'), 'read')).toThrow(/token "fleet" lacks the "read" scope/);
    try {
      auth.requireScope(as('f'), 'read');
    } catch (err) {
      expect((err as HttpError).status).toBe(403);
      expect((err as HttpError).reason).not.toContain('ffff');
    }
    expect(() => auth.requireScope(as('f'), 'ingest')).not.toThrow();
    expect(() => auth.requireScope(as('o'), 'read', 'app')).not.toThrow();
    expect(() => auth.requireScope(as('o'), 'read', 'other')).toThrow(/may not use topic "other"/);
    expect(() => auth.requireScope(as('o'), 'read', '%E0%A4%A')).toThrow(/invalid %-encoding/);
    expect(() => auth.requireScope(as('r'), 'ingest')).not.toThrow();
    expect(() => auth.requireScope(as('l'), 'admin')).not.toThrow();
    expect(() => auth.requireTopic(as('l'), 'anything')).not.toThrow();
  });

  it('loadTokens: every bad token listed at once, at the token file or the entry; warnings for tokens without scopes', () => {
    let err: unknown;
    try {
      loadTokens([
        { name: 'a', token: ' ' },
        { name: 'b', token_file: '/nonexistent/logship.token' },
        { name: 'c', token: 'c'.repeat(16), scopes: ['read'] },
      ]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map(String)).toEqual([
      'config:1:1: auth.tokens[0].token: the token is empty or only whitespace',
      '/nonexistent/logship.token:1:1: auth.tokens[1].token_file: cannot read it: no such file',
    ]);
    const ok = loadTokens([{ name: 'old', token: 'o'.repeat(16) }]);
    expect(ok.warnings).toEqual(['auth.tokens[0] (old) has no scopes: it has full access (ingest, read, admin); give agents scopes: [ingest] and readers scopes: [read]']);
  });
});
