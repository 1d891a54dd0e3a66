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
 * Never inflates more than rawLength + 1 bytes (zstd is given a buffer of that
 * size, whatever the frame header claims) and never more than the caller's
 * maxRaw. One native call per payload: measured faster than streaming. Plain
 * zstd batches inflate into the SIMD line counter's memory (newlines.ts) and
 * are counted there, 16 bytes at a time.
 * Everything here is synchronous and CPU-bound: callers run it on a worker
 * (payload-pool.ts), never on the event loop for untrusted sizes.
 */
import binding from 'zstd-napi/binding.js';
import { FLAG_JSON } from './json-records.js';
import { CODEC_NONE, CODEC_ZSTD, FLAG_FRAMED, FLAG_METRICS } from './codes.js';
import { countNewlines, scanBuffer } from './newlines.js';

export { countNewlines } from './newlines.js';

export const KNOWN_FLAGS = FLAG_FRAMED | FLAG_METRICS | FLAG_JSON;
/** 8 MiB windows if a streaming call is ever made; one-shot calls use the output buffer as the window. */
const WINDOW_LOG_MAX = 23;
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
  // zstd, plain lines: inflate into a reused buffer (one native call: faster than streaming), then count there.
  const work = workBuffer(h.rawLength + 1);
  const r = inflateInto(payload, work, h.rawLength);
  if (typeof r === 'string') return r;
  return linesProblem(countNewlines(work, h.rawLength), h.rawLength ? work[h.rawLength - 1] : undefined, h.lines);
}

/** Kept between calls up to this size; bigger (rare, hostile or huge batches) are allocated per call. */
const KEEP_WORK = 8 << 20;
let work: Buffer | undefined;
function workBuffer(size: number): Buffer {
  if (size > KEEP_WORK) return Buffer.allocUnsafe(size);
  const simd = scanBuffer(Math.max(size, 1 << 20));
  if (simd) return simd;
  if (!work || work.length < size) work = Buffer.allocUnsafe(Math.max(size, 1 << 20));
  return work;
}

/**
 * One-shot inflation into `dst` (at least rawLength + 1 bytes, so an overrun
 * shows as one byte more, or as zstd's "destination buffer is too small"):
 * zstd never writes past dst, whatever the frame header claims.
 */
function inflateInto(payload: Buffer, dst: Buffer, rawLength: number): undefined | string {
  let n: number;
  try {
    n = context().decompress(dst.subarray(0, rawLength + 1), payload);
  } catch (err) {
    const msg = (err as Error).message;
    if (/too small/i.test(msg)) return `payload inflates beyond its declared raw length of ${rawLength} bytes`;
    return `not a valid zstd payload: ${msg}`;
  }
  if (n > rawLength) return `payload inflates beyond its declared raw length of ${rawLength} bytes`;
  if (n !== rawLength) return `payload inflates to ${n} bytes, header says ${rawLength}`;
  return undefined;
}

/** The payload's raw bytes after checking them against the header (readers), or the reason it is unusable. */
export function inflateChecked(payload: Buffer, h: PayloadHeader, maxRaw: number): Buffer | string {
  const hp = headerProblem(h, maxRaw);
  if (hp) return hp;
  if (h.codec === CODEC_ZSTD && !(h.flags & FLAG_FRAMED) && h.rawLength < KEEP_WORK) {
    // Inflate and count lines in the SIMD counter's memory, then copy out the bytes the caller
    // keeps: cheaper than counting a fresh buffer one indexOf call per line.
    const simd = scanBuffer(Math.max(h.rawLength + 1, 1 << 20));
    if (simd) {
      const r = inflateInto(payload, simd, h.rawLength);
      if (r) return r;
      const problem = linesProblem(countNewlines(simd, h.rawLength), simd[h.rawLength - 1], h.lines);
      if (problem) return problem;
      const out = Buffer.allocUnsafe(h.rawLength);
      simd.copy(out, 0, 0, h.rawLength);
      return out;
    }
  }
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
  const out = Buffer.allocUnsafe(h.rawLength + 1);
  const r = inflateInto(payload, out, h.rawLength);
  return r ?? out.subarray(0, h.rawLength);
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
