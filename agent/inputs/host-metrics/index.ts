/**
 * host_metrics input: node_exporter-compatible host metrics (names, labels,
 * units and default exclusions of prometheus-node-exporter 1.5.0), scraped
 * from procfs/sysfs every `interval` ms. See docs/host-metrics.md.
 */
import { join } from 'node:path';
import type { Logger } from '../../../lib/obs/logger.js';
import { CpuCollector } from './cpu.js';
import { DiskCollector } from './disk.js';
import { FilesystemCollector, type StatfsFn } from './filesystem.js';
import { LoadCollector } from './load.js';
import { MemoryCollector } from './memory.js';
import { NetworkCollector } from './network.js';
import { FileReader } from './read-file.js';
import { StatCollector } from './stat.js';
import { TimeCollector } from './time.js';
import type { Collector, Metric, ScrapeContext } from './types.js';

export type { Metric, MetricType } from './types.js';
export { renderPrometheus } from './render.js';
export { DEFAULT_DISK_DEVICE_EXCLUDE } from './disk.js';
export { DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE, DEBIAN_MOUNT_POINTS_EXCLUDE } from './filesystem.js';
export { DEFAULT_NETDEV_DEVICE_EXCLUDE, DEBIAN_NETDEV_DEVICE_EXCLUDE } from './network.js';

/** Collector names, in output order. */
export const COLLECTORS = ['cpu', 'meminfo', 'loadavg', 'filesystem', 'diskstats', 'netdev', 'stat', 'time'] as const;
export type CollectorName = (typeof COLLECTORS)[number];

export const COLLECTOR_ERRORS_METRIC = 'logship_host_metrics_collector_errors_total';

export interface Scrape {
  /** ms since the epoch (the injected clock) when the scrape started */
  timestamp: number;
  metrics: Metric[];
}

export interface HostMetricsOptions {
  /** Input name (for logs). */
  name: string;
  /** Topic the records go to (carried for the caller; not used here). */
  topic: string;
  /** Scrape interval in ms. */
  interval: number;
  /** Where procfs is mounted, e.g. `/proc` or `/host/proc` in a container. */
  procRoot: string;
  /** Where sysfs is mounted, e.g. `/sys` or `/host/sys`. */
  sysRoot: string;
  /** The host's root file system, e.g. `/` or `/host` (statfs targets and udev data live under it). */
  rootfs: string;
  logger?: Logger;
  /** ms since the epoch; default Date.now. */
  clock?: () => number;
  onScrape: (scrape: Scrape) => void;
  /** Enabled collectors; default all of COLLECTORS. */
  collectors?: readonly CollectorName[];
  /** node_exporter flag equivalents; defaults are upstream node_exporter 1.5.0's. */
  filesystem?: { mountPointsExclude?: RegExp; fsTypesExclude?: RegExp; mountTimeoutMs?: number; statfs?: StatfsFn };
  diskstats?: { deviceExclude?: RegExp; udevDataPath?: string };
  netdev?: { deviceExclude?: RegExp; deviceInclude?: RegExp };
}

interface CollectorState {
  collector: Collector;
  errors: number;
  warned: boolean;
  failing: boolean;
}

type WarnLogger = Pick<Logger, 'warn' | 'info' | 'debug' | 'error'>;

const NOOP_LOGGER: WarnLogger = { warn() {}, info() {}, debug() {}, error() {} } as unknown as WarnLogger;

export class HostMetricsInput {
  readonly #opts: HostMetricsOptions;
  readonly #log: WarnLogger;
  readonly #clock: () => number;
  readonly #states: CollectorState[];
  readonly #reader = new FileReader();
  #latest: Scrape | undefined;
  #timer: NodeJS.Timeout | undefined;
  #startAt = 0;
  #started = false;
  #closed = false;
  #inflight: Promise<void> | undefined;

  constructor(opts: HostMetricsOptions) {
    if (!(opts.interval > 0)) throw new RangeError(`host_metrics ${opts.name}: interval must be > 0 ms, got ${opts.interval}`);
    this.#opts = opts;
    this.#log = opts.logger ?? NOOP_LOGGER;
    this.#clock = opts.clock ?? Date.now;
    const enabled = new Set<string>(opts.collectors ?? COLLECTORS);
    const all: Record<CollectorName, () => Collector> = {
      cpu: () => new CpuCollector(),
      meminfo: () => new MemoryCollector(),
      loadavg: () => new LoadCollector(),
      filesystem: () => new FilesystemCollector(opts.filesystem),
      diskstats: () =>
        new DiskCollector({
          deviceExclude: opts.diskstats?.deviceExclude,
          udevDataPath: opts.diskstats?.udevDataPath ?? join(opts.rootfs, 'run/udev/data'),
        }),
      netdev: () => new NetworkCollector(opts.netdev),
      stat: () => new StatCollector(),
      time: () => new TimeCollector(),
    };
    this.#states = COLLECTORS.filter((c) => enabled.has(c)).map((c) => ({ collector: all[c](), errors: 0, warned: false, failing: false }));
  }

