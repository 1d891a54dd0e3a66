/**
 * The agent's durable buffer: one segment log (lib/log) of compressed batches
 * plus an acknowledged cursor (<dir>/ack.json, replaced atomically). Batches
 * below the cursor are delivered; whole segments below both the cursor and the
 * file-position checkpoint are deleted. Size is bounded by buffer.max_bytes on
 * disk: `block` makes inputs wait, `drop_oldest` deletes the oldest segment and
 * counts what it held.
 *
 * The cursor is kept in memory and persisted at most once per ackPersistMs
 * (the first acknowledgement after a quiet spell at once), never awaited by
 * the send loop: before, every acknowledged request waited for a write, an
 * fsync, a rename and a directory fsync before the next one could go. After a
 * kill -9 the agent sends again what was acknowledged after the last persisted
 * cursor; the aggregator keeps, per partition, the highest sequence each
 * producer stored (rebuilt from its log at start, so also across its own
 * restarts) and acknowledges anything at or below it as a duplicate without
 * storing it again. Segments are deleted only below the persisted cursor, so
 * whatever a restart would send again is still in the buffer.
 *
 * The bound: an append goes in only when its frame fits under max_bytes, so the
 * buffer never exceeds max_bytes; the one exception is a batch larger than the
 * room left in a buffer that holds nothing to deliver or trim (one segment, all
 * acknowledged), which goes in anyway so the agent always makes progress: then
 * the buffer exceeds max_bytes by at most that one batch.
 */
import { join } from 'node:path';
import { crc32c, FRAME_HEADER_BYTES, SegmentLog, type StoredBatch } from '../../lib/log/index.js';
import { readStateFile, writeStateFile, type StateKind } from '../../lib/state/state-file.js';
import { CorruptError } from '../../lib/errors.js';
import type { Logger } from '../../lib/obs/logger.js';
import type { PayloadSlabs } from './payload-slabs.js';
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
  /** batches read back from the segment files because they were no longer in the in-memory recent cache */
  onReadBack?: (batches: number) => void;
  /**
   * bytes of batch payload that passed through here (appended, or read back from the files) and are not
   * in `slabs`: memory outside the V8 heap that is garbage once the batch is sent (agent/heap.ts PayloadCollector)
   */
  onPayloadBytes?: (bytes: number) => void;
  /**
   * Where appended payloads may come from (agent/buffer/payload-slabs.ts): the recent cache holds a
   * reference on each payload it keeps, and read() gives its caller one on each batch it returns,
   * which the caller gives back with release() once nothing can use the bytes any more.
   */
  slabs?: PayloadSlabs;
  /** compressed bytes of recent batches kept in memory (default RECENT_MAX_BYTES; tests raise it) */
  recentMaxBytes?: number;
  /** persist the cursor at most this often (default ACK_PERSIST_MS); close() persists the last one */
  ackPersistMs?: number;
}

/** How often the acknowledged cursor is written at most while acknowledgements keep coming. */
export const ACK_PERSIST_MS = 1_000;

/** Tests only (LOGSHIP_TEST_HOOKS=1): LOGSHIP_TEST_ACK_PERSIST_MS widens the window in which a kill -9 finds the cursor behind. */
function defaultAckPersistMs(): number {
  if (process.env.LOGSHIP_TEST_HOOKS !== '1') return ACK_PERSIST_MS;
  const v = Number(process.env.LOGSHIP_TEST_ACK_PERSIST_MS);
  return Number.isFinite(v) && v >= 0 ? v : ACK_PERSIST_MS;
}

