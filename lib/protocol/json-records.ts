/**
 * Structured records (batch flag FLAG_JSON): the payload is plain
 * '\n'-terminated lines (the same layout and ingest checks as log lines), each
 * a JSON object. A reader merges each object's fields into the record it
 * serves: `message` becomes the record's message, `timestamp` (ISO 8601) its
 * timestamp, and the other fields are added beside them, except the ones the
 * reader owns (topic, partition, offset, host, source, source_offset, flags).
 * A line that is not a JSON object is served as a plain message.
 * The journald input writes these (agent/inputs/journald/record.ts).
 */

/** Records are JSON objects whose fields the reader merges into the record. */
export const FLAG_JSON = 4;

const OWNED = new Set(['topic', 'partition', 'offset', 'host', 'source', 'source_offset', 'flags', 'metrics']);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Merges the JSON object in `rec.message` into `rec`; leaves `rec` as it is when the line is not one. */
export function mergeJsonRecord(rec: { message: string; timestamp: string } & Record<string, unknown>): void {
  let o: unknown;
  try {
    o = JSON.parse(rec.message);
  } catch {
    return;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return;
  const obj = o as Record<string, unknown>;
  rec.message = typeof obj.message === 'string' ? obj.message : '';
  if (typeof obj.timestamp === 'string' && ISO.test(obj.timestamp)) rec.timestamp = obj.timestamp;
  for (const k of Object.keys(obj)) {
    if (k === 'message' || k === 'timestamp' || OWNED.has(k)) continue;
    rec[k] = obj[k];
  }
}
