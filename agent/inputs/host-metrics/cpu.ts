import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fields } from './read-file.js';
import type { Collector, ScrapeContext } from './types.js';

/** Linux USER_HZ: /proc/stat counts in 1/100 s on every architecture. */
export const USER_HZ = 100;
/** node_exporter: an idle counter jumping back by this much means CPU hot-plug. */
const JUMP_BACK_SECONDS = 3.0;

/** The 8 modes of node_cpu_seconds_total, in /proc/stat column order. */
export const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

/** user nice system idle iowait irq softirq steal guest guest_nice, in seconds. */
export type CpuTimes = Float64Array;

/**
 * Parse the per-CPU lines of /proc/stat (`cpu0 ...`, not the aggregate `cpu`).
 * Missing trailing columns (old kernels: no steal/guest/guest_nice) are 0,
 * as node_exporter (procfs) does.
 */
export function parseProcStatCpus(text: string): Map<string, CpuTimes> {
  const out = new Map<string, CpuTimes>();
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    // only "cpuN ..." lines; /proc/stat lists all cpu lines first
    if (text.charCodeAt(pos) === 99 && text.startsWith('cpu', pos)) {
      const f = fields(text.slice(pos, end));
      const id = f[0]!.slice(3);
      if (id !== '') {
        const t = new Float64Array(10);
        for (let i = 0; i < 10 && i + 1 < f.length; i++) t[i] = Number(f[i + 1]) / USER_HZ;
        out.set(id, t);
      }
    } else if (out.size > 0) {
      break;
    }
    pos = end + 1;
  }
  return out;
}

/** Parse the aggregate `cpu` line: total ticks per column (10 columns). */
export function parseProcStatTotal(text: string): Float64Array | undefined {
  if (!text.startsWith('cpu ')) return undefined;
  let end = text.indexOf('\n');
  if (end < 0) end = text.length;
  const f = fields(text.slice(0, end));
  const t = new Float64Array(10);
  for (let i = 0; i < 10 && i + 1 < f.length; i++) t[i] = Number(f[i + 1]);
  return t;
}

interface CpuTopology {
  /** relative to sysRoot */
  cpuDir: string;
  pkg: string;
  core: string;
}

/**
 * `cpu` collector: node_cpu_seconds_total{cpu,mode},
 * node_cpu_guest_seconds_total{cpu,mode=user|nice}, the thermal-throttle
 * counters when sysfs has them, and the derived node_cpu_utilization.
 */
export class CpuCollector implements Collector {
  readonly name = 'cpu';
  /** Per-CPU cache with node_exporter's never-go-backwards guard. */
  #cache = new Map<string, CpuTimes>();
  /** Previous (busy, total) seconds summed over CPUs, for node_cpu_utilization. */
  #prev: { busy: number; total: number } | undefined;
  #lastUtil = 0;
  /** Thermal-throttle topology, discovered once per set of online CPUs. */
  #topo: { key: string; cpus: CpuTopology[] } | undefined;

  describeSources(): string {
    return 'stat (procfs) and devices/system/cpu/cpu*/{topology,thermal_throttle} (sysfs)';
  }