interface CursorWrite {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function cursorWrite(): CursorWrite {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody has to wait for it (the forwarder does not): a failure is logged and retried here.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export interface BufferedBatch {
  offset: number;
  meta: BufferedMeta;
  payload: Buffer;
  timestamp: number;
  /**
   * crc32c(payload), for batches from the in-memory recent cache: computed once at append for the
   * buffer frame and sent as the wire CRC, instead of a second pass over the payload per send.
   * Undefined for batches read back from the files (the sender computes it).
   */
  crc?: number;
}

/** Compressed bytes of recent batches kept in memory for sending without a read-back. */
export const RECENT_MAX_BYTES = 4 << 20;

export class DiskBuffer {
  readonly log: SegmentLog;
  #opts: DiskBufferOptions;
  #acked = 0;
  #ackPath: string;
  #spaceWaiters: Array<() => void> = [];
  /** the cursor as last written to ack.json (or found there at open) */
  #persisted = 0;
  #ackPersistMs: number;
  /** the write that will cover acknowledgements not yet being written, and its timer */
  #nextWrite: CursorWrite | undefined;
  #writeTimer: NodeJS.Timeout | undefined;
  /** the write under way: settles (never rejects) when it is done */
  #writing: Promise<void> | undefined;
  #current: { value: number; job: CursorWrite } | undefined;
  #lastWriteAt = -Infinity;
  #writeFailures = 0;
  /** the limit of the last trim, when the persisted cursor held it back */
  #heldTrim = 0;
  #closed = false;
  /** close() began: no more trims started from a cursor write */
  #closing = false;
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
    this.#ackPersistMs = opts.ackPersistMs ?? defaultAckPersistMs();
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
    b.#persisted = b.#acked;
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
    return this.log.segmentCount > 1 && this.#persisted > this.log.firstOffset;
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
    const first = this.log.firstOffset;
    const end = this.log.oldestSegmentEnd;
    if (end === undefined) return false;
    // Lines per batch of the oldest segment only, kept as running totals in two number arrays
    // (not objects, not the metas): which of them count as dropped is decided after the delete,
    // against the cursor as it is then. Before, the whole log's metadata was collected first
    // (up to 1,000,000 entries, and 64 KiB read chunks held by the scan: issue 17).
    const offsets: number[] = [];
    const linesBefore: number[] = [];
    let total = 0;
    for await (const m of this.log.scanMeta(first)) {
      if (m.baseOffset >= end) break;
      offsets.push(m.baseOffset);
      linesBefore.push(total);
      total += decodeBufferedMeta(m.meta).lines;
    }
    const freed = await this.log.truncateBefore(end);
    // Nothing freed: someone else (a trim) deleted the front meanwhile; the caller checks the room again.
    if (freed === 0) return this.log.firstOffset !== first;
    const newFirst = this.log.firstOffset;
    // The batches in [cursor, newFirst) were never delivered (offsets ascend; one record per batch).
    let i = 0;
    while (i < offsets.length && offsets[i]! < this.#acked) i++;
    let j = i;
    while (j < offsets.length && offsets[j]! < newFirst) j++;
    const batches = j - i;
    const lines = i === j ? 0 : (j < offsets.length ? linesBefore[j]! : total) - linesBefore[i]!;
    // Not awaited: a restart clamps the cursor to the oldest batch left anyway.
    if (this.#acked < newFirst) void this.ack(newFirst);
    this.#opts.logger.error(
      { dropped_batches: batches, dropped_lines: lines, freed_bytes: freed },
      'buffer full (buffer.when_full: drop_oldest): dropped the oldest undelivered batches; raise buffer.max_bytes or fix the aggregator link',
    );
    this.#opts.onDrop?.(batches, lines);
    return true;
  }

  async append(batches: Array<{ meta: BufferedMeta; payload: Buffer; timestamp: number }>): Promise<number[]> {
    // One CRC pass per payload: the frame CRC is combined from it (lib/log), and the recent cache keeps it for the wire.
    const crcs = batches.map((b) => crc32c(b.payload));
    const offsets = await this.log.append(
      batches.map((b, i) => ({ count: 1, timestamp: b.timestamp, attributes: b.meta.codec, meta: encodeBufferedMeta(b.meta), payload: b.payload, payloadCrc: crcs[i]! })),
    );
    const slabs = this.#opts.slabs;
    let bytes = 0;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      if (!slabs?.holds(b.payload)) bytes += b.payload.length;
      const last = this.#recent[this.#recent.length - 1];
      if (last && last.offset + 1 !== offsets[i]) this.#dropRecent(Infinity);
      // The recent cache's own reference (the appender keeps and releases its own).
      slabs?.retain(b.payload);
      this.#recent.push({ offset: offsets[i]!, meta: b.meta, payload: b.payload, timestamp: b.timestamp, crc: crcs[i]! });
      this.#recentBytes += b.payload.length;
    }
    while (this.#recentBytes > (this.#opts.recentMaxBytes ?? RECENT_MAX_BYTES) && this.#recent.length > 1) this.#dropRecent(this.#recent[0]!.offset + 1);
    if (bytes > 0) this.#opts.onPayloadBytes?.(bytes);
    return offsets;
  }

