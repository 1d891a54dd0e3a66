/**
 * The agent's Prometheus registry: counters and gauges with labels, written
 * in the text exposition format (version 0.0.4), plus the process and V8
 * figures operators expect (CPU, resident memory, heap by space, external
 * memory, open file descriptors, active handles, node version).
 *
 * Why not prom-client (the aggregator keeps it): the agent runs on every host,
 * and loading prom-client costs ~12 MiB resident for what the agent uses of it
 * (about 20 counters and gauges); its default metrics also sample the event
 * loop's delay on a timer, a wake-up an idle agent does not need. The API here
 * is the subset the agent calls, with prom-client's names and semantics, so the
 * exported series are the same.
 */
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { readdirSync, readFileSync } from 'node:fs';

type Labels = Record<string, string | number>;

export interface MetricJSON {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: Array<{ labels: Labels; value: number }>;
}

interface Collectable {
  readonly name: string;
  json(): MetricJSON;
}

export class Registry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  #metrics = new Map<string, Collectable>();
  #defaults: ((out: MetricJSON[]) => void) | undefined;

  register(m: Collectable): void {
    if (this.#metrics.has(m.name)) throw new Error(`metric ${m.name} is already registered`);
    this.#metrics.set(m.name, m);
  }

  /** Adds the process and V8 metrics, each name with `prefix` in front. */
  collectDefaults(prefix: string): void {
    this.#defaults = (out) => defaultMetrics(prefix, out);
  }

  async getMetricsAsJSON(): Promise<MetricJSON[]> {
    const out = [...this.#metrics.values()].map((m) => m.json());
    this.#defaults?.(out);
    return out;
  }

  async metrics(): Promise<string> {
    let text = '';
    for (const m of await this.getMetricsAsJSON()) {
      text += `# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${m.name} ${m.type}\n`;
      for (const v of m.values) text += `${m.name}${labelText(v.labels)} ${numberText(v.value)}\n`;
    }
    return text;
  }
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

function numberText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers?: Registry[];
}

abstract class Metric implements Collectable {
  readonly name: string;
  readonly help: string;
  abstract readonly type: 'counter' | 'gauge';
  readonly #labelNames: readonly string[];
  /** by the labels' values joined; unlabelled metrics use the key '' */
  protected values = new Map<string, { labels: Labels; value: number }>();

  constructor(o: MetricOptions) {
    this.name = o.name;
    this.help = o.help;
    this.#labelNames = o.labelNames ?? [];
    if (this.#labelNames.length === 0) this.values.set('', { labels: {}, value: 0 });
    for (const r of o.registers ?? []) r.register(this);
  }

  protected entry(labels: Labels | undefined): { labels: Labels; value: number } {
    if (!labels) return this.values.get('') ?? this.#add('', {});
    let key = '';
    for (const k of Object.keys(labels)) {
      if (!this.#labelNames.includes(k)) throw new Error(`metric ${this.name} has no label ${k}`);
    }
    for (const k of this.#labelNames) key += `${String(labels[k] ?? '')}\u0000`;
    return this.values.get(key) ?? this.#add(key, { ...labels });
  }

  #add(key: string, labels: Labels): { labels: Labels; value: number } {
    const e = { labels, value: 0 };
    this.values.set(key, e);
    return e;
  }

  /** Forgets every labelled series (an unlabelled metric goes back to 0). */
  reset(): void {
    this.values.clear();
    if (this.#labelNames.length === 0) this.values.set('', { labels: {}, value: 0 });
  }

  /** prom-client's get(): the current series. */
  async get(): Promise<MetricJSON> {
    return this.json();
  }

  json(): MetricJSON {
    return { name: this.name, help: this.help, type: this.type, values: [...this.values.values()].map((v) => ({ labels: v.labels, value: v.value })) };
  }
}

function args(a?: Labels | number, b?: number): [Labels | undefined, number | undefined] {
  return typeof a === 'object' ? [a, b] : [undefined, a];
}

export class Counter extends Metric {
  readonly type = 'counter';
  inc(labels?: Labels | number, value?: number): void {
    const [l, v = 1] = args(labels, value);
    if (!(v >= 0)) throw new Error(`counter ${this.name}: cannot increase by ${v}`);
    this.entry(l).value += v;
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';
  set(labels: Labels | number, value?: number): void {
    const [l, v] = args(labels, value);
    this.entry(l).value = v ?? 0;
  }
  inc(labels?: Labels | number, value?: number): void {
    const [l, v = 1] = args(labels, value);
    this.entry(l).value += v;
  }
  dec(labels?: Labels | number, value?: number): void {
    const [l, v = 1] = args(labels, value);
    this.entry(l).value -= v;
  }
}

const startTime = Math.round(Date.now() / 1000 - process.uptime());

function defaultMetrics(prefix: string, out: MetricJSON[]): void {
  const g = (name: string, help: string, values: MetricJSON['values'], type: MetricJSON['type'] = 'gauge') => out.push({ name: prefix + name, help, type, values });
  const one = (value: number) => [{ labels: {}, value }];
  const cpu = process.cpuUsage();
  g('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', one(cpu.user / 1e6), 'counter');
  g('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', one(cpu.system / 1e6), 'counter');
  g('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', one((cpu.user + cpu.system) / 1e6), 'counter');
  g('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', one(startTime));
  g('process_resident_memory_bytes', 'Resident memory size in bytes.', one(process.memoryUsage.rss()));
  const fds = openFds();
  if (fds !== undefined) g('process_open_fds', 'Number of open file descriptors.', one(fds));
  const maxFds = maxOpenFds();
  if (maxFds !== undefined) g('process_max_fds', 'Maximum number of open file descriptors.', one(maxFds));
  const h = getHeapStatistics();
  g('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', one(h.total_heap_size));
  g('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', one(h.used_heap_size));
  g('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', one(process.memoryUsage().external));
  const spaces = getHeapSpaceStatistics();
  const bySpace = (f: (s: (typeof spaces)[number]) => number) => spaces.map((s) => ({ labels: { space: s.space_name.replace(/_space$/, '') }, value: f(s) }));
  g('nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', bySpace((s) => s.space_size));
  g('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', bySpace((s) => s.space_used_size));
  g('nodejs_heap_space_size_available_bytes', 'Process heap space size available from Node.js in bytes.', bySpace((s) => s.space_available_size));
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.();
  if (handles) g('nodejs_active_handles_total', 'Total number of active handles.', one(handles.length));
  const [major, minor, patch] = process.versions.node.split('.').map(Number);
  g('nodejs_version_info', 'Node.js version info.', [{ labels: { version: process.version, major: major!, minor: minor!, patch: patch! }, value: 1 }]);
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // minus the directory being read
  } catch {
    return undefined;
  }
}

function maxOpenFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
