/**
 * deploy/monitoring: the Prometheus rules pass `promtool check rules` and their
 * unit tests (`promtool test rules`), and every logship metric the rules and
 * the Grafana dashboard name is one the agent or the aggregator exports, so a
 * renamed metric cannot leave a silent rule or an empty panel behind.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../../../agent/metrics.js';
import { createAggregatorMetrics } from '../../../aggregator/metrics.js';
import { HostMetricsInput, renderPrometheus } from '../../../agent/inputs/host-metrics/index.js';

const DIR = fileURLToPath(new URL('../../../deploy/monitoring/', import.meta.url));
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

function promtool(args: string[]): { status: number; out: string } {
  const r = spawnSync(PROMTOOL, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`promtool not found (looked for "${PROMTOOL}" on PATH). Install the test dependencies: run deploy/test-deps.sh (apt-get install -y prometheus) or set PROMTOOL=/path/to/promtool`);
  }
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

/** Metric names logship exports (histograms as their _bucket/_sum/_count series). */
async function exported(): Promise<Set<string>> {
  const names = new Set<string>(['up']);
  const regs = [createAgentMetrics().registry, createAggregatorMetrics(false).registry];
  for (const r of regs) {
    for (const m of await r.getMetricsAsJSON()) {
      names.add(m.name);
      if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
  }
  const host = new HostMetricsInput({ name: 'h', topic: 't', interval: 1000, procRoot: '/proc', sysRoot: '/sys', rootfs: '/', onScrape() {} });
  for (const line of renderPrometheus((await host.scrape()).metrics).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** Metric names used in PromQL: identifiers before `{`, `[` or `)`/space, not functions, keywords or labels. */
function usedMetrics(exprs: string[]): Set<string> {
  const used = new Set<string>();
  for (const e of exprs) {
    const noStrings = e.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}');
    for (const m of noStrings.matchAll(/\b((?:logship|node)_[a-zA-Z0-9_]+|up)\b(?!\s*\()/g)) used.add(m[1]!);
  }
  return used;
}

describe('deploy/monitoring', () => {
  it('the rules pass promtool check rules and their unit tests (promtool test rules)', () => {
    const check = promtool(['check', 'rules', 'logship.rules.yml']);
    expect(check.status, check.out).toBe(0);
    expect(check.out).toMatch(/SUCCESS: 9 rules found/);
    const test = promtool(['test', 'rules', 'logship.rules.test.yml']);
    expect(test.status, test.out).toBe(0);
    expect(test.out).toMatch(/SUCCESS/);
  });

  it('every metric the rules and the dashboard use is exported by logship', async () => {
    const names = await exported();
    const rules = readFileSync(`${DIR}/logship.rules.yml`, 'utf8');
    const ruleExprs = [...rules.matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]!);
    const dash = JSON.parse(readFileSync(`${DIR}/logship-dashboard.json`, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const panelExprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(ruleExprs.length).toBe(9);
    expect(panelExprs.length).toBeGreaterThan(15);
    const used = usedMetrics([...ruleExprs, ...panelExprs]);
    expect(used.size).toBeGreaterThan(15);
    const unknown = [...used].filter((n) => !names.has(n));
    expect(unknown, `metrics used in deploy/monitoring that logship does not export: ${unknown.join(', ')}`).toEqual([]);
  });

  it('the name check catches a metric logship does not export', () => {
    expect([...usedMetrics(['rate(logship_agent_no_such_total{job="x"}[5m]) > 0'])]).toEqual(['logship_agent_no_such_total']);
  });
});
