/**
 * The `limits:` keys of the JSON ingest routes (_bulk and produce), spread
 * into the aggregator's limits table (aggregator/config.ts), so they are
 * checked, defaulted and documented with the others.
 */
import { t, type OptionSpec } from '../../../lib/config/option-table.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const HOUR = 3_600_000;

export interface JsonIngestLimits {
  /** largest body after gzip inflation (413 beyond) */
  max_inflated_body_bytes: number;
  /** documents (bulk actions or produced records) per request (413 beyond) */
  max_documents_per_request: number;
  /** longest NDJSON line (a document or action) */
  max_line_bytes: number;
  /** _bulk and produce requests handled at once (429 beyond) */
  max_concurrent_json_requests: number;
  /** how long a stored _id or Idempotency-Key is remembered */
  idempotence_window: number;
  /** _ids and keys remembered at most (the oldest are forgotten first, counted) */
  max_idempotence_entries: number;
}

export const jsonIngestLimitKeys: OptionSpec[] = [
  { key: 'max_inflated_body_bytes', type: t.size({ min: 1 * KiB, max: 1 * GiB }), default: 128 * MiB, doc: '_bulk and produce: largest body after Content-Encoding: gzip is inflated (413 beyond; inflation stops there)' },
  { key: 'max_documents_per_request', type: t.int({ min: 1, max: 10_000_000 }), default: 100_000, doc: '_bulk actions or produced records in one request (413 beyond)' },
  { key: 'max_line_bytes', type: t.size({ min: 1 * KiB, max: 64 * MiB }), default: 4 * MiB, doc: 'longest NDJSON line: a longer document is refused as an item error (413), a longer action line fails the request (400)' },
  { key: 'max_concurrent_json_requests', type: t.int({ min: 1, max: 10_000 }), default: 64, doc: '_bulk and produce requests handled at once; more answer 429 (shippers retry)' },
  { key: 'idempotence_window', type: t.duration({ min: 1000 }), default: 24 * HOUR, doc: 'how long a stored _bulk _id or produce Idempotency-Key is remembered (create with it again: 409)' },
  { key: 'max_idempotence_entries', type: t.int({ min: 1000, max: 50_000_000 }), default: 2_000_000, doc: '_ids and keys remembered at most (about 120 bytes each); past it the oldest are forgotten first and counted' },
];
