/**
 * Stored batches -> records, for every reader (the records route, consumers,
 * sinks). Stored bytes are untrusted on the way out too: batches are inflated
 * and split on the payload workers (lib/protocol/payload-jobs.ts), bounded by
 * their declared raw length and the configured per-batch ceiling, and a batch
 * whose payload or metadata disagrees with its header (disk corruption, or a
 * zstd bomb an older version stored) is skipped: reported once through
 * `onSkipped` (the aggregator logs an ERROR and counts it), never a crash.
 * max_bytes holds inside a batch: a big batch is served across several reads.
 */
import { FLAG_METRICS } from '../../lib/protocol/batches.js';
import { timestampProblem } from '../../lib/protocol/payload.js';
import { FLAG_JSON, mergeJsonRecord } from '../../lib/protocol/json-records.js';
import type { StoredInput } from '../../lib/protocol/payload-jobs.js';
import type { PayloadPool } from '../../lib/protocol/payload-pool.js';
import { decodeStoredMeta, type StoredMeta } from './stored-meta.js';
import type { PartitionHandle } from './types.js';

/** One record as readers see it (the JSON shape of GET .../records and `logship read --format json`). */
export interface StoredRecord {
  offset: number;
  timestamp: string;
  host: string;
  source: string;
  source_offset: number;
  message: string;
  /** host-metric records: the samples; message is then empty */
  metrics?: unknown[];
  /** set on the parts of a line longer than max_line_bytes (1) and on a line flushed without newline (2) */
  flags?: number;
}

export interface SkippedBatch {
  topic: string;
  partition: number;
  baseOffset: number;
  lines: number;
  reason: string;
}

/** What a BatchDecoder gets: one storage read's usable batches (unusable metadata already stepped over). */
export interface StoredBatchesRead {
  topic: string;
  partition: number;
  /** in offset order; payloads as stored (compressed) */
  batches: StoredInput[];
  /** per batch (same order): its decoded metadata and its time (ms) */
  metas: StoredMeta[];
  timestamps: number[];
  /** first offset wanted; stop once about maxBytes of messages are covered (at least one record) */
  from: number;
  maxBytes: number;
  maxRaw: number;
  payloads: PayloadPool;
  /** The usual decoding into records, for what the decoder cannot take itself. */
  records(): Promise<{ records: StoredRecord[]; next: number }>;
}

/**
 * A reader's own decoding of stored batches (a sink building request bodies
 * on the payload workers): how many records it covered, where the next read
 * starts, its batches whose payload disagrees with the header (skipped), and
 * its value; or plain records when it declined.
 */
export type BatchDecoder = (
  read: StoredBatchesRead,
) => Promise<{ count: number; next: number; skipped: Array<{ baseOffset: number; lines: number; reason: string }>; value: unknown } | { records: StoredRecord[]; next: number }>;

export interface RecordDecoderOptions {
  payloads: PayloadPool;
  /** Largest raw (inflated) size a batch may have: limits.max_decompressed_batch_bytes. */
  maxRawBytes: number;
  /** Called once per unusable batch a read steps over. */
  onSkipped: (s: SkippedBatch) => void;
}

/** Reads past skipped (unusable) batches within one call before answering with no records. */
const SKIP_READS = 16;

export class RecordDecoder {
  #o: RecordDecoderOptions;

  constructor(opts: RecordDecoderOptions) {
    this.#o = opts;
  }

  /**
   * Records from `offset` on, about maxBytes of messages (at least one when
   * there is one); `next` is where the following read starts. Steps over
   * unusable batches (bounded), so no records with `next` at the partition's
   * end means the end of the log.
   */
  async read(p: PartitionHandle, offset: number, maxBytes: number, decode?: BatchDecoder): Promise<{ records: StoredRecord[]; next: number; decoded?: { count: number; value: unknown } }> {
    let r = await this.readOnce(p, offset, maxBytes, decode);
    for (let i = 0; r.records.length === 0 && !r.decoded?.count && r.next > offset && r.next < p.nextOffset && i < SKIP_READS; i++) {
      offset = r.next;
      r = await this.readOnce(p, offset, maxBytes, decode);
    }
    return r;
  }

