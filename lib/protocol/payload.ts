/**
 * Bounded checks of a batch payload against its header (codec, flags,
 * rawLength, lines), for ingest (before anything is stored) and for readers
 * (stored bytes are untrusted too: older versions, disk corruption).
 *
 * Invariants checked, agreeing with how iterateRecords (records.ts) splits:
 *  - codec is 0 (none: the payload is exactly rawLength bytes) or 1 (zstd:
 *    complete frames that inflate to exactly rawLength bytes); only known flag bits;
 *  - plain layout: the raw bytes end with '\n' and hold exactly `lines` '\n's;
 *  - framed layout: headers chain exactly to the end, `lines` records.
 * Never inflates more than rawLength (+ one output chunk while streaming) and
 * never more than the caller's maxRaw; zstd windows are capped at 2^WINDOW_LOG_MAX.
 * Everything here is synchronous and CPU-bound: callers run it on a worker
 * (payload-pool.ts), never on the event loop for untrusted sizes.
 */
import binding from 'zstd-napi/binding.js';
import { CODEC_NONE, CODEC_ZSTD, FLAG_FRAMED } from './batches.js';

/** FLAG_FRAMED | FLAG_METRICS, spelled out: batches.ts imports this module, so its constants are not set yet at load. */
export const KNOWN_FLAGS = 0b11;
/** 8 MiB windows: the agent compresses at level 1 (512 KiB windows); bigger ones only cost memory. */
const WINDOW_LOG_MAX = 23;
const CHUNK = 128 * 1024;
/** Timestamps a batch may carry: 1970-01-01 .. 9999-12-31, what ISO 8601 output can show. */
export const MAX_TIMESTAMP = 253_402_300_799_999;

export interface PayloadHeader {
  codec: number;
  flags: number;
  rawLength: number;
  /** records the payload must hold */
  lines: number;
}

let dctx: InstanceType<typeof binding.DCtx> | undefined;
let chunk: Buffer | undefined;
const scratch = Buffer.allocUnsafe(1);

function context(): InstanceType<typeof binding.DCtx> {
  if (!dctx) {
    dctx = new binding.DCtx();
    dctx.setParameter(binding.DParameter.windowLogMax, WINDOW_LOG_MAX);
  }
  // An earlier payload may have stopped mid-frame (error or cap): start clean.
  dctx.reset(binding.ResetDirective.sessionOnly);
  return dctx;
}

/** Header fields that can be judged without touching the payload; undefined when fine. */
export function headerProblem(h: PayloadHeader, maxRaw: number): string | undefined {
  if (h.codec !== CODEC_NONE && h.codec !== CODEC_ZSTD) return `unknown codec ${h.codec}`;
  if ((h.flags & ~KNOWN_FLAGS) !== 0) return `unknown flag bits 0x${(h.flags & ~KNOWN_FLAGS).toString(16)}`;
  if (!Number.isSafeInteger(h.lines) || h.lines <= 0) return `record count ${h.lines} must be at least 1`;
  if (h.rawLength > maxRaw) return `declared raw length ${h.rawLength} exceeds the limit of ${maxRaw} bytes`;
  if (h.lines > h.rawLength) return `record count ${h.lines} is more than the raw length ${h.rawLength} allows`;
  return undefined;
}

export function timestampProblem(ts: number): string | undefined {
  return Number.isSafeInteger(ts) && ts >= 0 && ts <= MAX_TIMESTAMP ? undefined : `timestamp ${ts} is outside 1970-01-01..9999-12-31`;
}

/**
 * Checks a payload completely without keeping its inflated bytes (ingest).
 * Returns undefined when the payload agrees with its header, else the reason.
 */
export function payloadProblem(payload: Buffer, h: PayloadHeader, maxRaw: number): string | undefined {
  const hp = headerProblem(h, maxRaw);
  if (hp) return hp;
  if (h.flags & FLAG_FRAMED) {
    const r = inflate(payload, h, maxRaw);
    return typeof r === 'string' ? r : framedProblem(r, h.lines);
  }
  if (h.codec === CODEC_NONE) {
    if (payload.length !== h.rawLength) return `payload is ${payload.length} bytes, header says ${h.rawLength}`;
    return linesProblem(countNewlines(payload, payload.length), payload.length ? payload[payload.length - 1] : undefined, h.lines);
  }
  // zstd, plain lines: stream through one reused chunk, counting, never keeping more.
  let newlines = 0;
  let last: number | undefined;
  const r = streamZstd(payload, h.rawLength, (buf, n) => {
    newlines += countNewlines(buf, n);
    last = buf[n - 1];
  });
  return r ?? linesProblem(newlines, last, h.lines);
}

