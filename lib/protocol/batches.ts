/**
 * The agent -> aggregator wire format of POST /v1/batches
 * (Content-Type: application/vnd.logship.batches.v1).
 *
 * All integers big-endian. A request body:
 *
 *   magic       4 bytes  "LSB1"
 *   producerLen u16      producer id, UTF-8: "<agent id>/<incarnation>", stable for a data dir
 *   producer    bytes
 *   epoch       u32      raised at every agent start; a lower epoch than the stored one is fenced (409)
 *   hostLen     u16      the agent's id, copied into every record as `host`
 *   host        bytes
 *   count       u32      number of batches that follow
 *   batch * count:
 *     topicLen  u8,  topic  bytes
 *     sourceLen u16, source bytes (file path or input name)
 *     seq       u64      producer sequence: the batch's offset in the agent's buffer, strictly increasing
 *     srcOffset u64      byte offset in the source of the batch's first line
 *     lines     u32      number of records in the payload
 *     timestamp u64      ms since epoch when the lines were read
 *     codec     u8       0 = none, 1 = zstd
 *     flags     u8       bit 0: framed records (multiline/split, see records.ts), else '\n'-terminated lines;
 *                        bit 1: host-metric samples (JSON), not log lines
 *     rawLen    u32      payload size after decompression (bounded by the aggregator's limits)
 *     crc       u32      CRC32C of the payload as sent
 *     payLen    u32, payload bytes
 *
 * Invariants: the payload holds whole records only; its uncompressed form is exactly rawLen bytes.
 * Owned by lib/protocol; the agent encodes, the aggregator decodes, nobody else parses it.
 */
import { crc32c } from '../log/crc32c.js';
import { LogshipError } from '../errors.js';
import { headerProblem, timestampProblem } from './payload.js';

export const BATCHES_CONTENT_TYPE = 'application/vnd.logship.batches.v1';
/** The Upgrade token of the batch stream (aggregator/server/batch-stream.ts, agent/forward/stream-post.ts). */
export const BATCH_STREAM_PROTOCOL = 'logship-batches/1';
const MAGIC = 0x4c534231; // "LSB1"

export { CODEC_NONE, CODEC_ZSTD, FLAG_FRAMED, FLAG_METRICS } from './codes.js';

export interface WireBatch {
  topic: string;
  source: string;
  seq: number;
  sourceOffset: number;
  lines: number;
  timestamp: number;
  codec: number;
  flags: number;
  rawLength: number;
  payload: Buffer;
  /**
   * CRC-32C of the payload as sent: set by decodeRequest once verified. encodeRequest sends it when
   * given (the caller vouches that it is crc32c(payload), e.g. computed once for its own store) and
   * computes it otherwise.
   */
  crc?: number;
}

export interface WireRequest {
  producer: string;
  epoch: number;
  host: string;
  batches: WireBatch[];
}

const BATCH_FIXED = 1 + 2 + 8 + 8 + 4 + 8 + 1 + 1 + 4 + 4 + 4;

export function encodedSize(b: { topic: string; source: string; payload: Buffer }): number {
  return BATCH_FIXED + Buffer.byteLength(b.topic) + Buffer.byteLength(b.source) + b.payload.length;
}

/** Encodes into a list of buffers (header pieces + payload views), ready for a gathered write. */
export function encodeRequest(req: WireRequest): Buffer[] {
  const producer = Buffer.from(req.producer);
  const host = Buffer.from(req.host);
  const head = Buffer.allocUnsafe(4 + 2 + producer.length + 4 + 2 + host.length + 4);
  let p = 0;
  p = head.writeUInt32BE(MAGIC, p);
  p = head.writeUInt16BE(producer.length, p);
  p += producer.copy(head, p);
  p = head.writeUInt32BE(req.epoch >>> 0, p);
  p = head.writeUInt16BE(host.length, p);
  p += host.copy(head, p);
  head.writeUInt32BE(req.batches.length, p);
  const out: Buffer[] = [head];
  for (const b of req.batches) {
    const topic = Buffer.from(b.topic);
    const source = Buffer.from(b.source);
    if (topic.length > 255) throw new LogshipError('LSH_ERR_BAD_BATCH', `topic name too long: ${b.topic}`);
    const h = Buffer.allocUnsafe(BATCH_FIXED + topic.length + source.length);
    let q = 0;
    q = h.writeUInt8(topic.length, q);
    q += topic.copy(h, q);
    q = h.writeUInt16BE(source.length, q);
    q += source.copy(h, q);
    q = writeU64(h, b.seq, q);
    q = writeU64(h, b.sourceOffset, q);
    q = h.writeUInt32BE(b.lines, q);
    q = writeU64(h, b.timestamp, q);
    q = h.writeUInt8(b.codec, q);
    q = h.writeUInt8(b.flags, q);
    q = h.writeUInt32BE(b.rawLength, q);
    q = h.writeUInt32BE(b.crc ?? crc32c(b.payload), q);
    h.writeUInt32BE(b.payload.length, q);
    out.push(h, b.payload);
  }
  return out;
}

