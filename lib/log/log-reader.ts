import { CorruptError, IoError, LogshipError, OffsetOutOfRangeError } from '../errors.js';
import { FrameCursor, type CursorStep, type Frame } from './frame-reader.js';
import type { FsSeam } from './io.js';
import type { ReaderCache } from './reader-cache.js';
import type { Segment } from './segment.js';
import type { BatchMeta, StoredBatch } from './types.js';

/** What the read paths need from the log: a consistent view taken at call time. */
export interface ReadView {
  io: FsSeam;
  segments: readonly Segment[];
  firstOffset: number;
  /** Exclusive end of what readers may see (the last durable offset + 1). */
  end: number;
  cache: ReaderCache;
  indexIntervalBytes: number;
}

const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 8 * 1024 * 1024;

/** Index of the segment holding `offset`, or of the next one after a gap; -1 past the end. */
function segmentFor(view: ReadView, offset: number): number {
  const segs = view.segments;
  let lo = 0;
  let hi = segs.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid]!.base <= offset) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  // Past a segment's end is a gap (a quarantined range): skip forward.
  while (found < segs.length && segs[found]!.committedNext <= offset) found++;
  return found < segs.length && segs[found]!.base < view.end ? found : -1;
}

type Next = (body: boolean | ((f: { baseOffset: number; count: number }) => boolean), readAhead?: number) => Promise<Frame | undefined>;

/**
 * Runs `fn` with a cursor positioned at or before the frame holding `target` (computed once the
 * segment's indexes are resident). If the frame found at an indexed position is not a frame
 * start (stale index), the segment is rescanned from byte 0 before declaring corruption.
 */
async function withCursor<T>(
  view: ReadView,
  seg: Segment,
  target: (seg: Segment) => number,
  chunk: number,
  fn: (next: Next) => Promise<T>,
): Promise<T> {
  const gone = () => new OffsetOutOfRangeError(seg.base, view.firstOffset, view.end);
  if (seg.deleted) throw gone();
  let fd: number;
  try {
    fd = await view.cache.acquire(seg);
  } catch (err) {
    if (seg.deleted) throw gone();
    throw new IoError(`cannot open segment ${seg.logPath}`, err);
  }
  try {
    await seg.ensureIndexes();
    const limit = seg.committedSize;
    const t = target(seg);
    let pos = t > seg.base ? seg.offsetIndex!.lookup(t - seg.base) : 0;
    if (pos >= limit) pos = 0;
    let cur = new FrameCursor(view.io, fd, pos, limit, chunk);
    let expected = -1;
    const next: Next = async (body, readAhead) => {
      let step: CursorStep = await cur.next(body, readAhead);
      if (step && 'fault' in step && expected < 0 && step.position !== 0) {
        cur = new FrameCursor(view.io, fd, 0, limit, chunk);
        step = await cur.next(body, readAhead);
      }
      if (!step) return undefined;
      if ('fault' in step) throw corrupt(seg, step.position, step.fault);
      const f = step.frame;
      if (expected >= 0 && f.baseOffset !== expected) throw corrupt(seg, f.position, 'offset');
      expected = f.baseOffset + f.count;
      return f;
    };
    return await fn(next);
  } catch (err) {
    if (err instanceof LogshipError) throw err;
    throw new IoError(`cannot read segment ${seg.logPath}: ${(err as Error).message}`, err);
  } finally {
    seg.release();
  }
}

function corrupt(seg: Segment, position: number, what: string): CorruptError {
  return new CorruptError(`segment ${seg.logPath} is corrupt at byte ${position} (${what}); the batch cannot be read`);
}

export function checkRange(view: ReadView, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < view.firstOffset || offset > view.end) {
    throw new OffsetOutOfRangeError(offset, view.firstOffset, view.end);
  }
}

const atOffset = (offset: number) => () => offset;

