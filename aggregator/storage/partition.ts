/**
 * One partition: a segment log plus the idempotent-producer state kept beside
 * it. The producer state is derived from the stored batches' meta (each holds
 * producer, epoch and sequence), so it can never disagree with the log: it is
 * rebuilt by scanning at open and after any failed append.
 */
import { SegmentLog } from '../../lib/log/index.js';
import type { Logger } from '../../lib/obs/logger.js';
import { LogshipError } from '../../lib/errors.js';
import { decodeStoredMeta, encodeStoredMeta, type StoredMeta } from './stored-meta.js';

export interface PartitionOptions {
  dir: string;
  topic: string;
  partition: number;
  segmentBytes: number;
  segmentMs: number;
  fsync: boolean;
  logger: Logger;
}

export interface IngestItem {
  meta: StoredMeta;
  payload: Buffer;
  lines: number;
  timestamp: number;
}

export interface IngestResult {
  offset: number;
  duplicate: boolean;
}

interface ProducerState {
  epoch: number;
  seq: number;
}

export class Partition {
  readonly topic: string;
  readonly partition: number;
  readonly log: SegmentLog;
  #producers = new Map<string, ProducerState>();
  #rebuilding: Promise<void> | undefined;
  #lastAppend: Promise<unknown> = Promise.resolve();
  #logger: Logger;

  private constructor(opts: PartitionOptions, log: SegmentLog) {
    this.topic = opts.topic;
    this.partition = opts.partition;
    this.log = log;
    this.#logger = opts.logger;
  }

  static async open(opts: PartitionOptions): Promise<Partition> {
    const log = await SegmentLog.open({
      dir: opts.dir,
      segmentBytes: opts.segmentBytes,
      segmentMs: opts.segmentMs,
      fsync: opts.fsync,
      logger: opts.logger,
    });
    const p = new Partition(opts, log);
    const rec = log.recovery;
    if (rec.truncatedBytes > 0 || rec.quarantined.length > 0) {
      opts.logger.warn(
        { topic: opts.topic, partition: opts.partition, cut_bytes: rec.truncatedBytes, quarantined: rec.quarantined },
        'partition recovered: a torn tail was cut and/or corrupt segments were quarantined; producers re-send what was not acknowledged',
      );
    }
    await p.#rebuildProducers();
    return p;
  }

  async #rebuildProducers(): Promise<void> {
    const producers = new Map<string, ProducerState>();
    for await (const b of this.log.scanMeta(this.log.firstOffset)) {
      const m = decodeStoredMeta(b.meta);
      const cur = producers.get(m.producer);
      if (!cur || m.seq > cur.seq) producers.set(m.producer, { epoch: Math.max(m.epoch, cur?.epoch ?? 0), seq: m.seq });
    }
    this.#producers = producers;
  }

  /** Highest stored (or in-flight) sequence of a producer, -1 if none. */
  lastSeq(producer: string): number {
    return this.#producers.get(producer)?.seq ?? -1;
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
        results[i] = { offset: -1, duplicate: true };
        continue;
      }
      // Claimed before the write so a concurrent retry of the same batch is seen as a duplicate.
      this.#producers.set(it.meta.producer, { epoch: it.meta.epoch, seq: it.meta.seq });
      fresh.push(it);
      freshIdx.push(i);
    }
    if (fresh.length === 0) {
      await this.#confirmDuplicates(items);
      return results;
    }
    let offsets: number[];
    try {
      const appending = this.log.append(
        fresh.map((it) => ({
          count: it.lines,
          timestamp: it.timestamp,
          attributes: it.meta.codec,
          meta: encodeStoredMeta(it.meta),
          payload: it.payload,
        })),
      );
      this.#lastAppend = appending.catch(() => undefined);
      offsets = await appending;
    } catch (err) {
      // The claims above may now be wrong; the log is the truth.
      this.#rebuilding ??= this.#rebuildProducers()
        .catch((e) => this.#logger.error({ err: e }, 'rebuilding producer state failed'))
        .finally(() => (this.#rebuilding = undefined));
      throw err;
    }
    for (let j = 0; j < fresh.length; j++) results[freshIdx[j]!] = { offset: offsets[j]!, duplicate: false };
    if (fresh.length < items.length) await this.#confirmDuplicates(items);
    return results;
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

  close(): Promise<void> {
    return this.log.close();
  }
}
