import { fields } from './read-file.js';
import type { Collector, ScrapeContext } from './types.js';

/**
 * Parse /proc/meminfo into node_exporter metric names -> values:
 * `Active(anon):  123 kB` -> `Active_anon_bytes` = 123*1024;
 * `HugePages_Total:  0` (no unit) -> `HugePages_Total` = 0.
 * Blank lines (seen on some CentOS 6 kernels) are skipped.
 */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const f = fields(text.slice(pos, end));
    pos = end + 1;
    if (f.length < 2) continue;
    let key = f[0]!;
    if (key.endsWith(':')) key = key.slice(0, -1);
    const open = key.indexOf('(');
    if (open >= 0) {
      const close = key.lastIndexOf(')');
      // node_exporter: regexp `\((.*)\)` replaced by `_$1`
      if (close > open) key = key.slice(0, open) + '_' + key.slice(open + 1, close) + key.slice(close + 1);
    }
    let v = Number(f[1]);
    if (!Number.isFinite(v)) continue;
    if (f.length === 3) {
      v *= 1024; // the kernel's "kB" is KiB
      key += '_bytes';
    } else if (f.length !== 2) {
      continue;
    }
    out.set(key, v);
  }
  return out;
}

/** `meminfo` collector: one gauge node_memory_<Field>[_bytes] per /proc/meminfo line. */
export class MemoryCollector implements Collector {
  readonly name = 'meminfo';

  describeSources(): string {
    return 'meminfo (procfs)';
  }

  collect(ctx: ScrapeContext): void {
    const m = parseMeminfo(ctx.readProc('meminfo'));
    if (m.size === 0) throw new Error('no fields in /proc/meminfo');
    for (const [k, v] of m) {
      ctx.emit({
        name: `node_memory_${k}`,
        labels: {},
        value: v,
        help: `Memory information field ${k}.`,
        type: k.endsWith('_total') ? 'counter' : 'gauge',
      });
    }
  }
}
