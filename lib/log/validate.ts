import { LogshipError } from '../errors.js';
import { FRAME_HEADER_BYTES, MAX_META_BYTES, MAX_SEGMENT_BYTES } from './format.js';
import type { AppendInput } from './types.js';

/** Checks done before anything is queued, so a bad batch never reaches the disk. */
export function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
}

export function checkBatch(b: AppendInput): void {
  if (!Number.isSafeInteger(b.count) || b.count < 1 || b.count > 0xffffffff) throw new RangeError(`batch count must be an integer >= 1, got ${b.count}`);
  if (!Number.isSafeInteger(b.timestamp)) throw new RangeError(`batch timestamp must be an integer (ms), got ${b.timestamp}`);
  if (!Number.isInteger(b.attributes) || b.attributes < 0 || b.attributes > 0xffff) throw new RangeError(`batch attributes must be a u16, got ${b.attributes}`);
  if (!Buffer.isBuffer(b.meta) || !Buffer.isBuffer(b.payload)) throw new TypeError('batch meta and payload must be Buffers');
  if (b.meta.length > MAX_META_BYTES) throw new LogshipError('LSH_ERR_TOO_LARGE', `batch meta is ${b.meta.length} bytes; the limit is ${MAX_META_BYTES}`);
  if (FRAME_HEADER_BYTES + b.meta.length + b.payload.length > MAX_SEGMENT_BYTES) {
    throw new LogshipError('LSH_ERR_TOO_LARGE', `batch payload of ${b.payload.length} bytes exceeds the segment size limit`);
  }
}