  collect(ctx: ScrapeContext): void {
    const parsed = parseProcStatCpus(ctx.readProc('stat'));
    this.#update(parsed);
    let busy = 0;
    let total = 0;
    for (const [cpu, t] of this.#cache) {
      for (let i = 0; i < 8; i++) {
        ctx.emit({
          name: 'node_cpu_seconds_total',
          labels: { cpu, mode: CPU_MODES[i]! },
          value: t[i]!,
          help: 'Seconds the CPUs spent in each mode.',
          type: 'counter',
        });
        total += t[i]!;
      }
      busy += t[0]! + t[1]! + t[2]! + t[4]! + t[5]! + t[6]! + t[7]!;
      ctx.emit({ name: 'node_cpu_guest_seconds_total', labels: { cpu, mode: 'user' }, value: t[8]!, help: 'Seconds the CPUs spent in guests (VMs) for each mode.', type: 'counter' });
      ctx.emit({ name: 'node_cpu_guest_seconds_total', labels: { cpu, mode: 'nice' }, value: t[9]!, help: 'Seconds the CPUs spent in guests (VMs) for each mode.', type: 'counter' });
    }
    ctx.emit({ name: 'node_cpu_utilization', labels: {}, value: this.#utilization(busy, total), help: 'Share of CPU time (0..1, all CPUs) not idle since the previous scrape; since boot on the first scrape. Computed by logship.', type: 'gauge' });
    this.#throttles(ctx, parsed);
  }

  #update(parsed: Map<string, CpuTimes>): void {
    for (const [id, n] of parsed) {
      let c = this.#cache.get(id);
      if (c === undefined || c[3]! - n[3]! >= JUMP_BACK_SECONDS) {
        c = new Float64Array(10);
        this.#cache.set(id, c);
      }
      for (let i = 0; i < 10; i++) if (n[i]! >= c[i]!) c[i] = n[i]!;
    }
    if (parsed.size !== this.#cache.size) {
      for (const id of [...this.#cache.keys()]) if (!parsed.has(id)) this.#cache.delete(id);
    }
  }

  #utilization(busy: number, total: number): number {
    let u: number;
    const prev = this.#prev;
    if (prev === undefined) {
      u = total > 0 ? busy / total : 0;
    } else {
      const dt = total - prev.total;
      // no tick elapsed (or a CPU went offline): keep the last value
      u = dt > 0 ? (busy - prev.busy) / dt : this.#lastUtil;
    }
    u = Math.min(1, Math.max(0, u));
    this.#prev = { busy, total };
    this.#lastUtil = u;
    return u;
  }

  #throttles(ctx: ScrapeContext, parsed: Map<string, CpuTimes>): void {
    const key = [...parsed.keys()].join(',');
    if (this.#topo?.key !== key) this.#topo = { key, cpus: discoverTopology(ctx) };
    const pkgSeen = new Set<string>();
    const coreSeen = new Set<string>();
    for (const t of this.#topo.cpus) {
      const coreKey = `${t.pkg}/${t.core}`;
      if (!coreSeen.has(coreKey)) {
        coreSeen.add(coreKey);
        const v = readSysUint(ctx, `${t.cpuDir}/thermal_throttle/core_throttle_count`);
        if (v !== undefined) ctx.emit({ name: 'node_cpu_core_throttles_total', labels: { core: t.core, package: t.pkg }, value: v, help: 'Number of times this CPU core has been throttled.', type: 'counter' });
      }
      if (!pkgSeen.has(t.pkg)) {
        pkgSeen.add(t.pkg);
        const v = readSysUint(ctx, `${t.cpuDir}/thermal_throttle/package_throttle_count`);
        if (v !== undefined) ctx.emit({ name: 'node_cpu_package_throttles_total', labels: { package: t.pkg }, value: v, help: 'Number of times this CPU package has been throttled.', type: 'counter' });
      }
    }
  }
}

function readSysUint(ctx: ScrapeContext, rel: string): number | undefined {
  try {
    const v = Number(ctx.readSys(rel).trim());
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function readUint(ctx: ScrapeContext, abs: string): number | undefined {
  try {
    const v = Number(ctx.readFile(abs).trim());
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** CPUs (sysfs) that have topology ids and a thermal_throttle directory. */
function discoverTopology(ctx: ScrapeContext): CpuTopology[] {
  let names: string[];
  try {
    names = readdirSync(join(ctx.sysRoot, 'devices/system/cpu')).filter((n) => /^cpu\d+$/.test(n));
  } catch {
    return [];
  }
  names.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  const out: CpuTopology[] = [];
  for (const n of names) {
    const cpuDir = `devices/system/cpu/${n}`;
    const pkg = readUint(ctx, join(ctx.sysRoot, cpuDir, 'topology/physical_package_id'));
    const core = readUint(ctx, join(ctx.sysRoot, cpuDir, 'topology/core_id'));
    if (pkg === undefined || core === undefined) continue;
    const hasThrottle =
      readUint(ctx, join(ctx.sysRoot, cpuDir, 'thermal_throttle/core_throttle_count')) !== undefined ||
      readUint(ctx, join(ctx.sysRoot, cpuDir, 'thermal_throttle/package_throttle_count')) !== undefined;
    if (hasThrottle) out.push({ cpuDir, pkg: String(pkg), core: String(core) });
  }
  return out;
}
