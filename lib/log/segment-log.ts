import { IoError } from '../errors.js';
import { silentLogger, type Logger } from '../obs/logger.js';
import { FRAME_HEADER_BYTES, MAX_SEGMENT_BYTES } from './format.js';
import { realFs, type FsSeam } from './io.js';
import { offsetForTimestamp, readBatches, scanMeta, type ReadView } from './log-reader.js';
import { ReaderCache } from './reader-cache.js';
import { recoverSegments } from './recovery.js';
import type { Segment } from './segment.js';
import { SegmentWriter } from './segment-writer.js';
import { checkBatch, checkInt } from './validate.js';
import type { AppendInput, BatchMeta, RecoveryReport, RetentionResult, SegmentLogOptions, StoredBatch } from './types.js';

const DEFAULTS = {
  segmentBytes: 128 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  indexIntervalBytes: 64 * 1024,
  maxOpenSegments: 16,
};

type ResolvedOptions = Required<Omit<SegmentLogOptions, 'io' | 'logger' | 'clock' | 'verifyOnOpen'>>;

interface Waiter {
  offset: number;
  finish: (arrived: boolean) => void;
}

/**
 * An append-only log of opaque batches in segment files (format.ts): the agent's disk buffer
 * and every aggregator partition. One instance owns its directory. Offsets count records: a
 * batch of `count` records takes offsets [baseOffset, baseOffset + count).
 *
 * Visibility: readers see only acknowledged (fsynced) batches; nextOffset moves when an append
 * resolves. A range lost to a quarantined segment is a gap: read() and scanMeta() skip forward
 * to the next stored batch, so the first batch returned may start after the offset asked for.
 */