  /** Scrape now and then at start + k*interval (missed ticks are skipped, never bunched). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#startAt = this.#clock();
    void this.#tick();
  }

  /** Stop the schedule and wait for a scrape in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inflight;
    this.#reader.close();
  }

  latest(): Scrape | undefined {
    return this.#latest;
  }

  /** One scrape of every enabled collector. Never rejects: a failing collector is counted and skipped. */
  async scrape(): Promise<Scrape> {
    const timestamp = this.#clock();
    const memo = new Map<string, string>();
    const used = new Set<string>();
    const reader = this.#reader;
    const { procRoot, sysRoot, rootfs } = this.#opts;
    const perCollector: Metric[][] = this.#states.map(() => []);
    const shared: Omit<ScrapeContext, 'emit'> = {
      procRoot,
      sysRoot,
      rootfs,
      now: timestamp,
      readProc(rel: string): string {
        let t = memo.get(rel);
        if (t === undefined) {
          const path = join(procRoot, rel);
          used.add(path);
          t = reader.readKeepOpen(path);
          memo.set(rel, t);
        }
        return t;
      },
      readSys(rel: string): string {
        const path = join(sysRoot, rel);
        used.add(path);
        return reader.readKeepOpen(path);
      },
      readFile: (abs: string) => reader.read(abs),
    };
    // Sync collectors run back to back without promise overhead; an async one
    // (filesystem) is awaited together at the end. Each collector emits into
    // its own list so a failure can drop exactly its partial output.
    const pending: Promise<void>[] = [];
    this.#states.forEach((st, i) => {
      const mine = perCollector[i]!;
      const ctx: ScrapeContext = {
        procRoot,
        sysRoot,
        rootfs,
        now: timestamp,
        readProc: shared.readProc,
        readSys: shared.readSys,
        readFile: shared.readFile,
        emit: (m: Metric) => void mine.push(m),
      };
      let r: void | Promise<void>;
      try {
        r = st.collector.collect(ctx);
      } catch (err) {
        this.#failed(st, mine, err);
        return;
      }
      if (r instanceof Promise) {
        pending.push(
          r.then(
            () => this.#succeeded(st),
            (err: unknown) => this.#failed(st, mine, err),
          ),
        );
      } else {
        this.#succeeded(st);
      }
    });
    if (pending.length > 0) await Promise.all(pending);
    // drop descriptors of files that are gone from this scrape (removed NICs, ...)
    reader.release((p) => used.has(p));
    const metrics: Metric[] = [];
    for (const list of perCollector) for (let i = 0; i < list.length; i++) metrics.push(list[i]!);
    for (const st of this.#states) {
      metrics.push({
        name: COLLECTOR_ERRORS_METRIC,
        labels: { collector: st.collector.name },
        value: st.errors,
        help: 'Scrapes in which this host_metrics collector failed (its metrics were left out).',
        type: 'counter',
      });
    }
    const scrape = { timestamp, metrics };
    this.#latest = scrape;
    return scrape;
  }

  #succeeded(st: CollectorState): void {
    if (st.failing) {
      st.failing = false;
      this.#log.info({ input: this.#opts.name, collector: st.collector.name }, `host_metrics collector ${st.collector.name} works again`);
    }
  }

  #failed(st: CollectorState, out: Metric[], err: unknown): void {
    out.length = 0; // no partial families
    st.errors++;
    st.failing = true;
    this.#reportFailure(st, err);
  }

  #reportFailure(st: CollectorState, err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    const detail = { input: this.#opts.name, collector: st.collector.name, file: e?.path, code: e?.code, err: e?.message ?? String(err) };
    if (st.warned) {
      this.#log.debug(detail, `host_metrics collector ${st.collector.name} failed again`);
      return;
    }
    st.warned = true;
    let hint: string;
    if (e?.code === 'ENOENT' || e?.code === 'ENOTDIR') {
      hint = `check that procfs/sysfs are mounted where proc_root (${this.#opts.procRoot}) and sys_root (${this.#opts.sysRoot}) point; in a container, bind-mount the host's /proc and /sys (e.g. at /host/proc, /host/sys) and set them`;
    } else if (e?.code === 'EACCES' || e?.code === 'EPERM') {
      hint = 'give the agent read access to that file (run it as a user that can read it, or relax the container\'s /proc masking)';
    } else {
      hint = 'the file has an unexpected format for this kernel; please report it with the file attached';
    }
    this.#log.warn(
      { ...detail, hint },
      `host_metrics collector ${st.collector.name} failed reading ${e?.path ?? st.collector.describeSources()}: ${e?.message ?? String(err)}; its metrics are left out and counted in ${COLLECTOR_ERRORS_METRIC}{collector="${st.collector.name}"} (warned once). ${hint}`,
    );
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    this.#timer = undefined;
    const p = this.#runOnce();
    this.#inflight = p;
    await p;
    if (this.#closed) return;
    const now = this.#clock();
    const interval = this.#opts.interval;
    const k = Math.floor((now - this.#startAt) / interval) + 1;
    const next = this.#startAt + k * interval;
    this.#timer = setTimeout(() => void this.#tick(), Math.max(0, next - now));
    this.#timer.unref?.();
  }

  async #runOnce(): Promise<void> {
    let scrape: Scrape;
    try {
      scrape = await this.scrape();
    } catch (err) {
      this.#log.error({ input: this.#opts.name, err }, 'host_metrics scrape failed');
      return;
    }
    try {
      this.#opts.onScrape(scrape);
    } catch (err) {
      this.#log.error({ input: this.#opts.name, err }, 'host_metrics onScrape handler threw');
    }
  }
}
