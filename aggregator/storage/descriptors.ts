/**
 * The descriptor budget: every open partition holds about FDS_PER_PARTITION
 * descriptors (the active segment's log, offset index and time index), and
 * connections, workers and reads need RESERVE more. Checked against the soft
 * `ulimit -n` (RLIMIT_NOFILE, read from /proc/self/limits) at start and before
 * a topic is created, so the aggregator never runs into EMFILE by itself.
 */
import { readFileSync } from 'node:fs';

export const FDS_PER_PARTITION = 3;
export const RESERVE = 256;

/** The soft limit on open files, or undefined where /proc is not readable (then nothing is checked). */
export function openFilesLimit(procLimits = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(procLimits, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export class DescriptorBudget {
  readonly limit: number | undefined;
  constructor(limit = openFilesLimit()) {
    this.limit = limit;
  }

  /** Partitions that fit beside the reserve. */
  get partitions(): number {
    return this.limit === undefined ? Number.MAX_SAFE_INTEGER : Math.max(0, Math.floor((this.limit - RESERVE) / FDS_PER_PARTITION));
  }

  /** Why `more` partitions cannot be opened next to `open` ones, or undefined. */
  problem(open: number, more: number): string | undefined {
    if (open + more <= this.partitions) return undefined;
    return `opening ${more} more partition(s) next to ${open} would need about ${(open + more) * FDS_PER_PARTITION + RESERVE} file descriptors; ulimit -n is ${this.limit}: raise LimitNOFILE (systemd) or ulimit -n, or lower limits.max_topics`;
  }
}
