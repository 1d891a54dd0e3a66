/**
 * The descriptor budget of one file input (max_open_files): open tailers plus
 * opens in progress. When it is spent, the least recently grown idle file
 * (caught up, nothing partial, not rotated away, not being read) is parked:
 * closed, and reopened by identity when it changes. Paths that find no room
 * are queued and opened as descriptors free up.
 */
import type { Tailer } from './tailer.js';

export class DescriptorBudget {
  readonly max: number;
  /** descriptors being opened right now (they count against the budget) */
  opening = 0;
  /** paths to open as soon as a descriptor is free */
  readonly queued = new Set<string>();

  constructor(max: number) {
    this.max = max;
  }

  hasRoom(open: number): boolean {
    return open + this.opening < this.max;
  }

  /** The tailer to park to free a descriptor, if any may be closed. */
  victim(tailers: Iterable<Tailer>): Tailer | undefined {
    let victim: Tailer | undefined;
    for (const t of tailers) {
      if (t.detached || t.busy || t.hasPartial || t.readOffset < t.size) continue;
      if (!victim || t.lastGrowth < victim.lastGrowth) victim = t;
    }
    return victim;
  }
}
