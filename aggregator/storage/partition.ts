/**
 * One partition: a segment log plus the idempotent-producer state kept beside
 * it. The producer state is derived from the stored batches' meta (each holds
 * producer, epoch and sequence), so it can never disagree with the log. To
 * keep startup cheap, the state of the durable prefix of the log is
 * snapshotted to `producers.json` (producer-state.ts) at every segment roll,
 * every `snapshotIntervalMs` while ingest goes on, and at close; open reads
 * the snapshot and scans only the batches stored after it.
 */
import { SegmentLog, realFs, type FsSeam, type RecoveryReport } from '../../lib/log/index.js';
import type { Logger } from '../../lib/obs/logger.js';
import { LogshipError } from '../../lib/errors.js';
import { decodeStoredMeta, encodeStoredMeta } from './stored-meta.js';
import { applyProducer, readSnapshot, writeSnapshot, type ProducerMap } from './producer-state.js';
import type { IngestItem, IngestResult, PartitionHandle, PlainItem, StoredBatch } from './types.js';

export type { IngestItem, IngestResult } from './types.js';

/** The producer field of a plain (non-idempotent) batch: the wire refuses empty producer ids. */
export const PLAIN_PRODUCER = '';

/** What a partition reports to its owner (metrics, logs); every hook is optional. */
export interface PartitionEvents {
  /** One append (write + the group-commit fsync that covers it) took this long. */
  appended?(p: Partition, seconds: number, batches: number): void;
  /** Recovery cut a torn tail or quarantined segments at open. */
  recovered?(p: Partition, report: RecoveryReport): void;
  /** An append failed (ENOSPC, EIO); nothing of it was acknowledged. */
  appendFailed?(p: Partition, err: unknown): void;
}

export interface PartitionOptions {
  dir: string;
  topic: string;
  partition: number;
  segmentBytes: number;
  segmentMs: number;
  fsync: boolean;
  logger: Logger;
  /** The fs seam for the log and the producer snapshot; default realFs (tests inject faults). */
  io?: FsSeam;
  /** Snapshot the producer state at least this often while batches arrive; default 30 s. */
  snapshotIntervalMs?: number;
  events?: PartitionEvents;
  /** Injected clock for snapshot scheduling; default Date.now. */
  clock?: () => number;
}

/** How the producer state was loaded at open (for logs and tests). */
export interface ProducerLoad {
  /** Offset the snapshot covered, or undefined when none was used. */
  snapshotOffset: number | undefined;
  scannedFrom: number;
  scannedBatches: number;
}

export class Partition implements PartitionHandle {
  readonly topic: string;
  readonly partition: number;
  readonly log: SegmentLog;
  readonly dir: string;
  readonly producerLoad: ProducerLoad;
  /** Claims: durable state plus batches being written (so a concurrent retry is a duplicate). */
  #producers: ProducerMap;
  /** State of exactly the batches below #durableEnd, all fsync'd: what a snapshot may hold. */
  #durable: ProducerMap;
  #durableEnd: number;
  /** Durable appends whose continuation ran before an earlier one's (kept until contiguous). */
  #stash = new Map<number, { end: number; items: IngestItem[] }>();
  #rebuilding: Promise<void> | undefined;
  #lastAppend: Promise<unknown> = Promise.resolve();
  #logger: Logger;
  #io: FsSeam;
  #events: PartitionEvents;
  #clock: () => number;
  #snapInterval: number;
  #snapOffset: number;
  #snapSegments: number;
  #snapAt: number;
  #snapping: Promise<void> | undefined;
  #snapAgain = false;

  private constructor(opts: PartitionOptions, log: SegmentLog, durable: ProducerMap, load: ProducerLoad, snapOffset: number) {
    this.topic = opts.topic;
    this.partition = opts.partition;
    this.dir = opts.dir;
    this.log = log;
    this.#logger = opts.logger;
    this.#io = opts.io ?? realFs;
    this.#events = opts.events ?? {};
    this.#clock = opts.clock ?? Date.now;
    this.#snapInterval = opts.snapshotIntervalMs ?? 30_000;
    this.#durable = durable;
    this.#durableEnd = log.nextOffset;
    this.#producers = clone(durable);
    this.producerLoad = load;
    this.#snapOffset = snapOffset;
    this.#snapSegments = log.segmentCount;
    this.#snapAt = this.#clock();
  }

