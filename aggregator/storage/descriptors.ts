/**
 * The descriptor budget: every open partition holds about FDS_PER_PARTITION
 * descriptors (the active segment's log, offset index and time index), client
 * connections one each up to their cap (limits.max_connections: the listening
 * server closes any beyond it at accept), and workers, reads and the rest need
 * RESERVE more. Checked against the soft `ulimit -n` (RLIMIT_NOFILE, read from
 * /proc/self/limits) at start and before a topic is created, so neither the
 * aggregator itself nor a flood of connections runs storage into EMFILE.
 */
import { readFileSync } from 'node:fs';

export const FDS_PER_PARTITION = 3;
export const RESERVE = 256;
/** The least limits.max_connections defaults to, however low ulimit -n is. */
export const MIN_CONNECTIONS = 64;

/**
 * Client connections a listening process accepts at once when limits.max_connections is not set:
 * what ulimit -n leaves after the reserve and `partitions` open partitions (limits.max_topics x
 * topics.default.partitions: what the operator configured storage for comes first), but at least a
 * quarter of what it leaves after the reserve (a limit too small for those partitions still takes
 * agents; partitions are then opened least recently used first), and at least MIN_CONNECTIONS; no
 * cap where the limit cannot be read.
 */
export function defaultMaxConnections(limit: number | undefined, partitions: number): number | undefined {
  if (limit === undefined) return undefined;
  const free = limit - RESERVE;
  return Math.max(MIN_CONNECTIONS, Math.floor(free / 4), free - partitions * FDS_PER_PARTITION);
}

/** A listening process's connection cap from its config: limits.max_connections, or the default above. */
export function connectionCap(
  cfg: { limits: { max_connections?: number; max_topics: number }; topics: { default: { partitions: number } } },
  limit = openFilesLimit(),
): number | undefined {
  return cfg.limits.max_connections ?? defaultMaxConnections(limit, cfg.limits.max_topics * cfg.topics.default.partitions);
}

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
  /** descriptors kept for client connections (this process's connection cap; 0 when it accepts none) */
  readonly connections: number;
  constructor(limit = openFilesLimit(), connections = 0) {
    this.limit = limit;
    this.connections = connections;
  }

  /** Partitions that fit beside the reserve and the connections. */
  get partitions(): number {
    return this.limit === undefined ? Number.MAX_SAFE_INTEGER : Math.max(0, Math.floor((this.limit - RESERVE - this.connections) / FDS_PER_PARTITION));
  }

  /** Why `more` partitions cannot be opened next to `open` ones, or undefined. */
  problem(open: number, more: number): string | undefined {
    if (open + more <= this.partitions) return undefined;
    const beside = this.connections > 0 ? ` beside ${this.connections} for connections (limits.max_connections)` : '';
    return `opening ${more} more partition(s) next to ${open} would need about ${(open + more) * FDS_PER_PARTITION + RESERVE + this.connections} file descriptors${beside}; ulimit -n is ${this.limit}: raise LimitNOFILE (systemd) or ulimit -n, or lower limits.max_topics`;
  }
}