  /** Forgets cached batches below `below` (all with Infinity), giving back the cache's references. */
  #dropRecent(below: number): void {
    let n = 0;
    while (n < this.#recent.length && this.#recent[n]!.offset < below) {
      const p = this.#recent[n++]!.payload;
      this.#recentBytes -= p.length;
      this.#opts.slabs?.release(p);
    }
    if (n > 0) this.#recent.splice(0, n);
  }

  /**
   * Gives back the references read() handed out with `batches`: call it once per read() result (or
   * per batch of it), when nothing can use their payload bytes any more (a request answered, or its
   * socket closed).
   */
  release(batches: readonly BufferedBatch[]): void {
    for (const b of batches) this.releasePayload(b.payload);
  }

  /** Gives back an appender's reference on a payload it took from the slabs (after append() returned). */
  releasePayload(payload: Buffer): void {
    this.#opts.slabs?.release(payload);
  }

  /**
   * Unacknowledged batches from `from` on, about maxBytes of payload. The caller holds a reference on
   * each returned payload until it calls release() with them.
   */
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
      // Taken here, before anything else runs: the cache may drop them as soon as this returns.
      for (const b of out) this.#opts.slabs?.retain(b.payload);
      if (out.length > 0) return out;
    }
    const stored: StoredBatch[] = await this.log.read(start, maxBytes);
    const out = stored
      .filter((s) => s.baseOffset >= start)
      .map((s) => ({ offset: s.baseOffset, meta: decodeBufferedMeta(s.meta), payload: s.payload, timestamp: s.timestamp }));
    if (out.length > 0) {
      this.#opts.onReadBack?.(out.length);
      if (this.#opts.onPayloadBytes) this.#opts.onPayloadBytes(out.reduce((n, b) => n + b.payload.length, 0));
    }
    return out;
  }

