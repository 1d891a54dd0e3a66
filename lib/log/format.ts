/**
 * On-disk format of a segment log directory. All integers are BIG-ENDIAN.
 *
 * Files (base = offset of the first record in the segment, 20 digits, zero padded):
 *   00000000000000000000.log        batch frames, back to back, nothing else
 *   00000000000000000000.index      sparse offset index, 8-byte entries
 *   00000000000000000000.timeindex  sparse time index, 12-byte entries
 *   <base>.log.corrupt-<ms>         a quarantined segment; never read, left for the operator
 *
 * Batch frame (.log), FRAME_HEADER_BYTES = 36:
 *   off size field
 *     0   1  magic         0x4C ('L')
 *     1   1  version       1
 *     2   4  length        u32: bytes after this field (frame size - 6)
 *     6   4  crc           u32: CRC-32C (crc32c.ts) of bytes [10, frame end), body first:
 *                             crc32c(bytes[10..36), seed = crc32c(bytes[36..end)))
 *                             so the body's share is computed before an offset is assigned
 *    10   8  baseOffset    u64 (always < 2^53): offset of the batch's first record
 *    18   4  count         u32 >= 1: records in the batch; offsets advance by count
 *    22   8  timestamp     i64 ms since the epoch
 *    30   2  attributes    u16, opaque to the log (bits 0..2: codec)
 *    32   4  metaLength    u32 <= 65536
 *    36   m  meta          opaque, verbatim
 *  36+m   p  payload       opaque, verbatim; p = length - 30 - m
 *
 * Offset index (.index) entry: relOffset u32 (baseOffset - segment base), position u32 (frame
 * start in .log). Time index (.timeindex) entry: maxTimestamp i64 (largest batch timestamp in
 * the segment up to and including this batch), relOffset u32. Both indexes get an entry for the
 * same batch: the first batch that starts >= indexIntervalBytes after the previous entry (or
 * after position 0, which is implicitly indexed).
 *
 * Invariants:
 *  - Frames in a segment are contiguous: frame[i+1].baseOffset == frame[i].baseOffset + count.
 *  - The first frame's baseOffset equals the file name's base. A later segment's base is >= the
 *    previous segment's end; a larger base is a gap (left by a quarantined segment).
 *  - A segment's byte size stays < 2^31 (segmentBytes is capped), so u32 positions suffice.
 *  - Who touches what: segment-writer.ts appends to and truncates (rollback) the last segment;
 *    recovery.ts truncates a torn tail at open and renames corrupt segments aside; retention
 *    deletes whole sealed segments from the front. Nothing else writes the directory, and one
 *    SegmentLog owns it at a time.
 *  - Indexes are derived data: never fsynced, validated on open and repaired or rebuilt from
 *    the .log when missing, short or inconsistent.
 *  - An append is acknowledged only after fdatasync of every segment it touched; a roll
 *    fdatasyncs the old segment and fsyncs the directory after creating the new one.
 *  - Recovery (recovery.ts): the last segment is cut at its first bad frame (bad magic, length,
 *    crc or offset discontinuity); a sealed segment with a bad frame is renamed aside and its
 *    offsets become a gap that reads skip (they never throw for a gap inside the stored range).
 */

import { crc32c, crc32cCombine } from './crc32c.js';

export const MAGIC = 0x4c;
export const VERSION = 1;
export const FRAME_HEADER_BYTES = 36;
/** Bytes of the frame not counted by the length field (magic, version, length). */
export const LENGTH_PREFIX_BYTES = 6;
export const CRC_START = 10;
export const MAX_META_BYTES = 64 * 1024;
/** Largest segment file we write; keeps positions in u32 with room to spare. */
export const MAX_SEGMENT_BYTES = 2 ** 31 - 1;
export const OFFSET_ENTRY_BYTES = 8;
export const TIME_ENTRY_BYTES = 12;

const TWO_32 = 4294967296;

export interface FrameHeader {
  /** Total frame size on disk, header included. */
  size: number;
  crc: number;
  baseOffset: number;
  count: number;
  timestamp: number;
  attributes: number;
  metaLength: number;
}

export function writeI64(buf: Buffer, value: number, at: number): void {
  const hi = Math.floor(value / TWO_32);
  buf.writeInt32BE(hi, at);
  buf.writeUInt32BE(value - hi * TWO_32, at + 4);
}

