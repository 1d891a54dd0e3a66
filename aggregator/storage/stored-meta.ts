/**
 * Metadata the aggregator stores with every batch in a partition's segment log
 * (the log's opaque `meta` field). Big-endian:
 *
 *   version   u8 (1)
 *   flags     u8        record layout flags from the wire (lib/protocol/records.ts)
 *   codec     u8        0 none, 1 zstd: the payload is stored exactly as received
 *   hostLen   u16, host bytes
 *   srcLen    u16, source bytes
 *   srcOffset u64       byte offset of the first record in its source
 *   prodLen   u16, producer bytes
 *   epoch     u32
 *   seq       u64       producer sequence (dedup state is rebuilt from these)
 *   rawLen    u32       uncompressed payload size
 *
 * Only aggregator/storage writes it; consumers decode it through decodeStoredMeta.
 */
import { Reader, writeU64 } from '../../lib/protocol/batches.js';
import { CorruptError } from '../../lib/errors.js';

export interface StoredMeta {
  flags: number;
  codec: number;
  host: string;
  source: string;
  sourceOffset: number;
  producer: string;
  epoch: number;
  seq: number;
  rawLength: number;
}

export function encodeStoredMeta(m: StoredMeta): Buffer {
  const host = Buffer.from(m.host);
  const source = Buffer.from(m.source);
  const producer = Buffer.from(m.producer);
  const b = Buffer.allocUnsafe(3 + 2 + host.length + 2 + source.length + 8 + 2 + producer.length + 4 + 8 + 4);
  let p = 0;
  p = b.writeUInt8(1, p);
  p = b.writeUInt8(m.flags, p);
  p = b.writeUInt8(m.codec, p);
  p = b.writeUInt16BE(host.length, p);
  p += host.copy(b, p);
  p = b.writeUInt16BE(source.length, p);
  p += source.copy(b, p);
  p = writeU64(b, m.sourceOffset, p);
  p = b.writeUInt16BE(producer.length, p);
  p += producer.copy(b, p);
  p = b.writeUInt32BE(m.epoch >>> 0, p);
  p = writeU64(b, m.seq, p);
  b.writeUInt32BE(m.rawLength, p);
  return b;
}

export function decodeStoredMeta(meta: Buffer): StoredMeta {
  try {
    const r = new Reader(meta);
    const version = r.u8();
    if (version !== 1) throw new CorruptError(`unknown stored batch meta version ${version}`);
    const flags = r.u8();
    const codec = r.u8();
    const host = r.str(r.u16());
    const source = r.str(r.u16());
    const sourceOffset = r.u64();
    const producer = r.str(r.u16());
    const epoch = r.u32();
    const seq = r.u64();
    const rawLength = r.u32();
    return { flags, codec, host, source, sourceOffset, producer, epoch, seq, rawLength };
  } catch (err) {
    if (err instanceof CorruptError) throw err;
    throw new CorruptError(`stored batch meta is malformed: ${(err as Error).message}`);
  }
}
