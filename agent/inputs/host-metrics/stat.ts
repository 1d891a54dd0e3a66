import { fields } from './read-file.js';
import type { Collector, ScrapeContext } from './types.js';

export interface ProcStatMisc {
  btime?: number;
  ctxt?: number;
  intr?: number;
  processes?: number;
  procsRunning?: number;
  procsBlocked?: number;
}

/** The non-CPU lines of /proc/stat that node_exporter's `stat` collector exports. */
export function parseProcStatMisc(text: string): ProcStatMisc {
  const out: ProcStatMisc = {};
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const c = text.charCodeAt(pos);
    // skip the (many) cpu lines and "softirq" cheaply; b, c(txt), i, p only
    if (c === 98 || c === 105 || c === 112 || (c === 99 && text.startsWith('ctxt', pos))) {
      const sp = text.indexOf(' ', pos);
      const key = text.slice(pos, sp < 0 || sp > end ? end : sp);
      // intr: only the first number (the total); the line can be kilobytes long
      const valEnd = key === 'intr' ? nextSpace(text, sp + 1, end) : end;
      const v = Number(text.slice(sp + 1, valEnd).trim());
      switch (key) {
        case 'btime': out.btime = v; break;
        case 'ctxt': out.ctxt = v; break;
        case 'intr': out.intr = v; break;
        case 'processes': out.processes = v; break;
        case 'procs_running': out.procsRunning = v; break;
        case 'procs_blocked': out.procsBlocked = v; break;
      }
    }
    pos = end + 1;
  }
  return out;
}

function nextSpace(text: string, from: number, end: number): number {
  const i = text.indexOf(' ', from);
  return i < 0 || i > end ? end : i;
}

/**
 * `stat` collector (same names as node_exporter's): node_boot_time_seconds,
 * node_context_switches_total, node_intr_total, node_forks_total,
 * node_procs_running, node_procs_blocked.
 */
export class StatCollector implements Collector {
  readonly name = 'stat';

  describeSources(): string {
    return 'stat (procfs)';
  }

  collect(ctx: ScrapeContext): void {
    const s = parseProcStatMisc(ctx.readProc('stat'));
    if (s.btime === undefined) throw new Error('no btime line in /proc/stat');
    ctx.emit({ name: 'node_boot_time_seconds', labels: {}, value: s.btime, help: 'Node boot time, in unixtime.', type: 'gauge' });
    if (s.ctxt !== undefined) ctx.emit({ name: 'node_context_switches_total', labels: {}, value: s.ctxt, help: 'Total number of context switches.', type: 'counter' });
    if (s.processes !== undefined) ctx.emit({ name: 'node_forks_total', labels: {}, value: s.processes, help: 'Total number of forks.', type: 'counter' });
    if (s.intr !== undefined) ctx.emit({ name: 'node_intr_total', labels: {}, value: s.intr, help: 'Total number of interrupts serviced.', type: 'counter' });
    if (s.procsBlocked !== undefined) ctx.emit({ name: 'node_procs_blocked', labels: {}, value: s.procsBlocked, help: 'Number of processes blocked waiting for I/O to complete.', type: 'gauge' });
    if (s.procsRunning !== undefined) ctx.emit({ name: 'node_procs_running', labels: {}, value: s.procsRunning, help: 'Number of processes in runnable state.', type: 'gauge' });
  }
}
