/**
 * The `_bulk` wire format as this sink uses it. Request: NDJSON, per
 * document one action line `{"create":{"_index":NAME,"_id":ID}}` and one
 * source line, every line (the last one too) ending in "\n"; `create` only,
 * never `_type`. Response (HTTP 200 even when items failed):
 * `{"errors":bool,"items":[{"create":{"status":N,"error":{"type","reason"}}},...]}`,
 * items in request order. We ask for `filter_path=errors,items.*.error,items.*.status`
 * so the answer carries only what we read, and do not parse it at all when
 * `errors` is false.
 */

export const BULK_PATH = '/_bulk?filter_path=errors,items.*.error,items.*.status';

/** One document ready to send: its two NDJSON lines (a string, or their UTF-8 bytes) and their UTF-8 size. */
export interface BulkItem {
  lines?: string;
  buf?: Buffer;
  bytes: number;
}

export function actionLine(index: string, id: string): string {
  return `{"create":{"_index":${JSON.stringify(index)},"_id":"${id}"}}\n`;
}

/** Splits items into requests of at most maxDocs documents and about maxBytes (a bigger single document goes alone). */
export function chunk<T extends BulkItem>(items: T[], maxDocs: number, maxBytes: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    if (cur.length > 0 && (cur.length >= maxDocs || bytes + it.bytes > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += it.bytes;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export function bulkBody(items: BulkItem[]): Buffer {
  let n = 0;
  for (const it of items) n += it.bytes;
  const buf = Buffer.allocUnsafe(n);
  let p = 0;
  for (const it of items) p += it.buf ? it.buf.copy(buf, p) : buf.write(it.lines!, p, 'utf8');
  return buf;
}

export interface ItemResult {
  status: number;
  type?: string;
  reason?: string;
}

/** undefined: every item succeeded (`errors` false). Throws when the answer does not match the request. */
export function parseBulkResponse(body: Buffer, expected: number): ItemResult[] | undefined {
  const head = body.subarray(0, 64).toString('latin1');
  if (/^\s*\{\s*("took"\s*:\s*\d+\s*,\s*)?"errors"\s*:\s*false\b/.test(head)) return undefined;
  let parsed: { errors?: unknown; items?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    throw new Error('the _bulk answer is not JSON');
  }
  if (parsed?.errors === false) return undefined;
  if (!Array.isArray(parsed?.items) || parsed.items.length !== expected) {
    throw new Error(`the _bulk answer has ${Array.isArray(parsed?.items) ? parsed.items.length : 'no'} items for ${expected} documents`);
  }
  return parsed.items.map((wrapped: unknown) => {
    const it = wrapped && typeof wrapped === 'object' ? (Object.values(wrapped)[0] as { status?: unknown; error?: { type?: unknown; reason?: unknown } } | undefined) : undefined;
    const status = typeof it?.status === 'number' ? it.status : 0;
    const e = it?.error;
    return {
      status,
      type: typeof e?.type === 'string' ? e.type : undefined,
      reason: typeof e?.reason === 'string' ? e.reason.slice(0, 2000) : undefined,
    };
  });
}

/** What to do with one item. */
export function classify(r: ItemResult): 'ok' | 'retry' | 'dead' {
  if (r.status >= 200 && r.status < 300) return 'ok';
  // create with an _id that exists: the document is already there (a redelivery).
  if (r.status === 409 && (r.type === undefined || r.type === 'version_conflict_engine_exception')) return 'ok';
  if (r.status === 429 || r.status >= 500 || r.status === 0) return 'retry';
  return 'dead';
}

/** Retry-After in ms (seconds or an HTTP date), undefined when absent or unusable. */
export function retryAfterMs(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}