/** The payload's raw bytes after checking them against the header (readers), or the reason it is unusable. */
export function inflateChecked(payload: Buffer, h: PayloadHeader, maxRaw: number): Buffer | string {
  const hp = headerProblem(h, maxRaw);
  if (hp) return hp;
  const raw = inflate(payload, h, maxRaw);
  if (typeof raw === 'string') return raw;
  const problem = h.flags & FLAG_FRAMED ? framedProblem(raw, h.lines) : linesProblem(countNewlines(raw, raw.length), raw.length ? raw[raw.length - 1] : undefined, h.lines);
  return problem ?? raw;
}

/** Inflates into exactly rawLength bytes; refuses anything that is not exactly that. */
function inflate(payload: Buffer, h: PayloadHeader, maxRaw: number): Buffer | string {
  if (h.rawLength > maxRaw) return `declared raw length ${h.rawLength} exceeds the limit of ${maxRaw} bytes`;
  if (h.codec === CODEC_NONE) {
    return payload.length === h.rawLength ? payload : `payload is ${payload.length} bytes, header says ${h.rawLength}`;
  }
  const out = Buffer.allocUnsafe(h.rawLength);
  let pos = 0;
  const r = streamZstd(payload, h.rawLength, (buf, n) => {
    buf.copy(out, pos, 0, n);
    pos += n;
  });
  return r ?? out;
}

/**
 * Streams a zstd payload through a reused chunk, handing each piece to `sink`.
 * Stops as soon as more than `rawLength` bytes come out. Requires complete
 * frames and every input byte consumed.
 */
function streamZstd(payload: Buffer, rawLength: number, sink: (buf: Buffer, n: number) => void): string | undefined {
  const d = context();
  chunk ??= Buffer.allocUnsafe(CHUNK);
  let src = payload;
  let total = 0;
  let ret = 1;
  try {
    for (;;) {
      // Never ask for more than one byte beyond the declared size: that byte proves an overrun.
      const room = Math.min(CHUNK, rawLength - total + 1);
      const dst = room === 1 && total === rawLength ? scratch : chunk;
      const [rv, produced, consumed] = d.decompressStream(dst.subarray(0, room), src);
      ret = rv;
      src = src.subarray(consumed);
      if (produced > 0) {
        if (total + produced > rawLength) return `payload inflates beyond its declared raw length of ${rawLength} bytes`;
        sink(dst, produced);
        total += produced;
      }
      if (ret === 0 && src.length === 0) break;
      if (produced === 0 && consumed === 0) return `zstd payload is truncated after ${total} of ${rawLength} bytes`;
    }
  } catch (err) {
    return `not a valid zstd payload: ${(err as Error).message}`;
  }
  if (total !== rawLength) return `payload inflates to ${total} bytes, header says ${rawLength}`;
  return undefined;
}

function linesProblem(newlines: number, last: number | undefined, lines: number): string | undefined {
  if (last !== undefined && last !== 10) return 'payload does not end with a newline (a batch holds whole lines)';
  if (newlines !== lines) return `payload holds ${newlines} lines, header says ${lines}`;
  return undefined;
}

/** Walks framed record headers: they must chain exactly to the end and number `lines`. */
export function framedProblem(raw: Buffer, lines: number): string | undefined {
  let p = 0;
  let n = 0;
  while (p < raw.length) {
    if (p + 9 > raw.length) return `framed record ${n} header is cut at byte ${p}`;
    const len = raw.readUInt32BE(p);
    if (p + 9 + len > raw.length) return `framed record ${n} at byte ${p} claims ${len} bytes, only ${raw.length - p - 9} follow`;
    p += 9 + len;
    n++;
  }
  return n === lines ? undefined : `payload holds ${n} framed records, header says ${lines}`;
}

/** '\n' bytes in buf[0, n): one native search per line (memchr), no per-byte JS. */
export function countNewlines(buf: Buffer, n: number): number {
  const b = n === buf.length ? buf : buf.subarray(0, n);
  let c = 0;
  for (let p = b.indexOf(10); p >= 0; p = b.indexOf(10, p + 1)) c++;
  return c;
}