  /** One storage read, decoded; may answer no records but progress when it only met unusable batches. */
  async readOnce(p: PartitionHandle, offset: number, maxBytes: number, decode?: BatchDecoder): Promise<{ records: StoredRecord[]; next: number; decoded?: { count: number; value: unknown } }> {
    const batches = await p.read(offset, maxBytes);
    const metas = new Map<number, StoredMeta>();
    const inputs: StoredInput[] = [];
    /** batches whose stored metadata is unusable: [first offset, end) */
    const bad: Array<[number, number]> = [];
    for (const b of batches) {
      let meta: StoredMeta;
      try {
        meta = decodeStoredMeta(b.meta);
        const problem = timestampProblem(b.timestamp);
        if (problem) throw new Error(`stored ${problem}`);
      } catch (err) {
        this.#o.onSkipped({ topic: p.topic, partition: p.partition, baseOffset: b.baseOffset, lines: b.count, reason: (err as Error).message });
        bad.push([b.baseOffset, b.baseOffset + b.count]);
        continue;
      }
      metas.set(b.baseOffset, meta);
      inputs.push({ payload: b.payload, codec: meta.codec, flags: meta.flags, rawLength: meta.rawLength, lines: b.count, baseOffset: b.baseOffset, sourceOffset: meta.sourceOffset });
    }
    const past = (n: number) => {
      // A skipped batch the read has reached is stepped over; one beyond what was returned is not.
      for (const [start, end] of bad) if (start <= n) n = Math.max(n, end);
      return n;
    };
    if (inputs.length === 0) return { records: [], next: past(offset) };
    const timestamps = new Map(batches.map((b) => [b.baseOffset, b.timestamp]));
    if (decode) {
      const d = await decode({
        topic: p.topic,
        partition: p.partition,
        batches: inputs,
        metas: inputs.map((b) => metas.get(b.baseOffset)!),
        timestamps: inputs.map((b) => timestamps.get(b.baseOffset)!),
        from: offset,
        maxBytes,
        maxRaw: this.#o.maxRawBytes,
        payloads: this.#o.payloads,
        records: () => this.#decode(p, inputs, metas, timestamps, offset, maxBytes, past),
      });
      if ('records' in d) return d;
      for (const s of d.skipped) this.#o.onSkipped({ topic: p.topic, partition: p.partition, baseOffset: s.baseOffset, lines: s.lines, reason: s.reason });
      return { records: [], next: past(d.next), decoded: { count: d.count, value: d.value } };
    }
    return this.#decode(p, inputs, metas, timestamps, offset, maxBytes, past);
  }

  async #decode(p: PartitionHandle, inputs: StoredInput[], metas: Map<number, StoredMeta>, timestamps: Map<number, number>, offset: number, maxBytes: number, past: (n: number) => number): Promise<{ records: StoredRecord[]; next: number }> {
    const r = await this.#o.payloads.records({ batches: inputs, from: offset, maxBytes, maxRaw: this.#o.maxRawBytes });
    for (const s of r.skipped) this.#o.onSkipped({ topic: p.topic, partition: p.partition, baseOffset: s.baseOffset, lines: s.lines, reason: s.reason });
    const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    const records: StoredRecord[] = [];
    // Batches in offset order: walk them beside the records to find each record's batch.
    let bi = 0;
    let pos = 0;
    // Per batch, not per record (sinks decode millions): its meta and its time as ISO 8601.
    let batchOf = -1;
    let meta!: StoredMeta;
    let iso = '';
    for (let k = 0; k < r.meta.length; k += 4) {
      const o = r.meta[k]!;
      while (bi + 1 < inputs.length && inputs[bi + 1]!.baseOffset <= o) bi++;
      const inp = inputs[bi]!;
      if (batchOf !== inp.baseOffset) {
        batchOf = inp.baseOffset;
        meta = metas.get(batchOf)!;
        iso = new Date(timestamps.get(batchOf)!).toISOString();
      }
      const len = r.meta[k + 2]!;
      const message = data.toString('utf8', pos, pos + len);
      pos += len;
      const rec: StoredRecord = { offset: o, timestamp: iso, host: meta.host, source: meta.source, source_offset: r.meta[k + 1]!, message };
      if (meta.flags & FLAG_JSON) mergeJsonRecord(rec as StoredRecord & Record<string, unknown>);
      else if (meta.flags & FLAG_METRICS) {
        try {
          rec.metrics = (JSON.parse(message) as { metrics: unknown[] }).metrics;
          rec.message = '';
        } catch {
          /* keep the raw text: better than losing the record */
        }
      }
      const f = r.meta[k + 3]!;
      if (f) rec.flags = f;
      records.push(rec);
    }
    return { records, next: past(r.next) };
  }
}
