/**
 * Helpers for the alerting acceptance tests (test/integration/alerts-*.test.ts): what an operator
 * sees through `logship alerts --url URL --format json`, reduced to (rule, host, state) rows, and
 * writing log lines the way an application does (appends to a file the agent tails).
 *
 * The CONTRACT fixes what `logship alerts` shows (rules, their groups by host, state
 * inactive/pending/firing, since when, last notification per sink), not the JSON keys, so the
 * reader below looks for the rule name, the host and the state wherever they sit in the output
 * instead of hard-coding one layout.
 */
import { appendFile } from 'node:fs/promises';
import { runLogship } from './procs.js';

export const ALERT_STATES = ['inactive', 'pending', 'firing', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export interface AlertRow {
  rule: string;
  host: string | undefined;
  state: AlertState;
}

let last = '(logship alerts not run yet)';

/** The last `logship alerts` output (for failure messages). */
export function lastAlerts(): string {
  return last;
}

/** Runs `logship alerts --url URL --format json` and returns its parsed output; throws with stderr on failure. */
export async function alertsJson(aggUrl: string, env: NodeJS.ProcessEnv = {}): Promise<unknown> {
  const r = await runLogship(['alerts', '--url', aggUrl, '--format', 'json'], env, 30_000);
  last = `exit ${r.code}\n${r.stdout}${r.stderr}`;
  if (r.code !== 0) throw new Error(`logship alerts exited ${r.code}: ${r.stderr}${r.stdout}`);
  const text = r.stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    // one JSON object a line
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
  }
}

const RULE_KEYS = ['rule', 'name', 'alertname'];

function str(o: Record<string, unknown>, keys: string[]): string | undefined {
  for (const k of keys) if (typeof o[k] === 'string') return o[k] as string;
  return undefined;
}

/**
 * Every (rule, host, state) in `logship alerts --format json` output: an object with a `state`
 * among inactive/pending/firing/resolved, its host from its own `host` (or `labels.host`,
 * `group.host`), its rule from its own or the nearest enclosing object's `rule`/`name`/`alertname`.
 */
export function alertRows(json: unknown, rules: string[]): AlertRow[] {
  const rows: AlertRow[] = [];
  const ruleSet = new Set(rules);
  const walk = (v: unknown, rule: string | undefined): void => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, rule));
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, unknown>;
    const own = str(o, RULE_KEYS);
    const labels = (typeof o.labels === 'object' && o.labels !== null ? o.labels : {}) as Record<string, unknown>;
    const r = own !== undefined && ruleSet.has(own) ? own : typeof labels.alertname === 'string' && ruleSet.has(labels.alertname) ? labels.alertname : rule;
    if (typeof o.state === 'string' && (ALERT_STATES as readonly string[]).includes(o.state) && r !== undefined) {
      const group = (typeof o.group === 'object' && o.group !== null ? o.group : {}) as Record<string, unknown>;
      const host = typeof o.host === 'string' ? o.host : typeof labels.host === 'string' ? labels.host : typeof group.host === 'string' ? group.host : typeof o.group === 'string' ? o.group : undefined;
      rows.push({ rule: r, host, state: o.state as AlertState });
    }
    for (const [k, x] of Object.entries(o)) if (k !== 'labels') walk(x, r);
  };
  walk(json, undefined);
  return rows;
}

/** The state `logship alerts` shows for (rule, host), or undefined when it lists no such group. */
export async function alertState(aggUrl: string, rule: string, host: string): Promise<AlertState | undefined> {
  return alertRows(await alertsJson(aggUrl), [rule]).find((r) => r.rule === rule && r.host === host)?.state;
}

/** Appends lines (each with its newline) to a file in one write, as a logging application does. */
export async function writeLines(path: string, lines: string[]): Promise<void> {
  await appendFile(path, lines.map((l) => l + '\n').join(''));
}

/** n lines like `2026-12-01T18:00:00.000Z ERROR <what> #i`. */
export function logLines(level: 'ERROR' | 'INFO', n: number, what = 'request failed', from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `${new Date().toISOString()} ${level} ${what} #${from + i}`);
}
