import { fields } from './read-file.js';
import type { Collector, ScrapeContext } from './types.js';

/** /proc/uptime -> seconds since boot (first field). */
export function parseUptime(text: string): number {
  const v = Number(fields(text.trim())[0]);
  if (!Number.isFinite(v)) throw new Error(`unexpected /proc/uptime content: ${JSON.stringify(text.slice(0, 80))}`);
  return v;
}

/**
 * node_time_seconds (node_exporter's `time` collector: wall clock at scrape,
 * here the injected clock) and logship_host_uptime_seconds (/proc/uptime;
 * node_exporter has no uptime metric, its dashboards use
 * node_time_seconds - node_boot_time_seconds).
 */
export class TimeCollector implements Collector {
  readonly name = 'time';

  describeSources(): string {
    return 'uptime (procfs)';
  }

  collect(ctx: ScrapeContext): void {
    ctx.emit({ name: 'node_time_seconds', labels: {}, value: ctx.now / 1000, help: 'System time in seconds since epoch (1970).', type: 'gauge' });
    ctx.emit({ name: 'logship_host_uptime_seconds', labels: {}, value: parseUptime(ctx.readProc('uptime')), help: 'Seconds since the host booted (/proc/uptime), as seen by the logship agent.', type: 'gauge' });
  }
}
