/**
 * The storage seam: what the aggregator's routes, consumers and sinks may use
 * of a storage backend. `local` (LocalStorage: segment logs on disk) is the
 * one implementation today; a JetStream store implements the same interfaces
 * and runs the same contract suite (test/contract/storage.contract.ts).
 *
 * Nothing outside aggregator/storage/ touches lib/log's SegmentLog: a stored
 * batch leaves storage as a StoredBatch (opaque meta and payload bytes, which
 * the storage's record decoder turns into records).
 */
import type { StoredMeta } from './stored-meta.js';

export interface TopicSettings {
  partitions: number;
  retention: number;
  retention_bytes: number;
  segment_bytes: number;
  segment_ms: number;
}

export interface PartitionStats {
  partition: number;
  first_offset: number;
  next_offset: number;
  bytes: number;
}

/** One batch to append: `meta.producer/epoch/seq` make it idempotent (see PartitionHandle.append). */
export interface IngestItem {
  meta: StoredMeta;
  payload: Buffer;
  lines: number;
  timestamp: number;
  /** CRC-32C of the payload, verified on receipt (the wire's): spares the store a pass over it */
  payloadCrc?: number;
}

/** One batch to append without a producer (_bulk, produce, dead letters): never deduplicated. */
export interface PlainItem {
  meta: Omit<StoredMeta, 'producer' | 'epoch' | 'seq'>;
  payload: Buffer;
  lines: number;
  timestamp: number;
}

export interface IngestResult {
  /** offset of the batch's first record; -1 for a duplicate */
  offset: number;
  duplicate: boolean;
}

/** A stored batch as read back: offsets `baseOffset .. baseOffset + count - 1`. */
export interface StoredBatch {
  baseOffset: number;
  count: number;
  timestamp: number;
  /** encoded StoredMeta (decodeStoredMeta); untrusted like everything read back */
  meta: Buffer;
  payload: Buffer;
}

export interface PartitionHandle {
  readonly topic: string;
  readonly partition: number;
  /** Oldest offset still stored (retention moves it forward). */
  readonly firstOffset: number;
  /** Offset the next appended record gets (exclusive end). */
  readonly nextOffset: number;
  /** Bytes stored. */
  readonly bytes: number;
  /**
   * Idempotent append: a batch whose producer already stored its sequence is
   * acknowledged as a duplicate; an epoch below the producer's latest is
   * fenced (LSH_ERR_SEQUENCE). Resolves once durable.
   */
  append(items: IngestItem[]): Promise<IngestResult[]>;
  /** Plain append (no producer): resolves with each batch's first offset once durable. */
  appendPlain(items: PlainItem[]): Promise<number[]>;
  /** Highest sequence stored (or being stored) for a producer, -1 if none. */
  lastSeq(producer: string): number;
  /** Batches from the one holding `offset` on, about maxBytes (at least one if any); LSH_ERR_OFFSET_OUT_OF_RANGE below firstOffset or past nextOffset. */
  read(offset: number, maxBytes: number): Promise<StoredBatch[]>;
  /** Resolves true once nextOffset > offset, false at the timeout, on abort or on close. */
  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** First offset whose batch timestamp is >= ts (nextOffset if none). */
  offsetForTimestamp(ts: number): Promise<number>;
}

export interface TopicHandle {
  readonly name: string;
  readonly settings: TopicSettings;
  readonly partitions: readonly PartitionHandle[];
}

export interface RetentionReport {
  segmentsDeleted: number;
  bytesDeleted: number;
  partitions: Array<{ topic: string; partition: number; first_offset: number; segments: number }>;
}

export interface Storage {
  /** Learns the stored topics and recovers what it opens; before any other call. */
  open(): Promise<void>;
  /** Idempotent; pending waitForData calls resolve false. */
  close(): Promise<void>;
  /** Topics stored or being created. */
  count(): number;
  has(name: string): boolean;
  /** Every topic name, sorted. */
  names(): string[];
  /** The topic if it is open now (gauges, hot paths); otherwise acquire(). */
  get(name: string): TopicHandle | undefined;
  /** Open topics, sorted by name. */
  list(): TopicHandle[];
  /** Offsets per partition (as of its close for a closed topic; undefined: not opened since start). */
  stats(name: string): PartitionStats[] | undefined;
  /** The topic, opened (or created with the configured settings when `create`) and held until release(). */
  acquire(name: string, create: boolean): Promise<TopicHandle | undefined>;
  /** acquire() without a promise when the topic is open now (the ingest hot path); undefined: use acquire(). */
  acquireOpen?(name: string): TopicHandle | undefined;
  release(name: string): void;
  /** acquire + fn + release. */
  withTopic<T>(name: string, create: boolean, fn: (t: TopicHandle | undefined) => Promise<T> | T): Promise<T>;
  /** Deletes what is past each topic's retention (whole units: never a record the next read needs). */
  applyRetention(): Promise<RetentionReport>;
  /**
   * Brings names() and stats() up to date with what other writers did (a
   * shared backend such as JetStream); listings call it first. Local storage
   * is always current and has none.
   */
  refreshStats?(): Promise<void>;
}
