/**
 * The byte format between an ingest process and the writer process, over a
 * private unix socket (aggregator/ingest/). Only our own processes speak it:
 * every request was decoded and checked (CRC, inflate, line count, auth) by
 * the ingest process before it is framed here; the writer trusts the fields
 * but still bounds what it reads by the frame length.
 *
 * Every frame: u32 length of what follows (little-endian), u8 kind, u32 id
 * (the ingest process's request number; answers carry it back).
 *
 *   kind 1, STORE (ingest -> writer): one POST /v1/batches request
 *     str16 producer | u32 epoch | str16 host | str16 agent status header
 *     (empty: none) | u32 batch count | per batch: str8 topic | str16 source
 *     | f64 seq | f64 sourceOffset | u32 lines | f64 timestamp | u8 codec |
 *     u8 flags | u32 rawLength | u32 payload length | u32 CRC32C of the payload (as the
 *     ingest process verified it: the writer combines its stored frame CRC from it) |
 *     payload bytes
 *   kind 2, ACKS (writer -> ingest): u32 count | per batch, in request order:
 *     u32 partition | f64 offset | u8 duplicate (0/1)
 *   kind 3, ERROR (writer -> ingest): u16 HTTP status | str16 type | str32 reason
 *   kind 4, JUDGE (ingest -> writer): laid out as STORE; sent only for a request whose payload
 *     check failed, so the writer's topic creation policy (403) still comes before that 400;
 *     answered ACKS with no batches (allowed) or ERROR; nothing is stored
 *
 * str8/str16/str32: byte length of that width, then UTF-8. Integers up to
 * 2^53 travel as f64 (exact). A frame is at most MAX_FRAME bytes; a longer
 * length field means the stream is broken and the connection is closed.
 */
import type { WireRequest } from '../../lib/protocol/batches.js';
import { crc32c } from '../../lib/log/crc32c.js';

export const KIND_STORE = 1;
export const KIND_ACKS = 2;
export const KIND_ERROR = 3;
/** A STORE frame's layout, to judge topic creation only (nothing is stored); answered ACKS (none) or ERROR. */
export const KIND_JUDGE = 4;

/** Bounded by limits.max_body_bytes on the ingest side; this only stops a broken stream. */
export const MAX_FRAME = 0x7fff_ffff;

const HEAD = 9;

export interface AckFields {
  partition: number;
  offset: number;
  duplicate: boolean;
}

/** One STORE frame as a list of buffers (payloads are not copied). */
export function encodeStore(id: number, wire: WireRequest, agentStatus: string, kind: typeof KIND_STORE | typeof KIND_JUDGE = KIND_STORE): Buffer[] {
  const producer = Buffer.from(wire.producer, 'utf8');
  const host = Buffer.from(wire.host, 'utf8');
  const status = Buffer.from(agentStatus.slice(0, 16_000), 'utf8');
  let fixed = 2 + producer.length + 4 + 2 + host.length + 2 + status.length + 4;
  const names: Array<[Buffer, Buffer]> = [];
  for (const b of wire.batches) {
    const t = Buffer.from(b.topic, 'utf8');
    const s = Buffer.from(b.source, 'utf8');
    names.push([t, s]);
    fixed += 1 + t.length + 2 + s.length + 8 + 8 + 4 + 8 + 1 + 1 + 4 + 4 + 4;
  }
  const head = Buffer.allocUnsafe(HEAD + fixed - 0);
  let p = writeHead(head, kind, id, 0);
  p = head.writeUInt16LE(producer.length, p);
  p += producer.copy(head, p);
  p = head.writeUInt32LE(wire.epoch, p);
  p = head.writeUInt16LE(host.length, p);
  p += host.copy(head, p);
  p = head.writeUInt16LE(status.length, p);
  p += status.copy(head, p);
  p = head.writeUInt32LE(wire.batches.length, p);
  // Each batch's fixed fields go into the head buffer up to its payload; payloads follow as their own buffers.
  const out: Buffer[] = [];
  let from = 0;
  let total = 0;
  for (let i = 0; i < wire.batches.length; i++) {
    const b = wire.batches[i]!;
    const [t, s] = names[i]!;
    p = head.writeUInt8(t.length, p);
    p += t.copy(head, p);
    p = head.writeUInt16LE(s.length, p);
    p += s.copy(head, p);
    p = head.writeDoubleLE(b.seq, p);
    p = head.writeDoubleLE(b.sourceOffset, p);
    p = head.writeUInt32LE(b.lines, p);
    p = head.writeDoubleLE(b.timestamp, p);
    p = head.writeUInt8(b.codec, p);
    p = head.writeUInt8(b.flags, p);
    p = head.writeUInt32LE(b.rawLength, p);
    p = head.writeUInt32LE(b.payload.length, p);
    p = head.writeUInt32LE(b.crc ?? crc32c(b.payload), p);
    out.push(head.subarray(from, p), b.payload);
    total += p - from + b.payload.length;
    from = p;
  }
  if (wire.batches.length === 0) {
    out.push(head.subarray(0, p));
    total = p;
  }
  head.writeUInt32LE(total - 4, 0);
  return out;
}

export function encodeAcks(id: number, acks: readonly AckFields[]): Buffer {
  const b = Buffer.allocUnsafe(HEAD + 4 + acks.length * 13);
  let p = writeHead(b, KIND_ACKS, id, b.length - 4);
  p = b.writeUInt32LE(acks.length, p);
  for (const a of acks) {
    p = b.writeUInt32LE(a.partition, p);
    p = b.writeDoubleLE(a.offset, p);
    p = b.writeUInt8(a.duplicate ? 1 : 0, p);
  }
  return b;
}

