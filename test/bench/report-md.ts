/**
 * The run's results as markdown (bench-results/<stamp>.md), ready to paste
 * into the README's Performance section: the machine, date and load first,
 * then one table per scenario with its targets, and the verdict only where
 * others left the machine quiet enough to give one (machine-share.ts).
 */
import type { ScenarioResult } from './harness.js';
import { noVerdictLine, OTHERS_MAX_PCT } from './machine-share.js';

export interface RunEnv {
  node: string;
  cpus: number;
  cpuModel?: string;
  memGiB: number;
  loadavgAtStart: number[];
}

const cell = (s: string | number): string => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function verdictOf(r: ScenarioResult, ok: boolean | undefined): string {
  if (ok === undefined) return '';
  if (r.machine && !r.machine.verdict) return 'no verdict';
  return ok ? 'met' : 'MISSED';
}

export function markdownReport(stamp: string, env: RunEnv, results: Array<ScenarioResult | { scenario: string; error: string }>, titles: Map<string, string>): string {
  const out: string[] = [];
  out.push(`# logship benchmarks, ${stamp.replace('T', ' ').replace(/-(\d\d)-(\d\d)$/, ':$1:$2')} UTC`, '');
  out.push(`Machine: ${env.cpus} x ${env.cpuModel ?? 'CPU'}, ${env.memGiB} GiB, Node ${env.node}; load average at the start ${env.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}.`);
  out.push(`A scenario gives a verdict only when others (other processes, and on a VM the hypervisor's steal) used at most ${OTHERS_MAX_PCT} % of the machine while it ran.`, '');
  out.push('| scenario | load average (start -> end) | others\' share of the machine | verdict |', '|---|---|---|---|');
  for (const r of results) {
    if (!('rows' in r)) {
      out.push(`| ${cell(r.scenario)} | | | FAILED |`);
      continue;
    }
    const m = r.machine;
    const load = m ? `${m.loadavgStart[0]!.toFixed(2)} -> ${m.loadavgEnd[0]!.toFixed(2)}` : '';
    const share = m ? (m.othersPct === null ? 'unknown' : `${m.othersPct.toFixed(1)} % (steal ${(m.stealPct ?? 0).toFixed(1)} %)`) : '';
    const judged = r.rows.filter((x) => x.ok !== undefined);
    const missed = judged.filter((x) => x.ok === false).length;
    const verdict = m && !m.verdict ? 'no verdict' : judged.length === 0 ? '' : missed ? `${missed} of ${judged.length} targets missed` : `all ${judged.length} targets met`;
    out.push(`| ${cell(r.scenario)} | ${load} | ${share} | ${verdict} |`);
  }
  out.push('');
  for (const r of results) {
    if (!('rows' in r)) {
      out.push(`## ${r.scenario}: FAILED`, '', '```', r.error.slice(0, 3000), '```', '');
      continue;
    }
    out.push(`## ${r.scenario}: ${titles.get(r.scenario) ?? ''}`, '');
    out.push('| metric | value | target | verdict |', '|---|---|---|---|');
    for (const x of r.rows) out.push(`| ${cell(x.metric)} | ${cell(`${x.value}${x.unit ? ` ${x.unit}` : ''}`)} | ${cell(x.target ?? '')} | ${verdictOf(r, x.ok)} |`);
    out.push('');
    if (r.machine && !r.machine.verdict) out.push(`${noVerdictLine(r.machine)}.`, '');
    for (const n of r.notes) out.push(`- ${n}`);
    if (r.notes.length) out.push('');
  }
  return out.join('\n');
}