  static async open(opts: PartitionOptions): Promise<Partition> {
    const io = opts.io ?? realFs;
    const log = await SegmentLog.open({
      dir: opts.dir,
      segmentBytes: opts.segmentBytes,
      segmentMs: opts.segmentMs,
      fsync: opts.fsync,
      logger: opts.logger,
      io,
    });
    const where = { topic: opts.topic, partition: opts.partition };
    const rec = log.recovery;
    if (rec.truncatedBytes > 0 || rec.quarantined.length > 0) {
      opts.logger.warn(
        { ...where, cut_bytes: rec.truncatedBytes, quarantined: rec.quarantined },
        'partition recovered: a torn tail was cut and/or corrupt segments were quarantined; producers re-send what was not acknowledged',
      );
    }
    let durable: ProducerMap = new Map();
    let from = log.firstOffset;
    let snapshotOffset: number | undefined;
    const snap = await readSnapshot(opts.dir, io);
    if (snap && 'problem' in snap) {
      opts.logger.warn({ ...where, problem: snap.problem }, 'producer snapshot unusable; rebuilding producer state from the whole log');
    } else if (snap && snap.offset > log.nextOffset) {
      opts.logger.warn(
        { ...where, snapshot_offset: snap.offset, next_offset: log.nextOffset },
        'producer snapshot covers offsets the log no longer has; rebuilding producer state from the whole log',
      );
    } else if (snap) {
      durable = snap.producers;
      snapshotOffset = snap.offset;
      from = Math.max(snap.offset, log.firstOffset);
    }
    let scanned = 0;
    for await (const b of log.scanMeta(from)) {
      const m = decodeStoredMeta(b.meta);
      if (m.producer !== PLAIN_PRODUCER) applyProducer(durable, m.producer, m.epoch, m.seq);
      scanned++;
    }
    const load: ProducerLoad = { snapshotOffset, scannedFrom: from, scannedBatches: scanned };
    opts.logger.debug({ ...where, ...load, producers: durable.size }, 'producer state loaded');
    const p = new Partition(opts, log, durable, load, snapshotOffset ?? -1);
    if (rec.truncatedBytes > 0 || rec.quarantined.length > 0) opts.events?.recovered?.(p, rec);
    return p;
  }

  get firstOffset(): number {
    return this.log.firstOffset;
  }

  get nextOffset(): number {
    return this.log.nextOffset;
  }

  get bytes(): number {
    return this.log.sizeBytes;
  }

