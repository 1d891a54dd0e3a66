/** The segment log: the agent's disk buffer and every aggregator partition (format: format.ts). */
export { SegmentLog } from './segment-log.js';
export type { AppendInput, BatchMeta, RecoveryReport, RetentionResult, SegmentLogOptions, StoredBatch } from './types.js';
export { writeFileAtomic, readFileIfExists } from './atomic-file.js';
export { crc32c } from './crc32c.js';
export { FRAME_HEADER_BYTES } from './format.js';
export { realFs, type FsSeam, type FsStat } from './io.js';
