import type { Logger } from '../obs/logger.js';
import type { FsSeam } from './io.js';

export interface AppendInput {
  /** Number of records (lines) in this batch, >= 1; offsets advance by count. */
  count: number;
  /** Milliseconds since the epoch; used by the time index. */
  timestamp: number;
  /** u16 opaque flags (bits 0..2: compression codec); the log does not interpret them. */
  attributes: number;
  /** Opaque metadata (<= 64 KiB), stored verbatim. */
  meta: Buffer;
  /** Opaque payload, stored verbatim (usually zstd-compressed lines). */
  payload: Buffer;
  /**
   * CRC-32C of `payload` when the caller has just verified it (the wire's): the frame's CRC is
   * then combined from it instead of reading the payload again. Undefined: computed here.
   */
  payloadCrc?: number;
}

export interface StoredBatch {
  baseOffset: number;
  count: number;
  timestamp: number;
  attributes: number;
  meta: Buffer;
  payload: Buffer;
  /** Bytes this batch occupies on disk including framing. */
  size: number;
}

export interface BatchMeta {
  baseOffset: number;
  count: number;
  timestamp: number;
  attributes: number;
  meta: Buffer;
}

export interface SegmentLogOptions {
  /** Directory holding the segments; created if missing. One SegmentLog per directory. */
  dir: string;
  /** Roll when the active segment would exceed this many bytes; default 128 MiB. */
  segmentBytes?: number;
  /** Roll when the active segment is older than this (checked on append); default 7 days. */
  segmentMs?: number;
  /** A sparse offset/time index entry every this many bytes; default 64 KiB. */
  indexIntervalBytes?: number;
  /** fdatasync before acknowledging appends; default true; false only for benchmarks/tests. */
  fsync?: boolean;
  /** The fs seam all log-file I/O goes through; default realFs. */
  io?: FsSeam;
  /** Where recovery and I/O problems are reported; default silent. */
  logger?: Logger;
  /** Injected clock (ms since the epoch) for segment age; default Date.now. */
  clock?: () => number;
  /** Open-time check: 'tail' (default) reads each segment from its last index entry on; 'full' reads every frame. */
  verifyOnOpen?: 'tail' | 'full';
  /** Most descriptors held open for non-active segments (LRU); default 16. */
  maxOpenSegments?: number;
}

export interface RecoveryReport {
  segments: number;
  /** Torn tail bytes cut from the last segment. */
  truncatedBytes: number;
  /** File names of segments moved aside as corrupt. */
  quarantined: string[];
  /** Segments whose index files were rebuilt or repaired. */
  rebuiltIndexes: number;
}

export interface RetentionResult {
  segmentsDeleted: number;
  bytesDeleted: number;
}
