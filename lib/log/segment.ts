import * as path from 'node:path';
import { segmentName } from './format.js';
import type { FsSeam } from './io.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';

/** The mutable bookkeeping of a segment, captured before an append so it can be rolled back. */
export interface SegmentState {
  size: number;
  nextOffset: number;
  firstTimestamp: number | undefined;
  maxTimestamp: number | undefined;
  offsetEntries: number;
  timeEntries: number;
}

/**
 * One segment: a .log file of frames plus its two sparse indexes (format.ts). `size` and
 * `nextOffset` cover everything written; `committedSize`/`committedNext` cover what an fsync
 * made durable and readers may see. Descriptors: the active segment holds its three open; a
 * sealed segment opens its .log on demand (ReaderCache decides when to close it) and loads its
 * indexes lazily. `refs` counts reads in flight, so a descriptor is never closed under a read.
 */
export class Segment {
  size = 0;
  nextOffset: number;
  committedSize = 0;
  committedNext: number;
  firstTimestamp: number | undefined;
  maxTimestamp: number | undefined;
  offsetIndex: OffsetIndex | undefined;
  timeIndex: TimeIndex | undefined;
  refs = 0;
  deleted = false;
  #fd: number | undefined;
  #opening: Promise<number> | undefined;
  #indexFds: [number, number] | undefined;
  #closeWhenIdle = false;

  constructor(
    readonly io: FsSeam,
    readonly dir: string,
    readonly base: number,
    /** Clock time the segment started, for age-based rolling. */
    public createdAt: number,
  ) {
    this.nextOffset = base;
    this.committedNext = base;
  }

