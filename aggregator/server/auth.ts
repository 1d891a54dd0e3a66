/**
 * Token auth and scopes. `Authorization: Bearer TOKEN`; the Elasticsearch-
 * compatible routes also take `ApiKey TOKEN` (or ApiKey base64("id:TOKEN"),
 * as Elasticsearch clients build it from an id and a key) and Basic with the
 * token as password. The header is taken as the bytes that arrived (Node hands them
 * over latin1-decoded, which maps bytes 1:1), never re-encoded, and compared
 * with every configured token in constant time over SHA-256 digests, so
 * neither length nor position leaks. Error messages never quote the header.
 *
 * Scopes: ingest (POST batches, _bulk, produce), read (topics, records,
 * group offsets), admin (everything). A token without scopes has full access
 * (configs from before scopes keep working; `logship check` warns). An
 * optional topics allow-list limits which topics a token may write or read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConfigError, ConfigIssue } from '../../lib/errors.js';
import { readSecretFile, SecretFileError, tokenProblem, trimAsciiSpace } from '../../lib/config/secrets.js';
import { HttpError } from './http-util.js';

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenSpec {
  name: string;
  token: Buffer | string;
  /** undefined: full access */
  scopes?: readonly Scope[];
  /** undefined: every topic */
  topics?: readonly string[];
}

/** Who a request is: the token's name and what it may do. */
export interface Principal {
  readonly name: string;
  /** undefined: full access (a token configured without scopes) */
  readonly scopes: ReadonlySet<Scope> | undefined;
  readonly topics: ReadonlySet<string> | undefined;
}

/** The credential of an Authorization header, as bytes, or why there is none. */
export type ParsedAuthorization =
  | { ok: true; scheme: 'bearer' | 'apikey' | 'basic'; credential: Buffer; /** ApiKey: the key part of base64("id:key"), tried too */ alternative?: Buffer }
  | { ok: false; reason: string };

const MAX_HEADER_BYTES = 8192;

/** Parses an Authorization header value (as Node gives it: one char per byte). Never throws, never quotes the value. */
export function parseAuthorization(header: string | undefined, esCompatible: boolean): ParsedAuthorization {
  if (header === undefined || header === '') return { ok: false, reason: 'missing Authorization header: send "Authorization: Bearer <token>"' };
  if (header.length > MAX_HEADER_BYTES) return { ok: false, reason: `Authorization header longer than ${MAX_HEADER_BYTES} bytes` };
  const raw = Buffer.from(header, 'latin1');
  const sp = raw.indexOf(0x20);
  if (sp <= 0) return { ok: false, reason: 'malformed Authorization header: expected "Bearer <token>"' };
  const scheme = raw.subarray(0, sp).toString('latin1').toLowerCase();
  const rest = trimAsciiSpace(raw.subarray(sp + 1));
  let credential: Buffer;
  let alternative: Buffer | undefined;
  if (scheme === 'bearer' || (scheme === 'apikey' && esCompatible)) {
    credential = rest;
    if (scheme === 'apikey' && /^[A-Za-z0-9+/=_-]+$/.test(rest.toString('latin1'))) {
      // Elasticsearch clients send base64("id:key"); the key is the token, the id is not checked.
      const decoded = Buffer.from(rest.toString('latin1'), 'base64');
      const colon = decoded.indexOf(0x3a);
      if (colon >= 0 && colon + 1 < decoded.length) alternative = decoded.subarray(colon + 1);
    }
  } else if (scheme === 'basic' && esCompatible) {
    const decoded = Buffer.from(rest.toString('latin1'), 'base64');
    const colon = decoded.indexOf(0x3a);
    if (colon < 0) return { ok: false, reason: 'malformed Basic credentials: expected base64 of "user:token"' };
    credential = decoded.subarray(colon + 1);
  } else {
    const allowed = esCompatible ? 'Bearer, ApiKey or Basic' : 'Bearer';
    return { ok: false, reason: `unsupported Authorization scheme: use ${allowed}` };
  }
  if (credential.length === 0) return { ok: false, reason: 'empty token in the Authorization header' };
  return { ok: true, scheme: scheme as 'bearer' | 'apikey' | 'basic', credential, ...(alternative ? { alternative } : {}) };
}

/**
 * Authorization headers already found valid, remembered (per TokenAuth, so per configured token
 * set) so that an agent's keep-alive requests are not hashed and compared again each time: that
 * took ~6 us of the event loop per request (parse, SHA-256, one constant-time compare per token).
 * Only a header that matched a token in constant time is stored, so a lookup can succeed only for
 * the exact bytes of a valid header: a wrong guess always takes the full path. Keyed by the header
 * string, not the connection: a connection may change its token between requests. Bounded; when
 * full it starts over (a fleet uses a few tokens, each one header).
 */
export const MAX_CACHED_HEADERS = 256;

export class TokenAuth {
  #tokens: Array<{ principal: Principal; digest: Buffer }>;
  #byRequest = new WeakMap<IncomingMessage, Principal>();
  /** valid headers -> principal: [0] plain routes (Bearer only), [1] Elasticsearch-compatible routes */
  #valid: [Map<string, Principal>, Map<string, Principal>] = [new Map(), new Map()];

