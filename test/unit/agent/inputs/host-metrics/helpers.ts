import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostMetricsInput, type HostMetricsOptions, type Metric } from '../../../../../agent/inputs/host-metrics/index.js';
import type { StatfsResult } from '../../../../../agent/inputs/host-metrics/filesystem.js';

export const FIXTURES = fileURLToPath(new URL('../../../../fixtures/proc/', import.meta.url));

export function fixture(name: string): { procRoot: string; sysRoot: string; rootfs: string } {
  const base = join(FIXTURES, name);
  return { procRoot: join(base, 'proc'), sysRoot: join(base, 'sys'), rootfs: join(base, 'rootfs') };
}

/** statfs stand-in: mount point (relative to rootfs) -> result, or an Error to fail with. */
export function fakeStatfs(rootfs: string, table: Record<string, StatfsResult | Error>) {
  return async (path: string): Promise<StatfsResult> => {
    const rel = path.startsWith(rootfs) ? path.slice(rootfs.length) || '/' : path;
    const r = table[rel];
    if (r === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, statfs '${path}'`), { code: 'ENOENT', path });
    if (r instanceof Error) throw r;
    return r;
  };
}

export function makeInput(name: string, extra: Partial<HostMetricsOptions> = {}): HostMetricsInput {
  return new HostMetricsInput({
    name: 'host',
    topic: 'metrics',
    interval: 10_000,
    ...fixture(name),
    clock: () => 1_700_000_000_000,
    onScrape: () => {},
    ...extra,
  });
}

export function find(metrics: Metric[], name: string, labels: Record<string, string> = {}): Metric[] {
  return metrics.filter((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v));
}

/** The value of exactly one matching series (throws if 0 or >1). */
export function val(metrics: Metric[], name: string, labels: Record<string, string> = {}): number {
  const f = find(metrics, name, labels);
  if (f.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: expected 1 series, found ${f.length}`);
  return f[0]!.value;
}

export function names(metrics: Metric[]): Set<string> {
  return new Set(metrics.map((m) => m.name));
}

export function labelValues(metrics: Metric[], name: string, label: string): string[] {
  return [...new Set(find(metrics, name).map((m) => m.labels[label]!))].sort();
}

export const st = (bsize: number, blocks: number, bfree: number, bavail: number, files: number, ffree: number): StatfsResult => ({ bsize, blocks, bfree, bavail, files, ffree });