  read(offset: number, maxBytes: number): Promise<StoredBatch[]> {
    return this.log.read(offset, maxBytes);
  }

  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.log.waitForData(offset, timeoutMs, signal);
  }

  offsetForTimestamp(ts: number): Promise<number> {
    return this.log.offsetForTimestamp(ts);
  }

  /** PartitionHandle's name for ingest(). */
  append(items: IngestItem[]): Promise<IngestResult[]> {
    return this.ingest(items);
  }

  /** Appends batches that carry no producer (never deduplicated); resolves after the covering fsync. */
  async appendPlain(items: PlainItem[]): Promise<number[]> {
    if (items.length === 0) return [];
    if (this.#rebuilding) await this.#rebuilding;
    const full: IngestItem[] = items.map((it) => ({ ...it, meta: { ...it.meta, producer: PLAIN_PRODUCER, epoch: 0, seq: 0 } }));
    const started = process.hrtime.bigint();
    let offsets: number[];
    try {
      const appending = this.log.append(full.map((it) => ({ count: it.lines, timestamp: it.timestamp, attributes: it.meta.codec, meta: encodeStoredMeta(it.meta), payload: it.payload })));
      this.#lastAppend = appending.catch(() => undefined);
      offsets = await appending;
    } catch (err) {
      this.#events.appendFailed?.(this, err);
      throw err;
    }
    this.#events.appended?.(this, Number(process.hrtime.bigint() - started) / 1e9, full.length);
    this.#noteDurable(offsets[0]!, offsets.at(-1)! + full.at(-1)!.lines, full);
    return offsets;
  }

  /** Highest stored (or in-flight) sequence of a producer, -1 if none. */
  lastSeq(producer: string): number {
    return this.#producers.get(producer)?.seq ?? -1;
  }

  /** Producer state as of the durable log (for tests and diagnostics). */
  durableProducers(): ReadonlyMap<string, { epoch: number; seq: number }> {
    return this.#durable;
  }

  /**
   * Appends what is new, skips what this producer already stored (acknowledged
   * again as a duplicate), and resolves after the covering fsync.
   */
  async ingest(items: IngestItem[]): Promise<IngestResult[]> {
    if (this.#rebuilding) await this.#rebuilding;
    const results: IngestResult[] = new Array(items.length);
    const fresh: IngestItem[] = [];
    const freshIdx: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      const st = this.#producers.get(it.meta.producer);
      if (st && it.meta.epoch < st.epoch) {
        throw new LogshipError(
          'LSH_ERR_SEQUENCE',
          `producer ${it.meta.producer} epoch ${it.meta.epoch} is stale: epoch ${st.epoch} has written since (another agent process with the same data dir?)`,
        );
      }
      if (st && it.meta.seq <= st.seq) {
        // A newer incarnation re-sending only what is stored still fences the older one.
        if (it.meta.epoch > st.epoch) {
          st.epoch = it.meta.epoch;
          applyProducer(this.#durable, it.meta.producer, it.meta.epoch, -1);
        }
        results[i] = { offset: -1, duplicate: true };
        continue;
      }
      // Claimed before the write so a concurrent retry of the same batch is seen as a duplicate
      // (in place when known: #producers' entries are its own, see clone()).
      if (st) {
        st.epoch = it.meta.epoch;
        st.seq = it.meta.seq;
      } else this.#producers.set(it.meta.producer, { epoch: it.meta.epoch, seq: it.meta.seq });
      fresh.push(it);
      freshIdx.push(i);
    }
    if (fresh.length === 0) {
      await this.#confirmDuplicates(items);
      return results;
    }
    let offsets: number[];
    const started = process.hrtime.bigint();
    try {
      const appending = this.log.append(
        fresh.map((it) => ({
          count: it.lines,
          timestamp: it.timestamp,
          attributes: it.meta.codec,
          meta: encodeStoredMeta(it.meta),
          payload: it.payload,
          payloadCrc: it.payloadCrc,
        })),
      );
      this.#lastAppend = appending.catch(() => undefined);
      offsets = await appending;
    } catch (err) {
      this.#events.appendFailed?.(this, err);
      // The claims above may now be wrong; the log is the truth.
      this.#rebuilding ??= this.#rebuildProducers()
        .catch((e) => this.#logger.error({ err: e, topic: this.topic, partition: this.partition }, 'rebuilding producer state failed'))
        .finally(() => (this.#rebuilding = undefined));
      throw err;
    }
    this.#events.appended?.(this, Number(process.hrtime.bigint() - started) / 1e9, fresh.length);
    this.#noteDurable(offsets[0]!, offsets.at(-1)! + fresh.at(-1)!.lines, fresh);
    for (let j = 0; j < fresh.length; j++) results[freshIdx[j]!] = { offset: offsets[j]!, duplicate: false };
    if (fresh.length < items.length) await this.#confirmDuplicates(items);
    return results;
  }

  /** Folds an acknowledged append into the durable state, in offset order; may schedule a snapshot. */
  #noteDurable(start: number, end: number, items: IngestItem[]): void {
    if (start > this.#durableEnd) {
      this.#stash.set(start, { end, items });
      return;
    }
    const fold = (its: IngestItem[]) => {
      for (const it of its) {
        if (it.meta.producer === PLAIN_PRODUCER) continue;
        applyProducer(this.#durable, it.meta.producer, it.meta.epoch, it.meta.seq);
        applyProducer(this.#producers, it.meta.producer, it.meta.epoch, it.meta.seq);
      }
    };
    fold(items);
    this.#durableEnd = Math.max(this.#durableEnd, end);
    for (let s = this.#stash.get(this.#durableEnd); s; s = this.#stash.get(this.#durableEnd)) {
      this.#stash.delete(this.#durableEnd);
      fold(s.items);
      this.#durableEnd = s.end;
    }
    const rolled = this.log.segmentCount !== this.#snapSegments;
    if (rolled || this.#clock() - this.#snapAt >= this.#snapInterval) void this.snapshot();
  }

  /**
   * Writes producers.json for the durable prefix (serialized; a request while
   * one is being written runs once more after it). Failures are logged: the
   * next snapshot or a longer scan at open covers them.
   */
  snapshot(): Promise<void> {
    if (this.#snapping) {
      this.#snapAgain = true;
      return this.#snapping;
    }
    this.#snapping = (async () => {
      do {
        this.#snapAgain = false;
        if (this.#durableEnd <= this.#snapOffset && this.log.segmentCount === this.#snapSegments) break;
        const offset = this.#durableEnd;
        const segments = this.log.segmentCount;
        this.#snapAt = this.#clock();
        try {
          await writeSnapshot(this.dir, { offset, producers: clone(this.#durable) }, this.#io);
          this.#snapOffset = offset;
          this.#snapSegments = segments;
        } catch (err) {
          this.#logger.warn({ err, topic: this.topic, partition: this.partition }, 'could not write the producer snapshot; the next open scans more of the log');
          break;
        }
      } while (this.#snapAgain);
    })().finally(() => (this.#snapping = undefined));
    return this.#snapping;
  }

  async #rebuildProducers(): Promise<void> {
    const m = clone(this.#durable);
    for await (const b of this.log.scanMeta(this.#durableEnd)) {
      const meta = decodeStoredMeta(b.meta);
      if (meta.producer !== PLAIN_PRODUCER) applyProducer(m, meta.producer, meta.epoch, meta.seq);
    }
    // Appends acknowledged while the scan ran are in #durable by now.
    for (const [id, e] of this.#durable) applyProducer(m, id, e.epoch, e.seq);
    this.#producers = m;
  }

  /**
   * A duplicate may be the retry of a batch whose first copy is still being
   * written: acknowledge it only once that write is fsync'd, and refuse (so the
   * producer retries) if that write failed after all.
   */
  async #confirmDuplicates(items: IngestItem[]): Promise<void> {
    await this.#lastAppend;
    if (this.#rebuilding) await this.#rebuilding;
    for (const it of items) {
      if (this.lastSeq(it.meta.producer) < it.meta.seq) {
        throw new LogshipError('LSH_ERR_UNAVAILABLE', 'an earlier write of this batch failed; retry');
      }
    }
  }

  async close(): Promise<void> {
    await this.log.close();
    if (this.#snapping) await this.#snapping;
    await this.snapshot();
  }
}

function clone(m: ProducerMap): ProducerMap {
  const c: ProducerMap = new Map();
  for (const [k, v] of m) c.set(k, { epoch: v.epoch, seq: v.seq });
  return c;
}
