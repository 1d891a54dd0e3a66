/**
 * The document a stored record starts as, before any step: ECS names for
 * what the record already knows. The raw line stays in `message` (and is
 * never changed in storage); `@timestamp` is the read time until a
 * `timestamp` step finds the line's own.
 */
import type { StoredRecord } from '../storage/record-decoder.js';
import { newDoc, type Doc } from './fields.js';

export function baseDocument(rec: StoredRecord): Doc {
  const doc = newDoc();
  doc['@timestamp'] = rec.timestamp;
  doc.message = rec.message;
  const host = newDoc();
  host.name = rec.host;
  doc.host = host;
  const file = newDoc();
  file.path = rec.source;
  const log = newDoc();
  log.file = file;
  log.offset = rec.source_offset;
  doc.log = log;
  if (rec.metrics !== undefined) doc.metrics = rec.metrics;
  return doc;
}