  constructor(tokens: TokenSpec[]) {
    this.#tokens = tokens.map((t) => {
      const bytes = typeof t.token === 'string' ? Buffer.from(t.token, 'utf8') : t.token;
      // Defence in depth: config loading refuses these already; an empty digest must never be matchable.
      const problem = tokenProblem(bytes);
      if (problem) throw new Error(`auth.tokens "${t.name}": ${problem}`);
      return {
        digest: sha(bytes),
        principal: { name: t.name, scopes: t.scopes ? new Set(t.scopes) : undefined, topics: t.topics ? new Set(t.topics) : undefined },
      };
    });
  }

  get enabled(): boolean {
    return this.#tokens.length > 0;
  }

  /** The matching token's principal; throws 401 when auth is on and the request carries no valid token. */
  check(req: IncomingMessage, esCompatible = false): Principal | undefined {
    if (!this.enabled) return undefined;
    const header = req.headers.authorization;
    const valid = this.#valid[esCompatible ? 1 : 0];
    const known = header === undefined ? undefined : valid.get(header);
    if (known !== undefined) {
      this.#byRequest.set(req, known);
      return known;
    }
    const parsed = parseAuthorization(header, esCompatible);
    if (!parsed.ok) throw new HttpError(401, 'unauthorized', parsed.reason);
    const d = sha(parsed.credential);
    const alt = parsed.alternative ? sha(parsed.alternative) : undefined;
    let match: Principal | undefined;
    for (const t of this.#tokens) {
      if (timingSafeEqual(t.digest, d)) match = t.principal;
      if (alt && timingSafeEqual(t.digest, alt)) match = t.principal;
    }
    if (match === undefined) throw new HttpError(401, 'unauthorized', 'invalid token');
    if (valid.size >= MAX_CACHED_HEADERS) valid.clear();
    valid.set(header!, match);
    this.#byRequest.set(req, match);
    return match;
  }

  /**
   * Throws 403 unless the request's token has `scope` (admin implies every scope) and, when
   * `rawTopic` (a topic as it appears in the path, %-encoded) is given, may use that topic.
   * No-op when auth is off.
   */
  requireScope(req: IncomingMessage, scope: Scope, rawTopic?: string): void {
    const p = this.#byRequest.get(req);
    if (!p) return;
    if (p.scopes && !p.scopes.has(scope) && !p.scopes.has('admin')) {
      throw new HttpError(403, 'forbidden', `token "${p.name}" lacks the "${scope}" scope this request needs (its scopes: ${[...p.scopes].join(', ')})`);
    }
    if (rawTopic !== undefined && p.topics) {
      let topic: string;
      try {
        topic = decodeURIComponent(rawTopic);
      } catch {
        throw new HttpError(400, 'bad_request', 'invalid %-encoding in the topic name');
      }
      this.requireTopic(req, topic);
    }
  }

  /** Throws 403 unless the request's token may use `topic`. No-op when auth is off or the token has no topics list. */
  requireTopic(req: IncomingMessage, topic: string): void {
    const p = this.#byRequest.get(req);
    if (!p?.topics || p.topics.has(topic)) return;
    throw new HttpError(403, 'forbidden', `token "${p.name}" may not use topic ${JSON.stringify(topic)} (its topics: ${[...p.topics].join(', ')})`);
  }

  /** Whether the request's token may see `topic` (for filtering lists). */
  allowsTopic(req: IncomingMessage, topic: string): boolean {
    const p = this.#byRequest.get(req);
    return !p?.topics || p.topics.has(topic);
  }
}

function sha(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

export interface TokenConfigLike {
  name: string;
  token?: string;
  token_file?: string;
  scopes?: Scope[];
  topics?: string[];
}

export interface LoadedTokens {
  tokens: TokenSpec[];
  /** tokens without scopes: for the log (file permissions are checked by bin/config/secret-files.ts) */
  warnings: string[];
}

/**
 * Reads token files and checks every token. Throws one ConfigError listing each bad token
 * (at the token file's path for a file, else at the config's auth.tokens entry).
 */
export function loadTokens(list: readonly TokenConfigLike[], configFile = 'config'): LoadedTokens {
  const tokens: TokenSpec[] = [];
  const warnings: string[] = [];
  const issues: ConfigIssue[] = [];
  list.forEach((t, i) => {
    const at = `auth.tokens[${i}]`;
    let bytes: Buffer;
    if (t.token_file !== undefined) {
      try {
        bytes = trimAsciiSpace(readSecretFile(t.token_file));
      } catch (err) {
        if (!(err instanceof SecretFileError)) throw err;
        issues.push(new ConfigIssue(t.token_file, 1, 1, `${at}.token_file`, err.message));
        return;
      }
    } else {
      bytes = trimAsciiSpace(Buffer.from(t.token ?? '', 'utf8'));
    }
    const problem = tokenProblem(bytes);
    if (problem) {
      issues.push(new ConfigIssue(t.token_file ?? configFile, 1, 1, t.token_file ? `${at}.token_file` : `${at}.token`, problem));
      return;
    }
    if (!t.scopes) warnings.push(`${at} (${t.name}) has no scopes: it has full access (ingest, read, admin); give agents scopes: [ingest] and readers scopes: [read]`);
    tokens.push({ name: t.name, token: bytes, ...(t.scopes ? { scopes: t.scopes } : {}), ...(t.topics ? { topics: t.topics } : {}) });
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return { tokens, warnings };
}
