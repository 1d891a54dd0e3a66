import { IoError, LogshipError } from '../errors.js';
import type { Logger } from '../obs/logger.js';
import { bodyCrc, encodeFrame, FRAME_HEADER_BYTES } from './format.js';
import { writeFully, type FsSeam } from './io.js';
import { Segment, type SegmentState } from './segment.js';
import type { AppendInput } from './types.js';

export interface WriterOptions {
  io: FsSeam;
  dir: string;
  segmentBytes: number;
  segmentMs: number;
  indexIntervalBytes: number;
  fsync: boolean;
  logger: Logger;
  clock: () => number;
  /** Called after each commit, once committedNext has moved. */
  onCommit: () => void;
}

interface Pending {
  batches: AppendInput[];
  /** bodyCrc() of each batch, computed by the caller's tick (often during the previous fsync). */
  crcs: number[];
  resolve: (offsets: number[]) => void;
  reject: (err: unknown) => void;
}

/** Where to roll back to: the then-active segment and its bookkeeping. */
interface Mark {
  active: Segment;
  state: SegmentState;
}

/** A failed fdatasync: nothing written since the last good sync can be trusted. */
class SyncFailure extends Error {}

const MAX_REL_OFFSET = 0xffffffff;

/**
 * The only writer of a log directory: appends frames to the last segment, rolls, and
 * group-commits. Appends queue up; a round takes everything queued, writes each append (one
 * gather write of header+meta+payload buffers per segment touched), then one fdatasync covers
 * the whole round, and only then are offsets published (committedNext) and promises resolved.
 * Appends arriving during a round's fsync wait for the next round and share its fsync.
 *
 * Failure policy: a failed write (ENOSPC, EIO) rolls that append back (its bytes truncated
 * away, segments it created deleted) and rejects only it. A failed fdatasync rolls the whole
 * round back and rejects all of it, since nothing since the last good sync can be trusted.
 */
export class SegmentWriter {
  readonly segments: Segment[];
  /** Offset after the last durable (acknowledged) record: what readers may see. */
  committedNext: number;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  /** A truncate that failed during a rollback; retried before anything else is written. */
  #unfinished: { seg: Segment; size: number } | undefined;

  constructor(
    segments: Segment[],
    readonly opts: WriterOptions,
  ) {
    this.segments = segments;
    this.committedNext = this.active.committedNext;
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  append(batches: AppendInput[]): Promise<number[]> {
    const crcs = batches.map((b) => bodyCrc(b.meta, b.payload, b.payloadCrc));
    return new Promise<number[]>((resolve, reject) => {
      this.#queue.push({ batches, crcs, resolve, reject });
      this.#running ??= this.#loop();
    });
  }

  /** Resolves once every queued append has been settled. */
  async drain(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #loop(): Promise<void> {
    try {
      // Let appends issued in the same tick join the first round.
      await Promise.resolve();
      while (this.#queue.length > 0) await this.#round(this.#queue.splice(0));
    } finally {
      // Cleared in the same tick the queue is seen empty, so no append can slip in unserved.
      this.#running = undefined;
    }
  }

  async #round(pendings: Pending[]): Promise<void> {
    try {
      await this.#finishTruncate();
    } catch (err) {
      for (const p of pendings) p.reject(new IoError(`log ${this.opts.dir} cannot be repaired after an earlier write error`, err));
      return;
    }
    const start = this.#mark();
    const done: { p: Pending; offsets: number[] }[] = [];
    // Many concurrent appends (one per request): write them all with one gathered write. Only if
    // that fails are they written one by one, so a failure stays with the append that caused it.
    if (pendings.length > 1) {
      try {
        // Plain loops: flatMap over a round of a few hundred one-batch appends showed in the
        // aggregator's fan-in profile (~1 % of its main thread), these do not.
        const batches: AppendInput[] = [];
        const crcs: number[] = [];
        for (const p of pendings) {
          for (let i = 0; i < p.batches.length; i++) {
            batches.push(p.batches[i]!);
            crcs.push(p.crcs[i]!);
          }
        }
        const offsets = await this.#write(batches, crcs);
        let k = 0;
        for (const p of pendings) {
          done.push({ p, offsets: p.batches.length === 1 ? [offsets[k]!] : offsets.slice(k, k + p.batches.length) });
          k += p.batches.length;
        }
      } catch (err) {
        if (err instanceof SyncFailure) return this.#fail(start, pendings, err.cause);
        await this.#rollback(start);
        if (this.#unfinished) {
          const ioErr = new IoError(`append to ${this.opts.dir} failed: ${(err as Error).message}`, err);
          for (const p of pendings) p.reject(ioErr);
          return;
        }
      }
    }
    const oneByOne = done.length === 0;
    for (let i = 0; oneByOne && i < pendings.length; i++) {
      const p = pendings[i]!;
      const mark = this.#mark();
      try {
        done.push({ p, offsets: await this.#write(p.batches, p.crcs) });
      } catch (err) {
        if (err instanceof SyncFailure) return this.#fail(start, [...done.map((d) => d.p), ...pendings.slice(i)], err.cause);
        await this.#rollback(mark);
        this.opts.logger.warn({ err, dir: this.opts.dir }, 'append failed; its partial write was rolled back');
        const ioErr = new IoError(`append to ${this.opts.dir} failed: ${(err as Error).message}`, err);
        p.reject(ioErr);
        if (this.#unfinished) {
          // The file could not be cut back: write nothing more until it is.
          for (const q of pendings.slice(i + 1)) q.reject(ioErr);
          break;
        }
      }
    }
    if (done.length === 0) return;
    try {
      if (this.opts.fsync) await this.opts.io.fdatasync(this.active.fd);
    } catch (err) {
      return this.#fail(start, done.map((d) => d.p), err);
    }
    const rolled = this.#publish(start.active);
    for (const d of done) d.p.resolve(d.offsets);
    this.opts.onCommit();
    // Index upkeep after the acks: derived data, so it never delays one.
    await this.#tidy(rolled);
  }

  /** Encodes and writes one append's frames, rolling first where a frame would not fit. */
  async #write(batches: AppendInput[], crcs: number[]): Promise<number[]> {
    const { io, indexIntervalBytes } = this.opts;
    const now = this.opts.clock();
    const offsets: number[] = [];
    let bufs: Buffer[] = [];
    let at = this.active.size;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      const size = FRAME_HEADER_BYTES + b.meta.length + b.payload.length;
      if (this.#mustRoll(size, now)) {
        if (bufs.length > 0) await writeFully(io, this.active.fd, bufs, at);
        bufs = [];
        await this.#roll(now);
        at = 0;
      }
      const seg = this.active;
      const base = seg.nextOffset;
      bufs.push(...encodeFrame(base, b.count, b.timestamp, b.attributes, b.meta, b.payload, crcs[i]));
      seg.noteFrame(seg.size, size, base, b.count, b.timestamp, indexIntervalBytes);
      offsets.push(base);
    }
    await writeFully(io, this.active.fd, bufs, at);
    return offsets;
  }

  #mustRoll(frameSize: number, now: number): boolean {
    const seg = this.active;
    if (seg.size === 0) return false;
    return (
      seg.size + frameSize > this.opts.segmentBytes ||
      now - seg.createdAt > this.opts.segmentMs ||
      seg.nextOffset - seg.base > MAX_REL_OFFSET
    );
  }

