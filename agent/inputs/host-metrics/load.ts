import { fields } from './read-file.js';
import type { Collector, ScrapeContext } from './types.js';

/** /proc/loadavg -> [load1, load5, load15]. */
export function parseLoadavg(text: string): [number, number, number] {
  const f = fields(text.trim());
  if (f.length < 3) throw new Error(`unexpected /proc/loadavg content: ${JSON.stringify(text.slice(0, 80))}`);
  const v = [Number(f[0]), Number(f[1]), Number(f[2])] as [number, number, number];
  if (!v.every(Number.isFinite)) throw new Error(`unexpected /proc/loadavg content: ${JSON.stringify(text.slice(0, 80))}`);
  return v;
}

/** `loadavg` collector: node_load1, node_load5, node_load15. */
export class LoadCollector implements Collector {
  readonly name = 'loadavg';

  describeSources(): string {
    return 'loadavg (procfs)';
  }

  collect(ctx: ScrapeContext): void {
    const [l1, l5, l15] = parseLoadavg(ctx.readProc('loadavg'));
    ctx.emit({ name: 'node_load1', labels: {}, value: l1, help: '1m load average.', type: 'gauge' });
    ctx.emit({ name: 'node_load5', labels: {}, value: l5, help: '5m load average.', type: 'gauge' });
    ctx.emit({ name: 'node_load15', labels: {}, value: l15, help: '15m load average.', type: 'gauge' });
  }
}