export class SegmentLog {
  readonly recovery: RecoveryReport;
  #io: FsSeam;
  #dir: string;
  #opts: ResolvedOptions;
  #logger: Logger;
  #clock: () => number;
  #writer: SegmentWriter;
  #cache: ReaderCache;
  #waiters = new Set<Waiter>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(opts: ResolvedOptions, io: FsSeam, logger: Logger, clock: () => number, segments: Segment[], report: RecoveryReport) {
    this.#opts = opts;
    this.#io = io;
    this.#dir = opts.dir;
    this.#logger = logger;
    this.#clock = clock;
    this.recovery = report;
    this.#cache = new ReaderCache(opts.maxOpenSegments);
    this.#writer = new SegmentWriter(segments, {
      io,
      dir: opts.dir,
      segmentBytes: opts.segmentBytes,
      segmentMs: opts.segmentMs,
      indexIntervalBytes: opts.indexIntervalBytes,
      fsync: opts.fsync,
      logger,
      clock,
      onCommit: () => this.#wake(),
    });
  }

  /** Opens (creating if needed) and recovers the log in `opts.dir`. Bad data never stops it. */
  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const opts: ResolvedOptions = {
      dir: options.dir,
      segmentBytes: options.segmentBytes ?? DEFAULTS.segmentBytes,
      segmentMs: options.segmentMs ?? DEFAULTS.segmentMs,
      indexIntervalBytes: options.indexIntervalBytes ?? DEFAULTS.indexIntervalBytes,
      fsync: options.fsync ?? true,
      maxOpenSegments: options.maxOpenSegments ?? DEFAULTS.maxOpenSegments,
    };
    checkInt('segmentBytes', opts.segmentBytes, FRAME_HEADER_BYTES, MAX_SEGMENT_BYTES);
    checkInt('segmentMs', opts.segmentMs, 1, Number.MAX_SAFE_INTEGER);
    checkInt('indexIntervalBytes', opts.indexIntervalBytes, 0, MAX_SEGMENT_BYTES);
    checkInt('maxOpenSegments', opts.maxOpenSegments, 1, 65536);
    const io = options.io ?? realFs;
    const logger = (options.logger ?? silentLogger()).child({ log: opts.dir });
    const clock = options.clock ?? Date.now;
    const started = Date.now();
    const verify = options.verifyOnOpen ?? 'tail';
    let recovered: Awaited<ReturnType<typeof recoverSegments>>;
    try {
      recovered = await recoverSegments({ io, dir: opts.dir, indexIntervalBytes: opts.indexIntervalBytes, verify, logger, now: clock() });
    } catch (err) {
      // Bad data never gets here (recovery cuts or quarantines it); this is the disk or permissions.
      throw new IoError(`cannot open segment log ${opts.dir}: ${(err as Error).message}`, err);
    }
    const { segments, report } = recovered;
    const log = new SegmentLog(opts, io, logger, clock, segments, report);
    logger.info(
      { ...report, firstOffset: log.firstOffset, nextOffset: log.nextOffset, bytes: log.sizeBytes, ms: Date.now() - started },
      'segment log opened',
    );
    return log;
  }

  get firstOffset(): number {
    return Math.min(this.#writer.segments[0]!.base, this.nextOffset);
  }

  get nextOffset(): number {
    return this.#writer.committedNext;
  }

  get sizeBytes(): number {
    let n = 0;
    for (const s of this.#writer.segments) n += s.size;
    return n;
  }

  /** Timestamp of the first stored batch; undefined when the log is empty. */
  get oldestTimestamp(): number | undefined {
    const first = this.#writer.segments[0]!;
    return first.committedNext > first.base ? first.firstTimestamp : undefined;
  }

  /**
   * The offset just past the oldest segment when a truncateBefore() could delete it (sealed, not
   * the only one): truncateBefore(oldestSegmentEnd) deletes exactly that segment. Else undefined.
   */
  get oldestSegmentEnd(): number | undefined {
    const segs = this.#writer.segments;
    return segs.length > 1 && !segs[0]!.writable ? segs[0]!.nextOffset : undefined;
  }

  /** Segments currently on disk (the active one included). */
  get segmentCount(): number {
    return this.#writer.segments.length;
  }

  get dir(): string {
    return this.#dir;
  }

  /** Not async: the writer's own promise is handed back, without an async function's wrapper around it (per stored batch). */
  append(batches: AppendInput[]): Promise<number[]> {
    try {
      if (this.#closed) throw SegmentWriter.closedError(this.#dir);
      if (!Array.isArray(batches)) throw new TypeError('append() takes an array of batches');
      if (batches.length === 0) return Promise.resolve([]);
      for (const b of batches) checkBatch(b);
      return this.#writer.append(batches);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async read(offset: number, maxBytes: number): Promise<StoredBatch[]> {
    return readBatches(this.#view(), offset, maxBytes);
  }

  async offsetForTimestamp(ts: number): Promise<number> {
    return offsetForTimestamp(this.#view(), ts);
  }

  scanMeta(fromOffset: number): AsyncIterable<BatchMeta> {
    return scanMeta(this.#view(), fromOffset);
  }

  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.nextOffset > offset) return Promise.resolve(true);
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const onAbort = (): void => w.finish(false);
      const timer = setTimeout(() => w.finish(false), Math.min(Math.max(0, timeoutMs), 2 ** 31 - 1));
      const w: Waiter = {
        offset,
        finish: (arrived) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.#waiters.delete(w);
          resolve(arrived);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(w);
    });
  }

  async truncateBefore(offset: number): Promise<number> {
    let bytes = 0;
    await this.#deleteFront((seg) => seg.nextOffset <= offset, (seg) => (bytes += seg.size));
    return bytes;
  }

  async applyRetention(opts: { maxAgeMs?: number; maxBytes?: number }): Promise<RetentionResult> {
    const cutoff = opts.maxAgeMs === undefined ? undefined : this.#clock() - opts.maxAgeMs;
    let total = this.sizeBytes;
    const result: RetentionResult = { segmentsDeleted: 0, bytesDeleted: 0 };
    await this.#deleteFront(
      (seg) =>
        (cutoff !== undefined && seg.maxTimestamp !== undefined && seg.maxTimestamp < cutoff) ||
        (opts.maxBytes !== undefined && total > opts.maxBytes),
      (seg) => {
        total -= seg.size;
        result.segmentsDeleted++;
        result.bytesDeleted += seg.size;
      },
    );
    return result;
  }

  /** Idempotent: waits for queued appends, then closes every descriptor. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await this.#writer.close();
    for (const w of [...this.#waiters]) w.finish(false);
    const results = await Promise.allSettled(this.#writer.segments.map((s) => s.closeAll()));
    for (const r of results) if (r.status === 'rejected') this.#logger.warn({ err: r.reason }, 'error closing a segment');
  }

  /** Deletes sealed segments from the front while `pick` says so; never the active one. */
  async #deleteFront(pick: (seg: Segment) => boolean, onDelete: (seg: Segment) => void): Promise<void> {
    const segs = this.#writer.segments;
    const doomed: Segment[] = [];
    while (segs.length > 1 && !segs[0]!.writable && pick(segs[0]!)) {
      const seg = segs.shift()!;
      onDelete(seg);
      doomed.push(seg);
    }
    for (const seg of doomed) {
      this.#cache.forget(seg);
      await seg.deleteFiles().catch((err: unknown) => this.#logger.error({ err, file: seg.logPath }, 'could not delete a segment; delete it by hand'));
    }
    if (doomed.length > 0) this.#logger.debug({ segments: doomed.length, firstOffset: this.firstOffset }, 'deleted old segments');
  }

  #view(): ReadView {
    if (this.#closed) throw SegmentWriter.closedError(this.#dir);
    return {
      io: this.#io,
      segments: this.#writer.segments,
      firstOffset: this.firstOffset,
      end: this.nextOffset,
      cache: this.#cache,
      indexIntervalBytes: this.#opts.indexIntervalBytes,
    };
  }

  #wake(): void {
    const next = this.nextOffset;
    for (const w of [...this.#waiters]) if (next > w.offset) w.finish(true);
  }
}