  get name(): string {
    return segmentName(this.base, 'log');
  }
  get logPath(): string {
    return path.join(this.dir, segmentName(this.base, 'log'));
  }
  get indexPath(): string {
    return path.join(this.dir, segmentName(this.base, 'index'));
  }
  get timeIndexPath(): string {
    return path.join(this.dir, segmentName(this.base, 'timeindex'));
  }
  get writable(): boolean {
    return this.#indexFds !== undefined;
  }
  get hasOpenFd(): boolean {
    return this.#fd !== undefined;
  }
  /** The .log descriptor of a writable segment. */
  get fd(): number {
    if (this.#fd === undefined || !this.writable) throw new Error(`segment ${this.name} is not open for writing`);
    return this.#fd;
  }

  /**
   * Accounts for one frame written (or found by recovery) at `position`, adding index entries
   * by the rule in format.ts.
   */
  noteFrame(position: number, size: number, baseOffset: number, count: number, timestamp: number, interval: number): void {
    const offsets = (this.offsetIndex ??= new OffsetIndex());
    const times = (this.timeIndex ??= new TimeIndex());
    if (this.firstTimestamp === undefined) this.firstTimestamp = timestamp;
    this.maxTimestamp = this.maxTimestamp === undefined ? timestamp : Math.max(this.maxTimestamp, timestamp);
    if (position - offsets.lastPosition() >= interval && (position > 0 || offsets.count === 0)) {
      offsets.append(baseOffset - this.base, position);
      times.append(this.maxTimestamp, baseOffset - this.base);
    }
    this.size = position + size;
    this.nextOffset = baseOffset + count;
  }

  snapshot(): SegmentState {
    return {
      size: this.size,
      nextOffset: this.nextOffset,
      firstTimestamp: this.firstTimestamp,
      maxTimestamp: this.maxTimestamp,
      offsetEntries: this.offsetIndex?.count ?? 0,
      timeEntries: this.timeIndex?.count ?? 0,
    };
  }

  restore(s: SegmentState): void {
    this.size = s.size;
    this.nextOffset = s.nextOffset;
    this.firstTimestamp = s.firstTimestamp;
    this.maxTimestamp = s.maxTimestamp;
    this.offsetIndex?.truncate(s.offsetEntries);
    this.timeIndex?.truncate(s.timeEntries);
  }

  commit(): void {
    this.committedSize = this.size;
    this.committedNext = this.nextOffset;
  }

  /** Opens the .log and both index files for appending (creating them when `fresh`). */
  async openForWrite(fresh: boolean): Promise<void> {
    const io = this.io;
    const offsets = (this.offsetIndex ??= new OffsetIndex());
    const times = (this.timeIndex ??= new TimeIndex());
    const openIndex = async (p: string, idx: OffsetIndex | TimeIndex): Promise<number> => {
      if (!fresh) {
        try {
          return await io.open(p, 'r+');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      idx.invalidateFile();
      return io.open(p, 'w+');
    };
    const opened: number[] = [];
    try {
      opened.push(await io.open(this.logPath, fresh ? 'w+' : 'r+'));
      opened.push(await openIndex(this.indexPath, offsets));
      opened.push(await openIndex(this.timeIndexPath, times));
    } catch (err) {
      await Promise.allSettled(opened.map((fd) => io.close(fd)));
      throw err;
    }
    this.#fd = opened[0]!;
    this.#indexFds = [opened[1]!, opened[2]!];
  }

  /** Writes index entries not yet in the index files. Best effort: indexes are rebuildable. */
  async persistIndexes(): Promise<void> {
    if (!this.#indexFds) return;
    await this.offsetIndex?.persist(this.io, this.#indexFds[0]);
    await this.timeIndex?.persist(this.io, this.#indexFds[1]);
  }

  /** Ends writing: index files flushed and closed; the .log fd stays for readers. */
  async seal(): Promise<void> {
    const fds = this.#indexFds;
    if (!fds) return;
    try {
      await this.persistIndexes();
    } finally {
      this.#indexFds = undefined;
      await Promise.allSettled([this.io.close(fds[0]), this.io.close(fds[1])]);
    }
  }

  /** A descriptor for reading; pair every acquire() with release(). */
  async acquire(): Promise<number> {
    this.refs++;
    try {
      if (this.#fd !== undefined) return this.#fd;
      this.#opening ??= this.io.open(this.logPath, 'r').finally(() => (this.#opening = undefined));
      const fd = await this.#opening;
      this.#fd ??= fd;
      if (this.#fd !== fd) void this.io.close(fd).catch(() => {});
      return this.#fd;
    } catch (err) {
      this.release();
      throw err;
    }
  }

  release(): void {
    this.refs--;
    if (this.refs === 0 && this.#closeWhenIdle) void this.closeFd();
  }

  /** Closes a sealed segment's .log descriptor now, or when the last read releases it. */
  async closeFd(): Promise<void> {
    if (this.writable) return;
    if (this.refs > 0) {
      this.#closeWhenIdle = true;
      return;
    }
    this.#closeWhenIdle = false;
    const fd = this.#fd;
    this.#fd = undefined;
    // Sealed indexes are reloaded on demand; dropping them bounds memory along with the fds.
    this.offsetIndex = undefined;
    this.timeIndex = undefined;
    if (fd !== undefined) await this.io.close(fd);
  }

  /** Loads the index files of a sealed segment if they are not resident. */
  async ensureIndexes(): Promise<void> {
    if (this.offsetIndex && this.timeIndex) return;
    const [o, t] = await Promise.all([this.io.readFile(this.indexPath), this.io.readFile(this.timeIndexPath)]);
    this.offsetIndex ??= new OffsetIndex(o);
    this.timeIndex ??= new TimeIndex(t);
  }

  /** Closes everything, writable or not; a descriptor in use by a read closes when it is released. */
  async closeAll(): Promise<void> {
    try {
      await this.seal();
    } finally {
      await this.closeFd();
    }
  }

  /** Removes the segment's files; open descriptors close when idle. */
  async deleteFiles(): Promise<void> {
    this.deleted = true;
    await this.closeAll().catch(() => {});
    await this.io.unlink(this.logPath);
    await Promise.all([this.io.unlink(this.indexPath), this.io.unlink(this.timeIndexPath)]);
  }
}