/**
 * Batches from `offset` on until their frames add up to `maxBytes` (at least one batch). The
 * payloads are views of the chunks read. Once the first batch is found, a refill reads only
 * what the budget still allows (plus the one frame that crosses it): a read of N bytes allocates
 * about N + one index interval + one frame, not two chunks of N (issue 17).
 */
export async function readBatches(view: ReadView, offset: number, maxBytes: number): Promise<StoredBatch[]> {
  checkRange(view, offset);
  const out: StoredBatch[] = [];
  let bytes = 0;
  let target = offset;
  const chunk = Math.min(Math.max(maxBytes, MIN_CHUNK) + view.indexIntervalBytes, MAX_CHUNK);
  while (target < view.end && (out.length === 0 || bytes < maxBytes)) {
    const i = segmentFor(view, target);
    if (i < 0) break;
    const seg = view.segments[i]!;
    target = Math.max(target, seg.base);
    await withCursor(view, seg, atOffset(target), chunk, async (next) => {
      for (;;) {
        const f = await next((h) => h.baseOffset + h.count > target && h.baseOffset < view.end, out.length === 0 ? undefined : maxBytes - bytes);
        if (!f || f.baseOffset >= view.end) return;
        if (f.baseOffset + f.count <= target) continue;
        const { baseOffset, count, timestamp, attributes, meta, payload, size } = f;
        out.push({ baseOffset, count, timestamp, attributes, meta, payload, size });
        bytes += size;
        if (bytes >= maxBytes) return;
      }
    });
    target = Math.max(target, seg.committedNext);
  }
  return out;
}

export async function offsetForTimestamp(view: ReadView, ts: number): Promise<number> {
  for (const seg of [...view.segments]) {
    if (seg.base >= view.end) break;
    if (seg.committedSize === 0 || seg.maxTimestamp === undefined || seg.maxTimestamp < ts) continue;
    // Start at the last indexed batch whose running max timestamp is < ts: nothing before it matches.
    const startAt = (s: Segment): number => {
      const k = s.timeIndex!.lastBefore(ts);
      return k < 0 ? s.base : s.base + s.timeIndex!.relAt(k);
    };
    const found = await withCursor(view, seg, startAt, MIN_CHUNK, async (next) => {
      for (;;) {
        const f = await next(false);
        if (!f || f.baseOffset >= view.end) return undefined;
        if (f.timestamp >= ts) return f.baseOffset;
      }
    });
    if (found !== undefined) return found;
  }
  return view.end;
}

const SCAN_BATCH = 256;

/**
 * Headers and meta from `fromOffset` (clamped up to firstOffset) to the end as of the call.
 * Reads headers only (FrameCursor reads a few KiB per frame when frames are large) and yields
 * copies of the metas in runs of at most SCAN_BATCH: a meta kept by the consumer holds its own
 * bytes, not the read chunk it came from. Before, each run of 1,024 metas pinned a 64 KiB chunk
 * per large frame, up to ~64 MiB while a scan ran (issue 17).
 */
export async function* scanMeta(view: ReadView, fromOffset: number): AsyncGenerator<BatchMeta> {
  let target = Math.max(fromOffset, view.firstOffset);
  while (target < view.end) {
    const i = segmentFor(view, target);
    if (i < 0) return;
    const seg = view.segments[i]!;
    target = Math.max(target, seg.base);
    // Collect a bounded run, then yield with no descriptor held across the consumer's awaits.
    const metas = await withCursor(view, seg, atOffset(target), MIN_CHUNK, async (next) => {
      const acc: BatchMeta[] = [];
      while (acc.length < SCAN_BATCH) {
        const f = await next(false);
        if (!f || f.baseOffset >= view.end) break;
        if (f.baseOffset + f.count <= target) continue;
        acc.push({ baseOffset: f.baseOffset, count: f.count, timestamp: f.timestamp, attributes: f.attributes, meta: Buffer.from(f.meta) });
      }
      return acc;
    });
    const last = metas.at(-1);
    target = last ? last.baseOffset + last.count : Math.max(target, seg.committedNext);
    yield* metas;
  }
}
