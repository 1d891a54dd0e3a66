import { fields } from './read-file.js';
import type { Collector, MetricType, ScrapeContext } from './types.js';

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
    const line = text.slice(pos, end);
    pos = end + 1;
    const f = fields(line);
    if (f.length < 2) continue; // blank lines (seen on some CentOS kernels)
    const key = meminfoKey(f[0]!);
    let v = Number(f[1]);
    if (!Number.isFinite(v)) continue;
    if (f.length === 3) {
      v *= 1024; // the kernel's "kB" is KiB
      out.set(key + '_bytes', v);
    } else if (f.length === 2) {
      out.set(key, v);
    }
  }
  return out;
}

const keyCache = new Map<string, string>();

/** `Active(anon):` -> `Active_anon` (node_exporter: regexp `\((.*)\)` -> `_$1`). */
function meminfoKey(raw: string): string {
  let key = keyCache.get(raw);
  if (key !== undefined) return key;
  key = raw.endsWith(':') ? raw.slice(0, -1) : raw;
  const open = key.indexOf('(');
  const close = key.lastIndexOf(')');
  if (open >= 0 && close > open) key = key.slice(0, open) + '_' + key.slice(open + 1, close) + key.slice(close + 1);
  if (keyCache.size < 1000) keyCache.set(raw, key);
  return key;
}

interface LineDesc {
  /** the raw key including the colon, e.g. `Active(anon):` */
  raw: string;
  name: string;
  help: string;
  type: MetricType;
  hasUnit: boolean;
}

/**
 * `meminfo` collector: one gauge node_memory_<Field>[_bytes] per /proc/meminfo line.
 * Hot path: /proc/meminfo keeps its layout between reads, so the per-line
 * metric names are cached by line number and validated with startsWith
 * (no per-line allocation, no hashing); a changed line falls back to parsing.
 */
export class MemoryCollector implements Collector {
  readonly name = 'meminfo';
  #layout: Array<LineDesc | undefined> = [];

  describeSources(): string {
    return 'meminfo (procfs)';
  }

  collect(ctx: ScrapeContext): void {
    const text = ctx.readProc('meminfo');
    const n = text.length;
    let pos = 0;
    let line = 0;
    let emitted = 0;
    while (pos < n) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = n;
      let d = this.#layout[line];
      if (d === undefined || !text.startsWith(d.raw, pos) || text.charCodeAt(pos + d.raw.length) !== 32) {
        d = describeLine(text.slice(pos, end));
        this.#layout[line] = d;
      }
      line++;
      if (d !== undefined) {
        const v = parseValue(text, pos + d.raw.length, end);
        if (v !== undefined) {
          ctx.emit({ name: d.name, labels: {}, value: d.hasUnit ? v * 1024 : v, help: d.help, type: d.type });
          emitted++;
        }
      }
      pos = end + 1;
    }
    if (this.#layout.length > line) this.#layout.length = line;
    if (emitted === 0) throw new Error('no fields in /proc/meminfo');
  }
}

/** Name and unit of one meminfo line, or undefined for blank/garbled lines. */
function describeLine(lineText: string): LineDesc | undefined {
  const f = fields(lineText);
  if (f.length !== 2 && f.length !== 3) return undefined;
  const raw = f[0]!;
  if (!lineText.startsWith(raw)) return undefined; // the kernel never indents; skip anything else
  const key = meminfoKey(raw) + (f.length === 3 ? '_bytes' : '');
  return { raw, name: `node_memory_${key}`, help: `Memory information field ${key}.`, type: key.endsWith('_total') ? 'counter' : 'gauge', hasUnit: f.length === 3 };
}

/** The number after the key: digits fast path, else Number(); undefined if none. */
function parseValue(text: string, from: number, end: number): number | undefined {
  let i = from;
  while (i < end && text.charCodeAt(i) === 32) i++;
  const start = i;
  let v = 0;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    i++;
  }
  if (i === start) return undefined;
  if (i < end && text.charCodeAt(i) !== 32) {
    let j = i;
    while (j < end && text.charCodeAt(j) !== 32) j++;
    const x = Number(text.slice(start, j));
    return Number.isFinite(x) ? x : undefined;
  }
  return Number.isSafeInteger(v) ? v : Number(text.slice(start, i));
}
