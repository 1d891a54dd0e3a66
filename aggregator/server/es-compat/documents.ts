/**
 * What a JSON document says about its record: the host (the first usable of
 * `host.name`, a flattened "host.name" key, a string `host`) and the time (`@timestamp`:
 * ISO 8601 / RFC 3339, or epoch milliseconds), each checked; and the hash the
 * idempotence window compares (of the stored bytes, so a retry of the same
 * document matches and an edited one does not).
 */
import { hash } from 'node:crypto';
import { MAX_TIMESTAMP } from '../../../lib/protocol/payload.js';

const MAX_HOST = 255;
const ISO_MS_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

export function hostOf(doc: Record<string, unknown>): string | undefined {
  const h = doc.host;
  const fromObject = h !== null && typeof h === 'object' && !Array.isArray(h) ? (h as Record<string, unknown>).name : undefined;
  return usableHost(fromObject) ?? usableHost(doc['host.name']) ?? usableHost(typeof h === 'string' ? h : undefined);
}

/** A host name we store: a non-empty string of at most 255 characters without control characters. */
export function usableHost(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '' || v.length > MAX_HOST || /[\u0000-\u001f\u007f]/.test(v)) return undefined;
  return v;
}

/** Milliseconds since the epoch of a `@timestamp`-style value, or undefined when it is not a usable time. */
export function timeOf(v: unknown): number | undefined {
  let ms: number;
  if (typeof v === 'number') ms = Math.trunc(v);
  else if (typeof v === 'string' && v.length === 24 && ISO_MS_Z.test(v)) ms = Date.parse(v); // the common form, as shippers write it
  else if (typeof v === 'string') {
    // Date.parse accepts far too much ("1", "May 5"): only date-times that start like ISO 8601.
    if (!/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(v)) return undefined;
    let iso = v.replace(' ', 'T');
    if (iso.length === 10) iso += 'T00:00:00Z';
    else if (/[+-]\d{4}$/.test(iso)) iso = `${iso.slice(0, -2)}:${iso.slice(-2)}`;
    else if (!/(Z|[+-]\d\d:\d\d)$/.test(iso)) iso += 'Z'; // no zone: UTC, as Elasticsearch reads it
    ms = Date.parse(iso);
  } else return undefined;
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_TIMESTAMP ? ms : undefined;
}

export function hashBytes(b: Buffer): string {
  // The one-shot crypto.hash: no Hash object per document (several times cheaper than createHash here).
  return hash('sha256', b, 'base64url').slice(0, 22);
}
