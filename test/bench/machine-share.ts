/**
 * How much of the machine other work took while a scenario ran (issue 17):
 * figures measured beside someone else's build are not figures. From /proc:
 * the machine's busy CPU time (/proc/stat: user, nice, system, irq, softirq,
 * steal) minus what this bench's own process tree used (this process and
 * every descendant, from /proc/<pid>/stat: utime + stime of the living, plus
 * cutime + cstime, which hold the children that exited and were reaped), over
 * the scenario's wall time times the CPU count. Also the load average at both
 * ends (it counts the bench's own runnable threads too). Linux only; elsewhere
 * the share is unknown and no verdict is refused for it.
 *
 * On a virtual machine "others" includes steal: time a virtual CPU was ready to
 * run and the hypervisor ran something else. It is printed apart, since it is
 * not a process on this machine: on this project's 2-core VM, steal was up to
 * 36 % in runs where nothing else ran (2026-12-03), which earlier notes called "a
 * noisy VM" or took for other work.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { clkTck } from './proc-stats.js';

/** Above this share of the machine used by others, a scenario prints no met/missed verdict. */
export const OTHERS_MAX_PCT = 10;

export interface MachineShare {
  cpus: number;
  seconds: number;
  /** 1, 5 and 15 minute load averages when the scenario started and ended */
  loadavgStart: number[];
  loadavgEnd: number[];
  /** CPU seconds of the whole machine, of this bench's process tree, of everything else */
  machineBusyCpuSeconds: number;
  benchCpuSeconds: number;
  othersCpuSeconds: number;
  /** of othersCpuSeconds, the hypervisor's steal (a VM's CPUs taken by its host) */
  stealCpuSeconds: number;
  /** othersCpuSeconds over seconds x cpus, in percent; null when /proc could not be read */
  othersPct: number | null;
  /** stealCpuSeconds the same way (part of othersPct) */
  stealPct: number | null;
  /** false when others used more than OTHERS_MAX_PCT % of the machine (or it is unknown) */
  verdict: boolean;
}

interface Snapshot {
  at: number;
  loadavg: number[];
  /** jiffies: busy, total and steal of /proc/stat's cpu line */
  busy: number;
  total: number;
  steal: number;
  /** jiffies of this process tree */
  tree: number;
}

/** Busy, total and steal jiffies of the machine (first line of /proc/stat); busy includes steal. */
export function machineJiffies(): { busy: number; total: number; steal: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is already inside user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait, steal };
}

/** Jiffies used by `root` and all its descendants, including reaped children (cutime/cstime). */
export function treeJiffies(root: number = process.pid): number | undefined {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const kids = new Map<number, number[]>();
  const cost = new Map<number, number>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Field 2 (the command) is in parentheses and may hold spaces: fields after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    const ppid = Number(rest[1]);
    // rest[0] is field 3; utime 14, stime 15, cutime 16, cstime 17
    cost.set(pid, Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]));
    let list = kids.get(ppid);
    if (!list) kids.set(ppid, (list = []));
    list.push(pid);
  }
  if (!cost.has(root)) return undefined;
  let sum = 0;
  const todo = [root];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    sum += cost.get(pid) ?? 0;
    for (const k of kids.get(pid) ?? []) todo.push(k);
  }
  return sum;
}

function snapshot(): Snapshot | undefined {
  const m = machineJiffies();
  const tree = treeJiffies();
  if (!m || tree === undefined) return undefined;
  return { at: performance.now(), loadavg: loadavg(), busy: m.busy, total: m.total, steal: m.steal, tree };
}

/** Starts watching now; stop() gives the share others used since. */
export function watchMachine(): { stop: () => MachineShare } {
  const t0 = performance.now();
  const load0 = loadavg();
  const s0 = snapshot();
  return {
    stop: () => {
      const s1 = snapshot();
      const seconds = (performance.now() - t0) / 1000;
      const n = cpus().length;
      const base = { cpus: n, seconds: round2(seconds), loadavgStart: load0.map(round2), loadavgEnd: loadavg().map(round2) };
      if (!s0 || !s1 || s1.total <= s0.total) {
        return { ...base, machineBusyCpuSeconds: 0, benchCpuSeconds: 0, othersCpuSeconds: 0, stealCpuSeconds: 0, othersPct: null, stealPct: null, verdict: false };
      }
      const hz = clkTck();
      const busy = (s1.busy - s0.busy) / hz;
      const bench = Math.max(0, (s1.tree - s0.tree) / hz);
      const others = Math.max(0, busy - bench);
      const steal = Math.min(others, Math.max(0, (s1.steal - s0.steal) / hz));
      // The capacity is what /proc/stat counted (busy + idle + iowait over every CPU), not wall x cpus:
      // both ends of the ratio then come from the same counters.
      const capacity = (s1.total - s0.total) / hz;
      const pct = (100 * others) / capacity;
      return { ...base, machineBusyCpuSeconds: round2(busy), benchCpuSeconds: round2(bench), othersCpuSeconds: round2(others), stealCpuSeconds: round2(steal), othersPct: round2(pct), stealPct: round2((100 * steal) / capacity), verdict: pct <= OTHERS_MAX_PCT };
    },
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** The line a table prints about the machine, and why there is no verdict when there is none. */
export function machineLine(m: MachineShare): string {
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const others = m.othersPct === null ? 'others\' CPU unknown (no /proc)' : `others used ${m.othersPct.toFixed(1)} % of the machine (${m.othersCpuSeconds.toFixed(1)} CPU s of ${(m.seconds * m.cpus).toFixed(0)}, ${m.stealCpuSeconds.toFixed(1)} of them the hypervisor's steal; this bench ${m.benchCpuSeconds.toFixed(1)} CPU s)`;
  return `machine: load average ${la(m.loadavgStart)} -> ${la(m.loadavgEnd)}, ${others}`;
}

export function noVerdictLine(m: MachineShare): string {
  return m.othersPct === null ? 'no verdict: could not read /proc to see what others used' : `no verdict: others used ${m.othersPct.toFixed(1)} % of the machine (more than ${OTHERS_MAX_PCT} %)`;
}
