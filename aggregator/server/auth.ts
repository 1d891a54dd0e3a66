/**
 * Token auth: `Authorization: Bearer TOKEN`; the Elasticsearch-compatible
 * routes also take `ApiKey TOKEN` and Basic with the token as password.
 * Comparison is constant-time over SHA-256 digests, so length leaks nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-util.js';

export class TokenAuth {
  #digests: Array<{ name: string; digest: Buffer }>;

  constructor(tokens: Array<{ name: string; token: string }>) {
    this.#digests = tokens.map((t) => ({ name: t.name, digest: sha(t.token) }));
  }

  get enabled(): boolean {
    return this.#digests.length > 0;
  }

  /** The matching token's name; throws 401 when auth is on and the request does not carry a valid token. */
  check(req: IncomingMessage, esCompatible = false): string | undefined {
    if (!this.enabled) return undefined;
    const header = req.headers.authorization;
    if (!header) throw new HttpError(401, 'unauthorized', 'missing Authorization header: send "Authorization: Bearer <token>"');
    const sp = header.indexOf(' ');
    const scheme = header.slice(0, sp).toLowerCase();
    let token = header.slice(sp + 1).trim();
    if (scheme === 'basic' && esCompatible) {
      const decoded = Buffer.from(token, 'base64').toString('utf8');
      token = decoded.slice(decoded.indexOf(':') + 1);
    } else if (!(scheme === 'bearer' || (scheme === 'apikey' && esCompatible))) {
      throw new HttpError(401, 'unauthorized', `unsupported Authorization scheme "${scheme}": use Bearer`);
    }
    const d = sha(token);
    let match: string | undefined;
    for (const t of this.#digests) if (timingSafeEqual(t.digest, d)) match = t.name;
    if (match === undefined) throw new HttpError(401, 'unauthorized', 'invalid token');
    return match;
  }
}

function sha(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
