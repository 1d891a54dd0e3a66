/**
 * CPU and memory of a process from /proc: CPU seconds (user + system, all
 * threads, including worker threads) from /proc/<pid>/stat, peak and current
 * resident set size from /proc/<pid>/status (VmHWM, VmRSS). Linux only.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTick: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux). */
export function clkTck(): number {
  if (clockTick === undefined) {
    try {
      clockTick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTick = 100;
    }
  }
  return clockTick;
}

/** User + system CPU seconds used so far by pid; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: parse after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / clkTck();
}

export interface MemStats {
  /** peak resident set size, bytes (VmHWM) */
  peakRss: number;
  /** current resident set size, bytes (VmRSS) */
  rss: number;
}

export function memStats(pid: number): MemStats | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { peakRss: kib('VmHWM'), rss: kib('VmRSS') };
}

/** Follows one process: CPU used since mark(), peak RSS, and RSS samples. */
export class ProcWatch {
  readonly pid: number;
  #cpuAtMark = 0;
  #lastCpu = 0;
  #peakRss = 0;
  #rssSamples: number[] = [];

  constructor(pid: number) {
    this.pid = pid;
    this.mark();
  }

  /** Starts the CPU count here (e.g. after start-up, for idle measurements). */
  mark(): void {
    this.#cpuAtMark = cpuSeconds(this.pid) ?? this.#lastCpu;
    this.#lastCpu = this.#cpuAtMark;
  }

  /** Reads the counters now; call it while the process is alive (at least once at the end). */
  sample(): void {
    const c = cpuSeconds(this.pid);
    if (c !== undefined) this.#lastCpu = c;
    const m = memStats(this.pid);
    if (m) {
      this.#peakRss = Math.max(this.#peakRss, m.peakRss);
      this.#rssSamples.push(m.rss);
    }
  }

  /** CPU seconds since mark(), as of the last sample(). */
  get cpu(): number {
    return this.#lastCpu - this.#cpuAtMark;
  }

  get peakRss(): number {
    return this.#peakRss;
  }

  get rssSamples(): readonly number[] {
    return this.#rssSamples;
  }
}

/** CPU seconds used so far by each thread of pid (by thread id); empty once it is gone. */
export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(rest[11]) + Number(rest[12])) / clkTck());
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * Where a Node process's CPU went between two threadCpu snapshots: the main
 * thread, the `workers` busiest other threads (a pool of worker threads that
 * does most of the off-loop work, e.g. the aggregator's payload workers), and
 * every other thread (libuv's pool: file writes and fsync; V8's: GC and JIT).
 */
export function threadSplit(pid: number, before: Map<number, number>, after: Map<number, number>, workers: number): { main: number; workers: number; other: number } {
  let main = 0;
  const others: number[] = [];
  for (const [tid, cpu] of after) {
    const d = cpu - (before.get(tid) ?? 0);
    if (tid === pid) main = d;
    else others.push(d);
  }
  others.sort((a, b) => b - a);
  const top = others.slice(0, workers).reduce((a, b) => a + b, 0);
  const rest = others.slice(workers).reduce((a, b) => a + b, 0);
  return { main, workers: top, other: rest };
}