  /**
   * Records that everything below `next` is delivered, at once in memory; ack.json follows within
   * ackPersistMs (a lost update only causes a deduplicated re-send). The promise resolves once a
   * write covering `next` is durable; the send loop does not wait for it.
   */
  ack(next: number): Promise<void> {
    if (next > this.#acked) {
      this.#acked = next;
      this.#dropRecent(next);
    }
    if (this.#nextWrite) return this.#nextWrite.promise;
    if (this.#acked <= this.#persisted) return Promise.resolve();
    if (this.#current && this.#acked <= this.#current.value) return this.#current.job.promise;
    if (this.#closed) return Promise.resolve();
    this.#nextWrite = cursorWrite();
    if (!this.#writing) this.#armWrite();
    return this.#nextWrite.promise;
  }

  /** The cursor as persisted in ack.json: where a restart would resume sending. */
  get persistedAckedOffset(): number {
    return this.#persisted;
  }

  #armWrite(): void {
    const wait = Math.max(0, this.#lastWriteAt + this.#ackPersistMs - performance.now());
    this.#writeTimer = setTimeout(() => void this.#writeCursor(), wait);
    this.#writeTimer.unref();
  }

  async #writeCursor(): Promise<void> {
    clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
    const job = this.#nextWrite;
    this.#nextWrite = undefined;
    if (!job) return;
    const value = this.#acked;
    this.#lastWriteAt = performance.now();
    const writing = writeStateFile(this.#ackPath, ACK_STATE, { next: value });
    this.#current = { value, job };
    this.#writing = writing.then(
      () => undefined,
      () => undefined,
    );
    try {
      await writing;
      this.#persisted = Math.max(this.#persisted, value);
      if (this.#heldTrim > 0 && this.isFull() && !this.#closing) {
        void this.trim(this.#heldTrim).catch((err: unknown) => this.#opts.logger.error({ err }, 'trimming the agent buffer failed; the next checkpoint tries again'));
      }
      if (this.#writeFailures > 0) this.#opts.logger.info({ after_failures: this.#writeFailures }, 'acknowledged cursor written again');
      this.#writeFailures = 0;
      job.resolve();
    } catch (err) {
      if (this.#writeFailures++ % 60 === 0) {
        this.#opts.logger.error({ err, attempt: this.#writeFailures }, 'cannot write the acknowledged cursor (buffer/ack.json); retrying. Delivery goes on; a restart before it succeeds re-sends batches the aggregator deduplicates');
      }
      job.reject(err);
      // Retried even when no acknowledgement follows (an idle agent).
      this.#nextWrite ??= cursorWrite();
    } finally {
      this.#writing = undefined;
      this.#current = undefined;
      if (this.#nextWrite && !this.#closed) this.#armWrite();
    }
  }

  /** Writes the cursor now if it moved since the last write (shutdown). */
  async flushAck(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.#writing) await this.#writing;
      if (this.#acked <= this.#persisted) return;
      this.#nextWrite ??= cursorWrite();
      await this.#writeCursor();
    }
  }

  /** Deletes delivered whole segments below `limit` (the checkpoint's buffer offset) and below the persisted cursor; wakes blocked inputs. */
  async trim(limit: number): Promise<void> {
    // Never past the persisted cursor: what a restart would send again must still be here. A trim
    // held back by it is done again when the cursor is written (a full buffer need not wait for the next checkpoint).
    this.#heldTrim = limit > this.#persisted ? limit : 0;
    const freed = await this.log.truncateBefore(Math.min(limit, this.#persisted));
    if (freed > 0 || !this.isFull()) {
      const w = this.#spaceWaiters;
      this.#spaceWaiters = [];
      for (const f of w) f();
    }
  }

  /**
   * Timestamp of the oldest unacknowledged batch, if any. Asked by every /metrics scrape and
   * /status request. From the recent cache when it holds the batch, else from one batch read back
   * and remembered for as long as the cursor stays there (a batch's timestamp never changes). A
   * scan of the log's metadata (scanMeta) collected up to 1,024 batches before its first answer, each
   * holding a read chunk of 64 KiB or more: during an aggregator outage every scrape allocated tens of
   * MiB (24 MiB live in a heap snapshot of the backlog-drain bench, issue 17).
   */
  async oldestUnackedTimestamp(): Promise<number | undefined> {
    if (this.#acked >= this.log.nextOffset) return undefined;
    const at = Math.max(this.#acked, this.log.firstOffset);
    const first = this.#recent[0];
    if (first && at >= first.offset && at - first.offset < this.#recent.length) return this.#recent[at - first.offset]!.timestamp;
    if (this.#oldestSeen?.offset === at) return this.#oldestSeen.timestamp;
    const [b] = await this.log.read(at, 1);
    if (!b) return undefined;
    // One record per batch (count 1): the first batch read is the one at `at`.
    this.#oldestSeen = { offset: at, timestamp: b.timestamp };
    return b.timestamp;
  }

  /** The last batch oldestUnackedTimestamp() read back: its offset and timestamp. */
  #oldestSeen: { offset: number; timestamp: number } | undefined;

  async close(): Promise<void> {
    this.#closing = true;
    await this.flushAck().catch((err: unknown) => this.#opts.logger.error({ err }, 'writing the acknowledged cursor at shutdown failed; the next start re-sends what the aggregator deduplicates'));
    this.#closed = true;
    clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
    this.#nextWrite?.resolve();
    this.#nextWrite = undefined;
    await this.log.close();
  }
}
