import { readI64, TIME_ENTRY_BYTES, writeI64 } from './format.js';
import { IndexBuffer } from './index-buffer.js';

/**
 * Sparse time index of one segment: (maxTimestamp i64, relOffset u32) entries written together
 * with the offset index entries, so entry i of both refers to the same batch. maxTimestamp is the
 * largest batch timestamp up to and including that batch, hence non-decreasing even when batch
 * timestamps are not: if entry i has maxTimestamp < ts, no batch up to relAt(i) can match ts.
 */
export class TimeIndex extends IndexBuffer {
  constructor(initial?: Buffer) {
    super(TIME_ENTRY_BYTES, initial);
  }

  timestampAt(i: number): number {
    return readI64(this.buf, i * TIME_ENTRY_BYTES);
  }

  relAt(i: number): number {
    return this.buf.readUInt32BE(i * TIME_ENTRY_BYTES + 8);
  }

  append(maxTimestamp: number, rel: number): void {
    const at = this.reserve();
    writeI64(this.buf, maxTimestamp, at);
    this.buf.writeUInt32BE(rel, at + 8);
  }

  /**
   * Index of the last entry whose maxTimestamp is < ts (-1 when none): every batch up to and
   * including that entry's batch is older than ts, so a search for ts may start there.
   */
  lastBefore(ts: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestampAt(mid) < ts) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}
