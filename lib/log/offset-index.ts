import { OFFSET_ENTRY_BYTES } from './format.js';
import { IndexBuffer } from './index-buffer.js';

/**
 * Sparse offset index of one segment: (relOffset u32, position u32) entries, both strictly
 * increasing. See format.ts for when entries are added.
 */
export class OffsetIndex extends IndexBuffer {
  constructor(initial?: Buffer) {
    super(OFFSET_ENTRY_BYTES, initial);
  }

  relAt(i: number): number {
    return this.buf.readUInt32BE(i * OFFSET_ENTRY_BYTES);
  }

  positionAt(i: number): number {
    return this.buf.readUInt32BE(i * OFFSET_ENTRY_BYTES + 4);
  }

  append(rel: number, position: number): void {
    const at = this.reserve();
    this.buf.writeUInt32BE(rel, at);
    this.buf.writeUInt32BE(position, at + 4);
  }

  /** Position of the last indexed batch starting at or before `rel` (0 when none). */
  lookup(rel: number): number {
    const i = this.floorIndex(rel);
    return i < 0 ? 0 : this.positionAt(i);
  }

  /** Index of the last entry with relAt(i) <= rel, or -1. */
  floorIndex(rel: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.relAt(mid) <= rel) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Position of the last entry, 0 when empty (position 0 is implicitly indexed). */
  lastPosition(): number {
    return this.count === 0 ? 0 : this.positionAt(this.count - 1);
  }

  /** Drops entries for frames at or past `position` (after a truncate of the .log). */
  truncateToPosition(position: number): void {
    let n = this.count;
    while (n > 0 && this.positionAt(n - 1) >= position) n--;
    this.truncate(n);
  }
}