export interface DecodeLimits {
  maxBatchRawBytes: number;
  /** sum of every batch's declared raw length in one request */
  maxRequestRawBytes?: number;
}

/**
 * Decodes a request body and checks every header field that needs no
 * inflating (codec, flags, record count, sizes, timestamp, CRC); throws
 * LSH_ERR_BAD_BATCH naming the batch and byte position (LSH_ERR_TOO_LARGE for
 * limits). Payloads are checked against their headers by payload.ts.
 */
export function decodeRequest(body: Buffer, limits: DecodeLimits): WireRequest {
  const r = new Reader(body);
  if (body.length < 4 || r.u32() !== MAGIC) throw bad('body does not start with the LSB1 magic', 0);
  const producer = r.str(r.u16());
  const epoch = r.u32();
  const host = r.str(r.u16());
  const count = r.u32();
  if (producer.length === 0) throw bad('empty producer id', r.pos);
  const batches: WireBatch[] = [];
  let rawTotal = 0;
  // Every batch needs at least BATCH_FIXED bytes: a count beyond that is a lie, not a reason to loop.
  if (count > (body.length - r.pos) / BATCH_FIXED) throw bad(`count says ${count} batches, the body holds at most ${Math.floor((body.length - r.pos) / BATCH_FIXED)}`, r.pos - 4);
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const topic = r.str(r.u8());
    const source = r.str(r.u16());
    const seq = r.u64();
    const sourceOffset = r.u64();
    const lines = r.u32();
    const timestamp = r.u64();
    const codec = r.u8();
    const flags = r.u8();
    const rawLength = r.u32();
    const crc = r.u32();
    const payload = r.bytes(r.u32());
    const where = `batch ${i} (byte ${at})`;
    if (rawLength > limits.maxBatchRawBytes)
      throw new LogshipError('LSH_ERR_TOO_LARGE', `${where}: ${rawLength} bytes uncompressed exceeds the limit of ${limits.maxBatchRawBytes}`);
    rawTotal += rawLength;
    if (limits.maxRequestRawBytes !== undefined && rawTotal > limits.maxRequestRawBytes)
      throw new LogshipError('LSH_ERR_TOO_LARGE', `${where}: the request's batches inflate to more than the limit of ${limits.maxRequestRawBytes} bytes; send fewer batches per request`);
    const problem = headerProblem({ codec, flags, rawLength, lines }, limits.maxBatchRawBytes) ?? timestampProblem(timestamp);
    if (problem) throw bad(`${where}: ${problem}`, at);
    if (crc32c(payload) !== crc) throw bad(`${where}: payload CRC32C mismatch`, at);
    batches.push({ topic, source, seq, sourceOffset, lines, timestamp, codec, flags, rawLength, payload, crc });
  }
  if (r.pos !== body.length) throw bad(`${body.length - r.pos} trailing bytes after ${count} batches`, r.pos);
  return { producer, epoch, host, batches };
}

function bad(msg: string, pos: number): LogshipError {
  return new LogshipError('LSH_ERR_BAD_BATCH', `malformed batch request at byte ${pos}: ${msg}`);
}

export function writeU64(b: Buffer, v: number, p: number): number {
  b.writeUInt32BE(Math.floor(v / 0x1_0000_0000), p);
  b.writeUInt32BE(v >>> 0, p + 4);
  return p + 8;
}

export function readU64(b: Buffer, p: number): number {
  return b.readUInt32BE(p) * 0x1_0000_0000 + b.readUInt32BE(p + 4);
}

/** Bounds-checked cursor over a buffer; every overrun is a LSH_ERR_BAD_BATCH. */
export class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  #need(n: number): void {
    if (this.pos + n > this.buf.length) throw bad(`truncated: needed ${n} bytes, ${this.buf.length - this.pos} left`, this.pos);
  }
  u8(): number {
    this.#need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    this.#need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.#need(8);
    const v = readU64(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.#need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  str(n: number): string {
    return this.bytes(n).toString('utf8');
  }
}
