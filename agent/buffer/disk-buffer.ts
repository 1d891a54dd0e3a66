/**
 * The agent's durable buffer: one segment log (lib/log) of compressed batches
 * plus an acknowledged cursor (<dir>/ack.json, replaced atomically). Batches
 * below the cursor are delivered; whole segments below both the cursor and the
 * file-position checkpoint are deleted. Size is bounded by buffer.max_bytes on
 * disk: `block` makes inputs wait, `drop_oldest` deletes the oldest segment and
 * counts what it held.
 *
 * The bound: an append goes in only when its frame fits under max_bytes, so the
 * buffer never exceeds max_bytes; the one exception is a batch larger than the
 * room left in a buffer that holds nothing to deliver or trim (one segment, all
 * acknowledged), which goes in anyway so the agent always makes progress: then
 * the buffer exceeds max_bytes by at most that one batch.
 */
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, SegmentLog, type StoredBatch } from '../../lib/log/index.js';
import { readStateFile, writeStateFile, type StateKind } from '../../lib/state/state-file.js';
import { CorruptError } from '../../lib/errors.js';
import type { Logger } from '../../lib/obs/logger.js';
import { bufferedMetaLength, decodeBufferedMeta, encodeBufferedMeta, type BufferedMeta } from './buffered-meta.js';

/** <buffer dir>/ack.json: {"version": 1, "next": N}, the first buffer offset not yet acknowledged. */
export const ACK_STATE: StateKind<{ next: number }> = {
  what: 'acknowledged cursor',
  version: 1,
  remedy: 'none needed: the agent starts from the oldest buffered batch and the aggregator deduplicates what it already has',
  decode: (o, at) => ({ next: at.int(o.next, 'next') }),
};


export interface DiskBufferOptions {
  dir: string;
  maxBytes: number;
  whenFull: 'block' | 'drop_oldest';
  logger: Logger;
  fsync?: boolean;
  onDrop?: (batches: number, lines: number) => void;
}

export interface BufferedBatch {
  offset: number;
  meta: BufferedMeta;
  payload: Buffer;
  timestamp: number;
}

/** Compressed bytes of recent batches kept in memory for sending without a read-back. */
const RECENT_MAX_BYTES = 4 << 20;

export class DiskBuffer {
  readonly log: SegmentLog;
  #opts: DiskBufferOptions;
  #acked = 0;
  #ackPath: string;
  #spaceWaiters: Array<() => void> = [];
  #ackWrite: Promise<void> = Promise.resolve();
  /**
   * The newest appended batches, contiguous by offset: while delivery keeps up, the
   * forwarder sends from here and never reads back (and re-verifies) what it just wrote.
   */
  #recent: BufferedBatch[] = [];
  #recentBytes = 0;

  private constructor(log: SegmentLog, opts: DiskBufferOptions) {
    this.log = log;
    this.#opts = opts;
    this.#ackPath = join(opts.dir, 'ack.json');
  }