export function readI64(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
}

/** Header for a frame whose crc is filled in by the caller (see frameCrc). */
export function encodeHeader(
  baseOffset: number,
  count: number,
  timestamp: number,
  attributes: number,
  metaLength: number,
  payloadLength: number,
): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h[0] = MAGIC;
  h[1] = VERSION;
  h.writeUInt32BE(FRAME_HEADER_BYTES - LENGTH_PREFIX_BYTES + metaLength + payloadLength, 2);
  h.writeUInt32BE(0, 6);
  writeI64(h, baseOffset, 10);
  h.writeUInt32BE(count, 18);
  writeI64(h, timestamp, 22);
  h.writeUInt16BE(attributes, 30);
  h.writeUInt32BE(metaLength, 32);
  return h;
}

/**
 * CRC-32C of a batch's meta and payload: the part of the frame crc known before its offset.
 * With `payloadCrc` (crc32c(payload), already verified by the caller) the payload is not read.
 */
export function bodyCrc(meta: Buffer, payload: Buffer, payloadCrc?: number): number {
  return payloadCrc === undefined ? crc32c(payload, crc32c(meta)) : crc32cCombine(crc32c(meta), payloadCrc, payload.length);
}

/** The frame as the buffers to gather-write: header (crc filled in), meta, payload. */
export function encodeFrame(
  baseOffset: number,
  count: number,
  timestamp: number,
  attributes: number,
  meta: Buffer,
  payload: Buffer,
  body: number = bodyCrc(meta, payload),
): Buffer[] {
  const h = encodeHeader(baseOffset, count, timestamp, attributes, meta.length, payload.length);
  h.writeUInt32BE(crc32c(h.subarray(CRC_START), body), 6);
  return [h, meta, payload];
}

/** True when `frame` (exactly one whole frame) carries a matching crc. */
export function frameCrcOk(frame: Buffer): boolean {
  const body = crc32c(frame.subarray(FRAME_HEADER_BYTES));
  return crc32c(frame.subarray(CRC_START, FRAME_HEADER_BYTES), body) === frame.readUInt32BE(6);
}

export type HeaderProblem = 'magic' | 'length';

/**
 * Decodes the fixed header at `at`. Returns a problem string when the bytes cannot be the start
 * of a frame (the crc is checked separately, once the whole frame is in hand).
 */
export function decodeHeader(buf: Buffer, at: number): FrameHeader | HeaderProblem {
  if (buf[at] !== MAGIC || buf[at + 1] !== VERSION) return 'magic';
  const length = buf.readUInt32BE(at + 2);
  const metaLength = buf.readUInt32BE(at + 32);
  const count = buf.readUInt32BE(at + 18);
  const baseOffset = readI64(buf, at + 10);
  if (
    length < FRAME_HEADER_BYTES - LENGTH_PREFIX_BYTES ||
    metaLength > MAX_META_BYTES ||
    metaLength > length - (FRAME_HEADER_BYTES - LENGTH_PREFIX_BYTES) ||
    count < 1 ||
    !Number.isSafeInteger(baseOffset) ||
    baseOffset < 0
  ) {
    return 'length';
  }
  return {
    size: length + LENGTH_PREFIX_BYTES,
    crc: buf.readUInt32BE(at + 6),
    baseOffset,
    count,
    timestamp: readI64(buf, at + 22),
    attributes: buf.readUInt16BE(at + 30),
    metaLength,
  };
}

export function segmentName(base: number, ext: 'log' | 'index' | 'timeindex'): string {
  return `${String(base).padStart(20, '0')}.${ext}`;
}

const SEGMENT_FILE = /^(\d{20})\.(log|index|timeindex)$/;

export function parseSegmentName(name: string): { base: number; ext: 'log' | 'index' | 'timeindex' } | undefined {
  const m = SEGMENT_FILE.exec(name);
  if (!m) return undefined;
  const base = Number(m[1]);
  if (!Number.isSafeInteger(base)) return undefined;
  return { base, ext: m[2] as 'log' | 'index' | 'timeindex' };
}

export function isQuarantinedName(name: string): boolean {
  return /^\d{20}\.log\.corrupt-\d+$/.test(name);
}
