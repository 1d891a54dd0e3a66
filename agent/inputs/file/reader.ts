/**
 * Cuts what was read from a file into a batch of whole lines, on the buffer as
 * read: one lastIndexOf for the cut, then the lines are counted. When the cut
 * is no longer than max_line_bytes (the default: reads are batch.max_bytes,
 * 1 MiB, and so is max_line_bytes) no line in it can be too long, so only the
 * count is needed: it is counted 16 bytes at a time in the WebAssembly SIMD
 * counter's memory (lib/protocol/newlines.ts), about a fifth of the CPU of one
 * Buffer#indexOf call per line; a full-size read already lies there (the
 * agent's ReadBuffers), a smaller one is copied there first. Otherwise one indexOf
 * pass counts and finds the longest line. No object per line, except for the
 * rare batch that holds an over-long line, which is then framed into parts.
 */
import { FLAG_FRAMED } from '../../../lib/protocol/batches.js';
import { countNewlines, countsInPlace, scanBuffer } from '../../../lib/protocol/newlines.js';
import { encodeFramed, RECORD_NO_NEWLINE, RECORD_PART, type FramedRecord } from '../../../lib/protocol/records.js';

export interface Cut {
  /** payload to ship (plain lines, or framed records) */
  raw: Buffer;
  flags: number;
  lines: number;
  /** bytes of the file this cut consumes */
  consumed: number;
  /** lines split because they were longer than max_line_bytes */
  splitLines: number;
}

/**
 * Cuts shorter than this are counted by the indexOf loop below, not by the WebAssembly counter. V8
 * compiles a WebAssembly function, and the wrapper JavaScript calls it through, with its optimizing
 * compiler once they have run enough (the wrapper after 1,000 calls): that pages in ~2.9 MiB of
 * node's TurboFan code for good. An agent that tails 1,000 quiet files made those calls at start,
 * one per file, and kept the pages (docs/agent-footprint.md). A 64 KiB cut of ~200-byte lines is
 * ~330 indexOf calls, tens of microseconds; a busy file's cuts (batch.max_bytes, 1 MiB) still take
 * the counter.
 */
export const SIMD_MIN_BYTES = 64 * 1024;

/**
 * @param chunk bytes read from the file at the current position
 * @param atEnd the chunk reaches the file's current end (a missing newline may just be a line being written)
 * @param flushPartial emit a trailing line without newline (partial_line_timeout passed, or the file is going away)
 */
export function cutBatch(chunk: Buffer, maxLineBytes: number, atEnd: boolean, flushPartial: boolean): Cut | undefined {
  const lastNl = chunk.lastIndexOf(10);
  let end = lastNl + 1;
  // No newline in a full chunk: the line is longer than the read size; ship it in parts.
  const mustSplitPartial = lastNl < 0 && (!atEnd || chunk.length >= maxLineBytes);
  if (end === 0 && !mustSplitPartial && !flushPartial) return undefined;
  let lines = 0;
  let longest = 0;
  let start = 0;
  if (end - 1 <= maxLineBytes && end >= SIMD_MIN_BYTES) {
    // Every line fits (the longest is at most end - 1 bytes): count only, where the read put the
    // bytes when that is the counter's memory (ReadBuffers' slots), else in a copy there.
    if (countsInPlace(chunk)) {
      lines = countNewlines(chunk, end);
      start = end;
    } else {
      const scan = scanBuffer(end);
      if (scan) {
        chunk.copy(scan, 0, 0, end);
        lines = countNewlines(scan, end);
        start = end;
      }
    }
  }
  while (start < end) {
    const nl = chunk.indexOf(10, start);
    const len = nl - start;
    if (len > longest) longest = len;
    lines++;
    start = nl + 1;
  }
  const tail = chunk.length - end;
  const framedTail = mustSplitPartial || (flushPartial && tail > 0);
  if (longest <= maxLineBytes && !framedTail) {
    if (lines === 0) return undefined;
    return { raw: chunk.subarray(0, end), flags: 0, lines, consumed: end, splitLines: 0 };
  }
  // Slow path: frame every record, splitting over-long lines into flagged parts.
  const recs: FramedRecord[] = [];
  let split = 0;
  start = 0;
  const pushLine = (s: number, e: number, hasNl: boolean, isTailOfLongLine: boolean): void => {
    const len = e - s;
    if (len <= maxLineBytes && !isTailOfLongLine) {
      recs.push({ message: chunk.subarray(s, e), sourceBytes: len + (hasNl ? 1 : 0), flags: hasNl ? 0 : RECORD_NO_NEWLINE });
      return;
    }
    split++;
    for (let p = s; p < e || (p === e && len === 0); p += maxLineBytes) {
      const q = Math.min(e, p + maxLineBytes);
      const last = q === e;
      recs.push({ message: chunk.subarray(p, q), sourceBytes: q - p + (last && hasNl ? 1 : 0), flags: RECORD_PART | (last && !hasNl ? RECORD_NO_NEWLINE : 0) });
      if (len === 0) break;
    }
  };
  while (start < end) {
    const nl = chunk.indexOf(10, start);
    pushLine(start, nl, true, false);
    start = nl + 1;
  }
  let consumed = end;
  if (framedTail) {
    if (mustSplitPartial) {
      // Ship whole max_line_bytes parts of the unterminated line; keep the rest for later.
      const whole = Math.floor(tail / maxLineBytes) * maxLineBytes || tail;
      pushLine(end, end + whole, false, true);
      consumed = end + whole;
    } else {
      pushLine(end, chunk.length, false, false);
      consumed = chunk.length;
    }
  }
  return { raw: encodeFramed(recs), flags: FLAG_FRAMED, lines: recs.length, consumed, splitLines: split };
}

