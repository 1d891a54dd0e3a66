/**
 * The document a stored record starts as, before any step: ECS names for
 * what the record already knows. The raw line stays in `message` (and is
 * never changed in storage); `@timestamp` is the read time until a
 * `timestamp` step finds the line's own.
 */
import type { StoredRecord } from '../storage/record-decoder.js';
import type { Doc } from './fields.js';

export function baseDocument(rec: StoredRecord): Doc {
  // one literal: V8 gives every document the same shape
  const doc: Doc = {
    '@timestamp': rec.timestamp,
    message: rec.message,
    host: { name: rec.host },
    log: { file: { path: rec.source }, offset: rec.source_offset },
  };
  if (rec.metrics !== undefined) doc.metrics = rec.metrics;
  return doc;
}
