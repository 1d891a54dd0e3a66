/**
 * TokenAuth remembers headers it found valid (issue 17: ~6 us of the event loop per request went
 * to parsing, hashing and comparing the same agent's header again). The cache must never change
 * an answer: one TokenAuth checks a long mixed sequence of headers, valid and not, Bearer and
 * Elasticsearch schemes, and each answer equals that of a fresh TokenAuth; and a header seen
 * valid is not hashed again.
 */
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import type { IncomingMessage } from 'node:http';

const hashes = vi.hoisted(() => ({ n: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    createHash: (...args: Parameters<typeof real.createHash>) => {
      hashes.n++;
      return real.createHash(...args);
    },
  };
});

const { TokenAuth, MAX_CACHED_HEADERS } = await import('../../../aggregator/server/auth.js');
const { HttpError } = await import('../../../aggregator/server/http-util.js');

const req = (authorization: string | undefined) => ({ headers: authorization === undefined ? {} : { authorization } }) as unknown as IncomingMessage;

function answer(auth: InstanceType<typeof TokenAuth>, h: string | undefined, es: boolean): string {
  try {
    return `ok ${auth.check(req(h), es)?.name}`;
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return `${(err as InstanceType<typeof HttpError>).status} ${(err as InstanceType<typeof HttpError>).reason}`;
  }
}

const TOKENS = ['alpha-token-0123456789', 'bravo-token-0123456789', 'charlie-token-012345678'];
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** Headers around the configured tokens: valid ones in every scheme, near misses, whitespace variants. */
const headerArb = fc.oneof(
  fc.tuple(fc.constantFrom(...TOKENS, 'alpha-token-012345678', 'alpha-token-01234567890', 'nobody-token-0123456789'), fc.constantFrom('Bearer ', 'bearer ', 'Bearer  ', 'ApiKey ', 'Token '), fc.constantFrom('', ' ', '\t')).map(
    ([t, s, ws]) => `${s}${t}${ws}`,
  ),
  fc.constantFrom(...TOKENS).map((t) => `ApiKey ${b64(`id:${t}`)}`),
  fc.constantFrom(...TOKENS).map((t) => `Basic ${b64(`user:${t}`)}`),
  fc.constantFrom(undefined, '', 'Bearer', 'Bearer ', 'Basic !!!'),
);

describe('TokenAuth header cache', () => {
  it('property: a reused TokenAuth answers every header, in any order, exactly as a fresh one does', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(headerArb, fc.boolean()), { minLength: 1, maxLength: 60 }), (seq) => {
        const specs = TOKENS.map((token, i) => ({ name: `t${i}`, token }));
        const reused = new TokenAuth(specs);
        for (const [h, es] of seq) expect(answer(reused, h, es), `${h} es=${es}`).toBe(answer(new TokenAuth(specs), h, es));
      }),
      { numRuns: 500 },
    );
  });

  it('a header accepted on an Elasticsearch route is still refused where only Bearer is allowed', () => {
    const auth = new TokenAuth([{ name: 'es', token: TOKENS[0]! }]);
    const h = `ApiKey ${TOKENS[0]}`;
    expect(answer(auth, h, true)).toBe('ok es');
    expect(answer(auth, h, false)).toBe('401 unsupported Authorization scheme: use Bearer');
  });

  it('a valid header is hashed once, then found without hashing; an invalid one is hashed every time', () => {
    const auth = new TokenAuth([{ name: 'fleet', token: TOKENS[1]!, scopes: ['ingest'] }]);
    const before = hashes.n;
    for (let i = 0; i < 10; i++) {
      const r = req(`Bearer ${TOKENS[1]}`);
      expect(auth.check(r)?.name).toBe('fleet');
      // The principal is attached to each request (scopes are judged per request).
      expect(() => auth.requireScope(r, 'ingest')).not.toThrow();
      expect(() => auth.requireScope(r, 'read')).toThrow(/lacks the "read" scope/);
    }
    expect(hashes.n - before).toBe(1);
    for (let i = 0; i < 5; i++) expect(() => auth.check(req(`Bearer ${TOKENS[2]}`))).toThrow(/invalid token/);
    expect(hashes.n - before).toBe(6);
  });

  it('stays bounded: more valid headers than it keeps are all still accepted', () => {
    const auth = new TokenAuth([{ name: 'fleet', token: TOKENS[2]! }]);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < MAX_CACHED_HEADERS + 10; i++) expect(auth.check(req(`Bearer ${' '.repeat(i)}${TOKENS[2]}`))?.name).toBe('fleet');
    }
    expect(() => auth.check(req(`Bearer ${TOKENS[2]}x`))).toThrow(/invalid token/);
  });
});