export interface MultilineRule {
  /** matches the first line of a record */
  start: RegExp;
  maxLines: number;
}

/**
 * Multiline records: a line matching `start` begins a record, other lines join
 * the record before them, and a record is closed at max_lines. Only records known
 * to be complete are cut (the next start line proves it); the open last record
 * stays in the file until more lines come, the timeout flushes it (`flush`), or
 * it fills a whole read (a record larger than the read is shipped as it is).
 * Records are framed; each is checked against `start` on at most its first KiB.
 */
export function cutMultiline(chunk: Buffer, rule: MultilineRule, maxLineBytes: number, atEnd: boolean, flush: boolean): Cut | undefined {
  const end = chunk.lastIndexOf(10) + 1;
  if (end === 0) return cutBatch(chunk, maxLineBytes, atEnd, flush);
  const recs: FramedRecord[] = [];
  let split = 0;
  const emit = (s: number, e: number, hasNl: boolean): void => {
    const msgEnd = hasNl ? e - 1 : e;
    const len = msgEnd - s;
    if (len <= maxLineBytes) {
      recs.push({ message: chunk.subarray(s, msgEnd), sourceBytes: e - s, flags: hasNl ? 0 : RECORD_NO_NEWLINE });
      return;
    }
    split++;
    for (let p = s; p < msgEnd; p += maxLineBytes) {
      const q = Math.min(msgEnd, p + maxLineBytes);
      const last = q === msgEnd;
      recs.push({ message: chunk.subarray(p, q), sourceBytes: q - p + (last ? e - msgEnd : 0), flags: RECORD_PART | (last && !hasNl ? RECORD_NO_NEWLINE : 0) });
    }
  };
  let recStart = 0;
  let recLines = 0;
  let consumed = 0;
  let pos = 0;
  while (pos < end) {
    const nl = chunk.indexOf(10, pos);
    if (recLines > 0 && (recLines >= rule.maxLines || rule.start.test(chunk.toString('utf8', pos, Math.min(nl, pos + 1024))))) {
      emit(recStart, pos, true);
      consumed = pos;
      recStart = pos;
      recLines = 0;
    }
    recLines++;
    pos = nl + 1;
  }
  if (recLines > 0 && (flush || (!atEnd && consumed === 0))) {
    emit(recStart, end, true);
    consumed = end;
  }
  if (flush && end < chunk.length) {
    emit(end, chunk.length, false);
    consumed = chunk.length;
  }
  if (consumed === 0) return undefined;
  return { raw: encodeFramed(recs), flags: FLAG_FRAMED, lines: recs.length, consumed, splitLines: split };
}
