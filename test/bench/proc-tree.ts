/**
 * CPU and memory of an aggregator and its ingest processes (ingest.processes > 1: children of
 * the writer running aggregator/ingest/worker-main.js), from /proc. A child that exits keeps the
 * CPU it was last seen with; RSS is summed over the processes alive at each sample.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { clkTck, cpuSeconds, memStats } from './proc-stats.js';

/** The children of `parent` whose command line names the ingest worker script. */
export function ingestChildren(parent: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const d of names) {
    if (d.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('worker-main.js')) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** User and system CPU seconds of one thread (the process's main thread when tid = pid). */
export function threadUserSys(pid: number, tid = pid): { user: number; sys: number } {
  try {
    const t = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return { user: Number(rest[11]) / clkTck(), sys: Number(rest[12]) / clkTck() };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** Follows the writer and its ingest processes: CPU since mark() per role, peak summed RSS. */
export class TreeWatch {
  readonly pid: number;
  #base = new Map<number, number>();
  #last = new Map<number, number>();
  #baseMain = new Map<number, number>();
  #lastMain = new Map<number, number>();
  #peakRss = 0;
  #children = 0;

  constructor(pid: number) {
    this.pid = pid;
    this.mark();
  }

  #pids(): number[] {
    const kids = ingestChildren(this.pid);
    this.#children = Math.max(this.#children, kids.length);
    return [this.pid, ...kids];
  }

  mark(): void {
    this.#base.clear();
    this.#last.clear();
    this.#baseMain.clear();
    this.#lastMain.clear();
    for (const p of this.#pids()) {
      const c = cpuSeconds(p) ?? 0;
      const m = threadUserSys(p);
      this.#base.set(p, c);
      this.#last.set(p, c);
      this.#baseMain.set(p, m.user + m.sys);
      this.#lastMain.set(p, m.user + m.sys);
    }
  }

  sample(): void {
    let rss = 0;
    for (const p of this.#pids()) {
      const c = cpuSeconds(p);
      if (c === undefined) continue;
      // a process born after mark() counts from zero
      if (!this.#base.has(p)) {
        this.#base.set(p, 0);
        this.#baseMain.set(p, 0);
      }
      this.#last.set(p, c);
      const m = threadUserSys(p);
      this.#lastMain.set(p, m.user + m.sys);
      rss += memStats(p)?.rss ?? 0;
    }
    this.#peakRss = Math.max(this.#peakRss, rss);
  }

  #sum(last: Map<number, number>, base: Map<number, number>, which: (pid: number) => boolean): number {
    let s = 0;
    for (const [p, v] of last) if (which(p)) s += v - (base.get(p) ?? 0);
    return s;
  }

  /** CPU seconds of every process (all threads) since mark(), as of the last sample(). */
  get cpu(): number {
    return this.#sum(this.#last, this.#base, () => true);
  }

  /** CPU seconds of the ingest processes (all threads). */
  get ingestCpu(): number {
    return this.#sum(this.#last, this.#base, (p) => p !== this.pid);
  }

  /** CPU seconds of the ingest processes' main threads (their event loops). */
  get ingestMainCpu(): number {
    return this.#sum(this.#lastMain, this.#baseMain, (p) => p !== this.pid);
  }

  /** The most ingest processes seen at once. */
  get ingestProcesses(): number {
    return this.#children;
  }

  /** Highest RSS of all the processes together at one sample, bytes. */
  get peakRss(): number {
    return this.#peakRss;
  }
}
