/**
 * Shared types for the host_metrics input. Metric names, labels and units
 * follow prometheus-node-exporter 1.5.0 (see docs/host-metrics.md).
 */

export type MetricType = 'counter' | 'gauge';

/**
 * One sample. `labels` keys are Prometheus label names, values raw (unescaped).
 * Treat as immutable: samples of one scrape may share a `labels` object.
 */
export interface Metric {
  name: string;
  labels: Record<string, string>;
  value: number;
  help?: string;
  type?: MetricType;
}

/** What a collector gets for one scrape: file access scoped to the configured roots. */
export interface ScrapeContext {
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly rootfs: string;
  /** Wall-clock time of this scrape, ms since the epoch (the injected clock). */
  readonly now: number;
  /**
   * Read a file under procRoot (path relative to it, e.g. `stat`) as latin1
   * text. Memoised for the duration of one scrape, so two collectors reading
   * /proc/stat cost one read. Throws the fs error (ENOENT, EACCES, ...).
   */
  readProc(rel: string): string;
  /** Read a file under sysRoot (path relative to it). Throws the fs error. */
  readSys(rel: string): string;
  /** Read any absolute path (opened and closed each time). Throws the fs error. */
  readFile(abs: string): string;
  /** Append a sample. */
  emit(m: Metric): void;
}

export interface Collector {
  /** Stable collector name, used in logs and in logship_host_metrics_collector_errors_total{collector}. */
  readonly name: string;
  /** Files the collector depends on (for the one-time warning), relative to procRoot/sysRoot or absolute. */
  describeSources(): string;
  collect(ctx: ScrapeContext): void | Promise<void>;
}
