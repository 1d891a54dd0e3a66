/**
 * How a Consumer reaches the log: in-process (LocalTransport, for sinks and
 * the alert engine inside the aggregator) or over HTTP (HttpTransport, for
 * `logship read`). Both answer the same questions; the loop in index.ts does
 * not know which one it runs on.
 */
import type { BatchDecoder, StoredRecord } from '../storage/record-decoder.js';

export interface PartitionRange {
  partition: number;
  first_offset: number;
  next_offset: number;
}

export interface FetchResult {
  records: StoredRecord[];
  /** where the next fetch starts (past skipped batches too) */
  next: number;
  /** the partition's next_offset as of the fetch (for lag) */
  highWatermark: number;
  /** with FetchOptions.decode: what it made of the stored batches (records is then empty) and how many records that covers */
  decoded?: { count: number; value: unknown };
}

export interface FetchOptions {
  maxBytes: number;
  waitMs: number;
  signal?: AbortSignal;
  /** A sink's own decoding of the stored batches (in-process transports; others return records). */
  decode?: BatchDecoder;
}

/** Where a fetch starts: an offset, or the first batch at or after a time (ms since epoch or ISO 8601). */
export type FetchFrom = number | { since: string };

export interface ConsumerTransport {
  /** The topic's partitions with their offsets now; undefined if there is no such topic. */
  partitions(topic: string): Promise<PartitionRange[] | undefined>;
  /** The group's committed offsets of the topic (partition -> next offset to read). */
  committed(group: string, topic: string): Promise<Map<number, number>>;
  commit(group: string, topic: string, partition: number, offset: number): Promise<void>;
  /**
   * Records from `from`, about maxBytes; waits up to waitMs for the first
   * record when there is none yet. LSH_ERR_OFFSET_OUT_OF_RANGE when the offset
   * is no longer (or not yet) stored.
   */
  fetch(topic: string, partition: number, from: FetchFrom, opts: FetchOptions): Promise<FetchResult>;
}