  static async open(opts: DiskBufferOptions): Promise<DiskBuffer> {
    // About 16 segments per buffer, so drop_oldest and trimming free space in small steps even for small buffers.
    const segmentBytes = Math.min(128 << 20, Math.max(64 << 10, Math.floor(opts.maxBytes / 16)));
    const log = await SegmentLog.open({ dir: join(opts.dir, 'log'), segmentBytes, fsync: opts.fsync, logger: opts.logger });
    const b = new DiskBuffer(log, opts);
    let acked = 0;
    try {
      acked = (await readStateFile(b.#ackPath, ACK_STATE))?.next ?? 0;
    } catch (err) {
      if (!(err instanceof CorruptError)) throw err;
      // Safe to recover: re-sending acknowledged batches is deduplicated by the aggregator.
      opts.logger.warn({ err: err.message }, 'damaged ack cursor ignored: resending the buffer from its oldest batch (the aggregator drops what it already has)');
    }
    b.#acked = Math.min(Math.max(acked, log.firstOffset), log.nextOffset);
    if (log.recovery.truncatedBytes > 0) {
      opts.logger.warn({ cut_bytes: log.recovery.truncatedBytes }, 'buffer recovered: a torn tail was cut; those lines will be read again from their files');
    }
    return b;
  }

  /** Next buffer offset not yet acknowledged by the aggregator. */
  get ackedOffset(): number {
    return this.#acked;
  }

  get unackedBatches(): number {
    return this.log.nextOffset - this.#acked;
  }

  get sizeBytes(): number {
    return this.log.sizeBytes;
  }

  get maxBytes(): number {
    return this.#opts.maxBytes;
  }

  /** On-disk bytes one batch takes: frame header, meta and payload. */
  static frameBytes(meta: BufferedMeta, payloadLength: number): number {
    return FRAME_HEADER_BYTES + bufferedMetaLength(meta) + payloadLength;
  }

  /**
   * Full: at the bound, or an append is waiting because its batch does not fit. Inputs stop
   * reading under `block` (the files are the backlog).
   */
  isFull(): boolean {
    return this.log.sizeBytes >= this.#opts.maxBytes || this.#waitingForSpace > 0;
  }

  /** Nothing here to deliver and nothing a trim could free: the only segment is fully acknowledged. */
  get drained(): boolean {
    return this.#acked >= this.log.nextOffset && this.log.segmentCount <= 1;
  }

  /** Acknowledged batches sit in segments a trim could delete (so a checkpoint would free space). */
  get trimmable(): boolean {
    return this.log.segmentCount > 1 && this.#acked > this.log.firstOffset;
  }

  /** Would an append of `bytes` (on disk) keep the bound? A drained buffer takes any one batch. */
  fits(bytes: number): boolean {
    return this.log.sizeBytes + bytes <= this.#opts.maxBytes || this.drained;
  }

  /** May inputs keep reading? Not when full under `block`; always under `drop_oldest` (appends make room). */
  acceptsMore(): boolean {
    return this.#opts.whenFull === 'drop_oldest' || !this.isFull();
  }

  #waitingForSpace = 0;

  /**
   * Resolves when `bytes` fit under the bound (block policy: waits for acknowledgements and a
   * trim); with drop_oldest makes room by dropping the oldest segments.
   */
  async waitForSpace(signal?: AbortSignal, bytes = 0): Promise<void> {
    while (!this.fits(bytes) && !signal?.aborted) {
      if (this.#opts.whenFull === 'drop_oldest' && (await this.#dropOldest())) continue;
      this.#waitingForSpace++;
      try {
        await new Promise<void>((resolve) => {
          this.#spaceWaiters.push(resolve);
          const t = setTimeout(resolve, 1000);
          t.unref();
        });
      } finally {
        this.#waitingForSpace--;
      }
    }
  }

  async #dropOldest(): Promise<boolean> {
    if (this.log.segmentCount < 2) return false;
    const first = this.log.firstOffset;
    // The log does not expose segment boundaries: collect the oldest batches, then delete
    // the front up to each one's end in turn; the first call that frees bytes deleted
    // exactly the oldest segment (segment ends increase).
    const metas: Array<{ offset: number; lines: number }> = [];
    for await (const m of this.log.scanMeta(first)) {
      metas.push({ offset: m.baseOffset, lines: decodeBufferedMeta(m.meta).lines });
      if (metas.length >= 1_000_000) break;
    }
    let freed = 0;
    for (const m of metas) {
      freed = await this.log.truncateBefore(m.offset + 1);
      if (freed > 0) break;
    }
    if (freed === 0) return false;
    const newFirst = this.log.firstOffset;
    let batches = 0;
    let lines = 0;
    for (const m of metas) {
      if (m.offset >= newFirst) break;
      if (m.offset >= this.#acked) {
        batches++;
        lines += m.lines;
      }
    }
    if (this.#acked < newFirst) await this.ack(newFirst);
    this.#opts.logger.error(
      { dropped_batches: batches, dropped_lines: lines, freed_bytes: freed },
      'buffer full (buffer.when_full: drop_oldest): dropped the oldest undelivered batches; raise buffer.max_bytes or fix the aggregator link',
    );
    this.#opts.onDrop?.(batches, lines);
    return true;
  }

  async append(batches: Array<{ meta: BufferedMeta; payload: Buffer; timestamp: number }>): Promise<number[]> {
    const offsets = await this.log.append(
      batches.map((b) => ({ count: 1, timestamp: b.timestamp, attributes: b.meta.codec, meta: encodeBufferedMeta(b.meta), payload: b.payload })),
    );
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      const last = this.#recent[this.#recent.length - 1];
      if (last && last.offset + 1 !== offsets[i]) this.#dropRecent(Infinity);
      this.#recent.push({ offset: offsets[i]!, meta: b.meta, payload: b.payload, timestamp: b.timestamp });
      this.#recentBytes += b.payload.length;
    }
    while (this.#recentBytes > RECENT_MAX_BYTES && this.#recent.length > 1) this.#dropRecent(this.#recent[0]!.offset + 1);
    return offsets;
  }

  /** Forgets cached batches below `below` (all with Infinity). */
  #dropRecent(below: number): void {
    let n = 0;
    while (n < this.#recent.length && this.#recent[n]!.offset < below) this.#recentBytes -= this.#recent[n++]!.payload.length;
    if (n > 0) this.#recent.splice(0, n);
  }

  /** Unacknowledged batches from `from` on, about maxBytes of payload. */
  async read(from: number, maxBytes: number): Promise<BufferedBatch[]> {
    if (from >= this.log.nextOffset) return [];
    const start = Math.max(from, this.log.firstOffset);
    const first = this.#recent[0];
    if (first && start >= first.offset && start === from) {
      const out: BufferedBatch[] = [];
      let bytes = 0;
      for (let i = start - first.offset; i < this.#recent.length; i++) {
        const b = this.#recent[i]!;
        if (out.length > 0 && bytes + b.payload.length > maxBytes) break;
        out.push(b);
        bytes += b.payload.length;
      }
      if (out.length > 0) return out;
    }
    const stored: StoredBatch[] = await this.log.read(start, maxBytes);
    return stored
      .filter((s) => s.baseOffset >= start)
      .map((s) => ({ offset: s.baseOffset, meta: decodeBufferedMeta(s.meta), payload: s.payload, timestamp: s.timestamp }));
  }

  /** Records that everything below `next` is delivered; persisted atomically (a lost update only causes a deduplicated re-send). */
  ack(next: number): Promise<void> {
    if (next <= this.#acked) return this.#ackWrite;
    this.#acked = next;
    this.#dropRecent(next);
    this.#ackWrite = this.#ackWrite.then(() => writeStateFile(this.#ackPath, ACK_STATE, { next: this.#acked }));
    return this.#ackWrite;
  }

  /** Deletes delivered whole segments below `limit` (the checkpoint's buffer offset); wakes blocked inputs. */
  async trim(limit: number): Promise<void> {
    const freed = await this.log.truncateBefore(Math.min(limit, this.#acked));
    if (freed > 0 || !this.isFull()) {
      const w = this.#spaceWaiters;
      this.#spaceWaiters = [];
      for (const f of w) f();
    }
  }

  /** Timestamp of the oldest unacknowledged batch, if any. */
  async oldestUnackedTimestamp(): Promise<number | undefined> {
    if (this.#acked >= this.log.nextOffset) return undefined;
    for await (const m of this.log.scanMeta(this.#acked)) return m.timestamp;
    return undefined;
  }

  async close(): Promise<void> {
    await this.#ackWrite.catch(() => undefined);
    await this.log.close();
  }
}
