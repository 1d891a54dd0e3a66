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

/** CPU seconds of one thread between two threadCpu snapshots, and the group it was put in. */
export interface ThreadCpu {
  tid: number;
  cpu: number;
  group: 'main' | 'v8' | 'worker' | 'libuv';
}

/**
 * A Node process's CPU between two threadCpu snapshots, per thread group. On Node 20
 * every thread's name (/proc/PID/task/TID/comm) is "node", so the groups come from
 * the order node creates its threads in (thread ids ascend, checked on Node 20.20):
 * - main: the thread whose id is the pid (JavaScript, the event loop, V8's main-thread GC);
 * - v8: the threads node starts before any JavaScript runs: V8's platform pool
 *   (`v8Pool` threads: concurrent and parallel GC, background compiling, for the main
 *   isolate and every worker's), its delayed-task thread and the inspector's signal
 *   thread (idle): the first v8Pool + 2 thread ids after the pid;
 * - worker: the `workers` busiest threads started later (worker threads, e.g. the
 *   agent's zstd worker);
 * - libuv: every other later thread: libuv's pool (UV_THREADPOOL_SIZE threads, started
 *   at the first file or DNS request: file reads, writes, fsync) and idle workers.
 */
export function threadGroups(
  pid: number,
  before: Map<number, number>,
  after: Map<number, number>,
  opts: { workers: number; v8Pool: number },
): { main: number; v8: number; worker: number; libuv: number; threads: ThreadCpu[] } {
  const tids = [...after.keys()].filter((t) => t !== pid).sort((a, b) => a - b);
  const early = new Set(tids.slice(0, opts.v8Pool + 2));
  const d = (tid: number) => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
  const threads: ThreadCpu[] = [{ tid: pid, cpu: d(pid), group: 'main' }];
  const late: ThreadCpu[] = [];
  for (const tid of tids) {
    if (early.has(tid)) threads.push({ tid, cpu: d(tid), group: 'v8' });
    else late.push({ tid, cpu: d(tid), group: 'libuv' });
  }
  late.sort((a, b) => b.cpu - a.cpu);
  for (const t of late.slice(0, opts.workers)) t.group = 'worker';
  threads.push(...late);
  const sum = (g: ThreadCpu['group']) => threads.filter((t) => t.group === g).reduce((a, t) => a + t.cpu, 0);
  return { main: sum('main'), v8: sum('v8'), worker: sum('worker'), libuv: sum('libuv'), threads };
}

/** V8's platform pool size node runs with for these flags: --v8-pool-size=N, else node's default 4 (0: CPUs - 1, at least 1). */
export function v8PoolSize(nodeFlags: readonly string[], cpus: number): number {
  let n = 4;
  for (const f of nodeFlags) {
    const m = /^--v8[-_]pool[-_]size=(\d+)$/.exec(f);
    if (m) n = Number(m[1]);
  }
  return n > 0 ? n : Math.max(1, cpus - 1);
}

/**
 * Waits until pid's CPU stops growing (under 10 ms in `quietMs`), at most `maxMs`; resolves
 * with its CPU seconds then. For start-up cost: call it once the process says it is ready.
 */
export async function settledCpu(pid: number, quietMs = 500, maxMs = 15_000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = cpuSeconds(pid) ?? 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = cpuSeconds(pid);
    if (now === undefined) return last;
    if (now - last < 0.01 || Date.now() > end) return now;
    last = now;
  }
}
