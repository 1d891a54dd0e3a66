/**
 * Records inside a batch payload (after decompression). Two layouts:
 *  - plain (flags bit 0 clear): lines, each ending with '\n'; a record's size in
 *    the source is its length including the newline.
 *  - framed (FLAG_FRAMED): per record u32 length, u32 source bytes (how many bytes
 *    of the source file it covers, newline included), u8 record flags
 *    (RECORD_PART: one part of a line longer than max_line_bytes; RECORD_NO_NEWLINE:
 *    a trailing line flushed without its newline), then the record bytes. Used
 *    for multiline events, split long lines and partial lines.
 * Consumers derive each record's source offset from the batch's first offset.
 */
import { FLAG_FRAMED } from './codes.js';

export const RECORD_PART = 1;
export const RECORD_NO_NEWLINE = 2;

export interface RecordView {
  message: Buffer;
  sourceOffset: number;
  flags: number;
}

export function* iterateRecords(raw: Buffer, flags: number, firstSourceOffset: number): Generator<RecordView> {
  let off = firstSourceOffset;
  if (flags & FLAG_FRAMED) {
    let p = 0;
    while (p + 9 <= raw.length) {
      const len = raw.readUInt32BE(p);
      const srcBytes = raw.readUInt32BE(p + 4);
      const flags = raw[p + 8]!;
      const message = raw.subarray(p + 9, p + 9 + len);
      yield { message, sourceOffset: off, flags };
      off += srcBytes;
      p += 9 + len;
    }
    return;
  }
  let start = 0;
  while (start < raw.length) {
    let nl = raw.indexOf(10, start);
    if (nl < 0) nl = raw.length;
    yield { message: raw.subarray(start, nl), sourceOffset: off, flags: 0 };
    off += nl + 1 - start;
    start = nl + 1;
  }
}

export interface FramedRecord {
  message: Buffer;
  sourceBytes: number;
  flags: number;
}

export function encodeFramed(records: FramedRecord[]): Buffer {
  let size = 0;
  for (const r of records) size += 9 + r.message.length;
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const r of records) {
    p = out.writeUInt32BE(r.message.length, p);
    p = out.writeUInt32BE(r.sourceBytes, p);
    p = out.writeUInt8(r.flags, p);
    p += r.message.copy(out, p);
  }
  return out;
}
