/**
 * Meta stored with every batch in the agent's disk buffer (the segment log's
 * opaque meta; one buffered batch = one log record, so a batch's buffer offset
 * is its producer sequence). It carries the file identity and the end offset:
 * the buffer is the checkpoint (a line is either in here or will be read again).
 * Big-endian:
 *
 *   version  u8 (1)
 *   codec    u8, flags u8
 *   topicLen u8,  topic
 *   srcLen   u16, source (path at read time, or input name)
 *   keyLen   u16, stream key (stable id of the file's content stream; '' for non-file inputs)
 *   start    u64  source offset of the first byte
 *   end      u64  source offset after the last byte (the position to resume from)
 *   lines    u32
 *   rawLen   u32
 *   dev u64, ino u64    identity hint
 *   fpLen u16, fpCrc u32 fingerprint: CRC32C of the file's first fpLen bytes
 *
 * Version 2 (journald batches) is version 1 followed by
 *
 *   curLen   u16, cursor  the journal cursor of the batch's last entry (the position to resume after)
 *
 * A meta without a cursor is always written as version 1, byte for byte what
 * earlier agents wrote; both versions are read. An agent older than version 2
 * refuses a buffer holding version-2 metas (downgrade only after it drained).
 */
import { Reader, writeU64 } from '../../lib/protocol/batches.js';

export interface BufferedMeta {
  codec: number;
  flags: number;
  topic: string;
  source: string;
  key: string;
  start: number;
  end: number;
  lines: number;
  rawLength: number;
  dev: number;
  ino: number;
  fpLen: number;
  fpCrc: number;
  /** journald: cursor of the last entry covered by the batch (version 2); absent for files and metrics */
  cursor?: string;
}

/** Longest cursor kept (journald's are ~130 bytes). */
export const MAX_CURSOR_BYTES = 1024;

export function encodeBufferedMeta(m: BufferedMeta): Buffer {
  const topic = Buffer.from(m.topic);
  const source = Buffer.from(m.source);
  const key = Buffer.from(m.key);
  const cursor = m.cursor ? Buffer.from(m.cursor) : undefined;
  if (cursor && cursor.length > MAX_CURSOR_BYTES) throw new RangeError(`journal cursor of ${cursor.length} bytes exceeds ${MAX_CURSOR_BYTES}`);
  const b = Buffer.allocUnsafe(4 + 2 + 2 + topic.length + source.length + key.length + 8 * 2 + 4 + 4 + 16 + 6 + (cursor ? 2 + cursor.length : 0));
  let p = 0;
  p = b.writeUInt8(cursor ? 2 : 1, p);
  p = b.writeUInt8(m.codec, p);
  p = b.writeUInt8(m.flags, p);
  p = b.writeUInt8(topic.length, p);
  p += topic.copy(b, p);
  p = b.writeUInt16BE(source.length, p);
  p += source.copy(b, p);
  p = b.writeUInt16BE(key.length, p);
  p += key.copy(b, p);
  p = writeU64(b, m.start, p);
  p = writeU64(b, m.end, p);
  p = b.writeUInt32BE(m.lines, p);
  p = b.writeUInt32BE(m.rawLength, p);
  p = writeU64(b, m.dev, p);
  p = writeU64(b, m.ino, p);
  p = b.writeUInt16BE(m.fpLen, p);
  p = b.writeUInt32BE(m.fpCrc >>> 0, p);
  if (cursor) {
    p = b.writeUInt16BE(cursor.length, p);
    cursor.copy(b, p);
  }
  return b;
}

/** Encoded size of a meta (what encodeBufferedMeta returns), without encoding it. */
export function bufferedMetaLength(m: BufferedMeta): number {
  return 4 + 2 + 2 + Buffer.byteLength(m.topic) + Buffer.byteLength(m.source) + Buffer.byteLength(m.key) + 8 * 2 + 4 + 4 + 16 + 6 + (m.cursor ? 2 + Buffer.byteLength(m.cursor) : 0);
}

export function decodeBufferedMeta(buf: Buffer): BufferedMeta {
  const r = new Reader(buf);
  const v = r.u8();
  if (v !== 1 && v !== 2) throw new Error(`unknown buffered batch meta version ${v}`);
  const codec = r.u8();
  const flags = r.u8();
  const topic = r.str(r.u8());
  const source = r.str(r.u16());
  const key = r.str(r.u16());
  const start = r.u64();
  const end = r.u64();
  const lines = r.u32();
  const rawLength = r.u32();
  const dev = r.u64();
  const ino = r.u64();
  const fpLen = r.u16();
  const fpCrc = r.u32();
  if (v === 1) return { codec, flags, topic, source, key, start, end, lines, rawLength, dev, ino, fpLen, fpCrc };
  const cursor = r.str(r.u16());
  return { codec, flags, topic, source, key, start, end, lines, rawLength, dev, ino, fpLen, fpCrc, cursor };
}