export function encodeError(id: number, status: number, type: string, reason: string): Buffer {
  const t = Buffer.from(type.slice(0, 200), 'utf8');
  const r = Buffer.from(reason.slice(0, 8000), 'utf8');
  const b = Buffer.allocUnsafe(HEAD + 2 + 2 + t.length + 4 + r.length);
  let p = writeHead(b, KIND_ERROR, id, b.length - 4);
  p = b.writeUInt16LE(status, p);
  p = b.writeUInt16LE(t.length, p);
  p += t.copy(b, p);
  p = b.writeUInt32LE(r.length, p);
  r.copy(b, p);
  return b;
}

function writeHead(b: Buffer, kind: number, id: number, length: number): number {
  b.writeUInt32LE(length, 0);
  b.writeUInt8(kind, 4);
  b.writeUInt32LE(id >>> 0, 5);
  return HEAD;
}

/** A frame's fields, read with bounds: a short frame throws RangeError. */
export class FrameCursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u8(): number {
    return this.buf.readUInt8((this.pos += 1) - 1);
  }
  u16(): number {
    return this.buf.readUInt16LE((this.pos += 2) - 2);
  }
  u32(): number {
    return this.buf.readUInt32LE((this.pos += 4) - 4);
  }
  f64(): number {
    return this.buf.readDoubleLE((this.pos += 8) - 8);
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new RangeError(`frame too short: ${n} bytes at ${this.pos} of ${this.buf.length}`);
    return this.buf.subarray(this.pos, (this.pos += n));
  }
  str(n: number): string {
    return this.bytes(n).toString('utf8');
  }
}

/** The body of a STORE frame (after kind and id) as the request and its agent status header. */
export function decodeStore(c: FrameCursor): { wire: WireRequest; agentStatus: string | undefined } {
  const producer = c.str(c.u16());
  const epoch = c.u32();
  const host = c.str(c.u16());
  const status = c.str(c.u16());
  const n = c.u32();
  const batches: WireRequest['batches'] = [];
  for (let i = 0; i < n; i++) {
    const topic = c.str(c.u8());
    const source = c.str(c.u16());
    const seq = c.f64();
    const sourceOffset = c.f64();
    const lines = c.u32();
    const timestamp = c.f64();
    const codec = c.u8();
    const flags = c.u8();
    const rawLength = c.u32();
    const length = c.u32();
    const crc = c.u32();
    const payload = c.bytes(length);
    batches.push({ topic, source, seq, sourceOffset, lines, timestamp, codec, flags, rawLength, payload, crc });
  }
  return { wire: { producer, epoch, host, batches }, agentStatus: status === '' ? undefined : status };
}

export function decodeAcks(c: FrameCursor): AckFields[] {
  const n = c.u32();
  const out: AckFields[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { partition: c.u32(), offset: c.f64(), duplicate: c.u8() === 1 };
  return out;
}

export function decodeError(c: FrameCursor): { status: number; type: string; reason: string } {
  const status = c.u16();
  const type = c.str(c.u16());
  const reason = c.str(c.u32());
  return { status, type, reason };
}

/**
 * Cuts a byte stream into frames. Each complete frame is handed to `onFrame` as (kind, id, cursor
 * after the head); a frame split across chunks is gathered into one buffer of its own size.
 */
export class FrameReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #need = -1;
  /** `maxFrame`: the longest frame accepted (the writer: limits.max_body_bytes plus headroom) */
  constructor(
    private readonly onFrame: (kind: number, id: number, c: FrameCursor) => void,
    private readonly maxFrame = MAX_FRAME,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#need < 0 && this.#pendingBytes >= 4) this.#need = this.#peekLength();
      if (this.#pendingBytes < this.#need || this.#need < 0) return;
      buf = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#need = -1;
    }
    let p = 0;
    while (buf.length - p >= 4) {
      const len = buf.readUInt32LE(p);
      if (len > this.maxFrame || len < 5) throw new RangeError(`broken ingest stream: frame length ${len}`);
      if (buf.length - p - 4 < len) break;
      const frame = buf.subarray(p + 4, p + 4 + len);
      p += 4 + len;
      const c = new FrameCursor(frame);
      const kind = c.u8();
      const id = c.u32();
      this.onFrame(kind, id, c);
    }
    if (p < buf.length) {
      const rest = buf.subarray(p);
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
      this.#need = rest.length >= 4 ? this.#checked(rest.readUInt32LE(0)) + 4 : -1;
    }
  }

  #peekLength(): number {
    const head = Buffer.concat(this.#pending, this.#pendingBytes).subarray(0, 4);
    return this.#checked(head.readUInt32LE(0)) + 4;
  }

  #checked(len: number): number {
    if (len > this.maxFrame || len < 5) throw new RangeError(`broken ingest stream: frame length ${len}`);
    return len;
  }
}

/**
 * Writes frames to a socket, gathered per event-loop turn: the first write of a turn corks the
 * socket and the check phase uncorks it, so every frame of that turn (all the requests read in one
 * poll, all the acks of one group commit) leaves in one writev instead of a syscall each.
 */
export class FrameWriter {
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.sock.uncork();
  };
  constructor(readonly sock: import('node:net').Socket) {}

  write(bufs: Buffer | readonly Buffer[]): void {
    if (this.sock.destroyed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.sock.cork();
      setImmediate(this.#uncork);
    }
    if (Buffer.isBuffer(bufs)) this.sock.write(bufs);
    else for (const b of bufs) this.sock.write(b);
  }
}