  async #roll(now: number): Promise<void> {
    const { io, dir, fsync } = this.opts;
    const old = this.active;
    if (fsync) {
      try {
        await io.fdatasync(old.fd);
      } catch (err) {
        throw new SyncFailure('fdatasync failed', { cause: err });
      }
    }
    const seg = new Segment(io, dir, old.nextOffset, now);
    this.segments.push(seg);
    await seg.openForWrite(true);
    if (fsync) await io.fsyncDir(dir);
  }

  #mark(): Mark {
    return { active: this.active, state: this.active.snapshot() };
  }

  /** Undoes everything written since `mark`: newer segments deleted, the file cut back. */
  async #rollback(mark: Mark): Promise<void> {
    while (this.active !== mark.active) {
      const seg = this.segments.pop()!;
      await seg.deleteFiles().catch((err: unknown) => this.opts.logger.error({ err, file: seg.logPath }, 'could not delete a rolled-back segment'));
    }
    const seg = mark.active;
    seg.restore(mark.state);
    this.#unfinished = { seg, size: mark.state.size };
    await this.#finishTruncate().catch((err: unknown) =>
      this.opts.logger.error({ err, file: seg.logPath }, 'could not truncate a failed write; will retry before the next append'),
    );
  }

  async #finishTruncate(): Promise<void> {
    const u = this.#unfinished;
    if (!u) return;
    await this.opts.io.ftruncate(u.seg.fd, u.size);
    this.#unfinished = undefined;
  }

  async #fail(start: Mark, pendings: Pending[], cause: unknown): Promise<void> {
    await this.#rollback(start);
    this.opts.logger.error({ err: cause, dir: this.opts.dir }, 'fdatasync failed; the unacknowledged appends were rolled back');
    for (const p of pendings) p.reject(new IoError(`fdatasync of ${this.opts.dir} failed: ${(cause as Error)?.message}`, cause));
  }

  /** Makes a durable round visible to readers; returns the segments it rolled away from. */
  #publish(from: Segment): Segment[] {
    const i = this.segments.indexOf(from);
    for (let j = i; j < this.segments.length; j++) this.segments[j]!.commit();
    this.committedNext = this.active.nextOffset;
    return this.segments.slice(i, -1);
  }

  async #tidy(rolled: Segment[]): Promise<void> {
    const warn = (file: string) => (err: unknown) => this.opts.logger.warn({ err, file }, 'could not write index; it is rebuilt on the next open');
    for (const seg of rolled) {
      await seg.seal().catch(warn(seg.indexPath));
      // Readers reopen sealed segments through the bounded ReaderCache.
      await seg.closeFd().catch(() => {});
    }
    await this.active.persistIndexes().catch(warn(this.active.indexPath));
  }

  /** Rejects further appends and waits for those queued. */
  async close(): Promise<void> {
    await this.drain();
    await this.#finishTruncate().catch(() => {});
  }

  static closedError(dir: string): LogshipError {
    return new LogshipError('LSH_ERR_CLOSED', `segment log ${dir} is closed`);
  }
}
