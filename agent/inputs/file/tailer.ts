/**
 * One open file. Reads with large positional reads from the stream's position,
 * cuts whole lines into batches and hands them to the pipeline. Keeps its
 * descriptor after the file is renamed or deleted, until it is drained.
 */
import { close, fstat, open, read, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { cutBatch, cutMultiline, type MultilineRule } from './reader.js';
import { fingerprintOf, FINGERPRINT_MAX } from './fingerprint.js';
import { crc32c } from '../../../lib/log/index.js';
import { resumeOffset, type StreamState } from './streams.js';

const openAsync = promisify(open);
const fstatAsync = promisify(fstat) as (fd: number) => Promise<Stats>;
const readAsync = promisify(read);
const closeAsync = promisify(close);

export interface ReadBatch {
  stream: StreamState;
  source: string;
  start: number;
  end: number;
  lines: number;
  flags: number;
  raw: Buffer;
  /** raw is a view of memory nobody else uses: it may be handed to compression and reused for other reads */
  owned: boolean;
  timestamp: number;
  dev: number;
  ino: number;
  fpLen: number;
  fpCrc: number;
}

export interface TailerContext {
  maxBatchBytes: number;
  maxLineBytes: number;
  partialLineTimeout: number;
  /** batch.max_wait: how long a file that grew may wait before it is read */
  maxWait?: number;
  /**
   * ms a read batch takes lately to become durable in the buffer (compression, append, fsync): the
   * max_wait read starts this much earlier (at most half of max_wait), so a line's whole wait in
   * the agent, read to buffer included, stays within max_wait
   */
  readHeadroom?: () => number;
  /** multiline records: start pattern, max lines, and the timeout that flushes an open record */
  multiline?: MultilineRule & { timeout: number };
  now: () => number;
  /** false while the pipeline or buffer is full: stop reading, the file is the backlog */
  hasCapacity: () => boolean;
  submit: (b: ReadBatch) => void;
  /** memory for a read of n bytes that the tailer owns entirely (default: a fresh allocation) */
  readBuffer?: (n: number) => Buffer;
  /** gives back a buffer readBuffer returned that the pipeline did not take */
  releaseRead?: (buf: Buffer) => void;
  /** The file was truncated (or rewritten under us): returns the new stream its content now is, read from 0. */
  onTruncated: (t: Tailer, from: number) => StreamState;
  setFingerprint: (s: StreamState, fpLen: number, fpCrc: number) => void;
  onSplitLines: (n: number) => void;
}

export class Tailer {
  /** the name it was last found under (changes on rename within the include globs) */
  path: string;
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
  stream: StreamState;
  readOffset: number;
  size: number;
  /** mtime at the last look: a rewrite to the very same size shows only here */
  #mtimeMs: number;
  /** renamed away or deleted: drain, then close */
  detached = false;
  deleted = false;
  lastGrowth: number;
  #partialSince = 0;
  #closed = false;
  #pumping: Promise<void> | undefined;
  #again = false;
  /** a call that asked for everything came while a pump ran */
  #againAll = false;
  /** the last read stopped short of the end because the pipeline or buffer was full */
  stalled = false;

  private constructor(path: string, fd: number, st: Stats, stream: StreamState, now: number) {
    this.path = path;
    this.fd = fd;
    this.dev = st.dev;
    this.ino = st.ino;
    this.size = st.size;
    this.#mtimeMs = st.mtimeMs;
    this.stream = stream;
    this.readOffset = resumeOffset(stream);
    this.lastGrowth = now;
  }

  static async openFile(path: string): Promise<{ fd: number; st: Stats }> {
    const fd = await openAsync(path, 'r');
    try {
      return { fd, st: await fstatAsync(fd) };
    } catch (err) {
      await closeAsync(fd);
      throw err;
    }
  }

  static async closeFd(fd: number): Promise<void> {
    await closeAsync(fd).catch(() => undefined);
  }

  static attach(path: string, fd: number, st: Stats, stream: StreamState, now: number): Tailer {
    return new Tailer(path, fd, st, stream, now);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** a pump is running or queued */
  get busy(): boolean {
    return this.#pumping !== undefined;
  }

  get lag(): number {
    return Math.max(0, this.size - this.readOffset);
  }

  /**
   * Reads until caught up (or out of capacity). With `fullOnly`, and when the file grew since the
   * last look, reads only while a whole batch.max_bytes is unread and leaves the shorter rest for a
   * later read, so a busy file is cut into full batches rather than a full one and a sliver.
   * Concurrent calls coalesce (one that asks for everything wins).
   */
  pump(ctx: TailerContext, fullOnly = false): Promise<void> {
    if (this.#pumping) {
      this.#again = true;
      if (!fullOnly) this.#againAll = true;
      return this.#pumping;
    }
    this.#pumping = (async () => {
      let full = fullOnly;
      do {
        this.#again = false;
        this.#againAll = false;
        await this.#pumpOnce(ctx, full);
        full = !this.#againAll;
      } while (this.#again && !this.#closed);
    })().finally(() => (this.#pumping = undefined));
    return this.#pumping;
  }

  async #pumpOnce(ctx: TailerContext, fullOnly: boolean): Promise<void> {
    if (this.#closed) return;
    const st = await fstatAsync(this.fd);
    const now = ctx.now();
    if (st.nlink === 0) this.deleted = true;
    // Truncated and written again up to exactly the old size between two looks: only mtime tells.
    const changed = st.size !== this.size || st.mtimeMs !== this.#mtimeMs;
    this.#mtimeMs = st.mtimeMs;
    // A rest is left only while the file keeps growing: a backlog (a file that stopped growing, or
    // lag after capacity returned) is read to its end.
    const wholeOnly = fullOnly && st.size > this.size;
    if (st.size > this.size) this.lastGrowth = now;
    this.size = st.size;
    if (this.size < this.readOffset || (changed && this.readOffset > 0 && !(await this.#sameContent()))) {
      // Truncated in place (copytruncate or `> file`), or rewritten under us: its content is a new
      // stream, read from the beginning. The old stream stays known, so a copy of it (logrotate's
      // copytruncate) continues where we stopped.
      this.stream = ctx.onTruncated(this, this.readOffset);
      this.readOffset = 0;
      this.#partialSince = 0;
    }
    // The stream's fingerprint grows with the file up to FINGERPRINT_MAX, wherever reading is: a
    // stream is found again after a restart only by it. Taken before any batch, and also when
    // nothing is read (a file first read from its end, start_at: end): a stream left without one
    // was a new stream at the next start, and the lines written meanwhile were skipped.
    if (!this.#closed && this.stream.fpLen < Math.min(this.size, FINGERPRINT_MAX)) {
      const fp = await fingerprintOf(this.fd, this.size);
      ctx.setFingerprint(this.stream, fp.fpLen, fp.fpCrc);
    }
    while (!this.#closed && this.readOffset < this.size && (!wholeOnly || this.size - this.readOffset >= ctx.maxBatchBytes) && ctx.hasCapacity()) {
      const want = Math.min(ctx.maxBatchBytes, this.size - this.readOffset);
      // Not from node's shared pool: the plain batch is a view of it, and it is reused once zstd holds a copy.
      const buf = ctx.readBuffer ? ctx.readBuffer(want) : Buffer.allocUnsafeSlow(want);
      // A read buffer the pipeline does not take (nothing read, no whole line yet, a framed copy, an
      // error) goes back at once: ReadBuffers' slots are not garbage-collected.
      let handedOn = false;
      try {
        const { bytesRead } = await readAsync(this.fd, buf, 0, want, this.readOffset);
        if (bytesRead === 0) break;
        const chunk = bytesRead === want ? buf : buf.subarray(0, bytesRead);
        const atEnd = this.readOffset + bytesRead >= this.size;
        const ml = ctx.multiline;
        // A multiline record is open until no line came for its timeout; a plain partial line waits partial_line_timeout.
        const waitMs = ml ? ml.timeout : ctx.partialLineTimeout;
        const waitingSince = ml ? Math.max(this.#partialSince, this.lastGrowth) : this.#partialSince;
        const partialDue = this.#partialSince > 0 && now - waitingSince >= waitMs;
        const flush = atEnd && (partialDue || (this.detached && now - this.lastGrowth >= waitMs));
        const cut = ml ? cutMultiline(chunk, ml, ctx.maxLineBytes, atEnd, flush) : cutBatch(chunk, ctx.maxLineBytes, atEnd, flush);
        if (!cut) {
          if (this.#partialSince === 0) this.#partialSince = now;
          break;
        }
        this.#partialSince = 0;
        if (cut.splitLines) ctx.onSplitLines(cut.splitLines);
        const raw = cut.consumed === chunk.length && cut.raw === chunk ? chunk : cut.raw;
        // The pipeline gives the read buffer back after compression when the batch is a view of it.
        const owned = raw.buffer === buf.buffer;
        handedOn = owned;
        ctx.submit({
          stream: this.stream,
          source: this.path,
          start: this.readOffset,
          end: this.readOffset + cut.consumed,
          lines: cut.lines,
          flags: cut.flags,
          raw,
          owned,
          timestamp: now,
          dev: this.dev,
          ino: this.ino,
          fpLen: this.stream.fpLen,
          fpCrc: this.stream.fpCrc,
        });
        this.readOffset += cut.consumed;
        this.stream.read = this.readOffset;
      } finally {
        if (!handedOn) ctx.releaseRead?.(buf);
      }
    }
    this.stalled = !this.#closed && this.readOffset < this.size && !ctx.hasCapacity();
  }

  /** Does the file still start with the bytes its stream's fingerprint describes? */
  async #sameContent(): Promise<boolean> {
    const fp = this.stream;
    if (fp.fpLen === 0) return true;
    if (fp.fpLen > this.size) return false;
    const buf = Buffer.allocUnsafe(fp.fpLen);
    const { bytesRead } = await readAsync(this.fd, buf, 0, fp.fpLen, 0);
    if (bytesRead !== fp.fpLen) return false;
    return crc32c(buf) === fp.fpCrc >>> 0;
  }

  /** Has the file changed since the tailer last looked (size or mtime)? */
  changedSince(st: { size: number; mtimeMs: number }): boolean {
    return st.size !== this.size || st.mtimeMs !== this.#mtimeMs;
  }

  /** A trailing partial line is waiting for its newline. */
  get hasPartial(): boolean {
    return this.#partialSince > 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pumping?.catch(() => undefined);
    await closeAsync(this.fd).catch(() => undefined);
  }
}
