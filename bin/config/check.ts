/**
 * `logship check`: validate any config file, telling the kind by its shape
 * (or as told), and answer with a one-line summary (exit 0) or every problem,
 * one per line (exit 2).
 */

import { parseDocument, isMap, isScalar } from 'yaml';
import { parseAgentConfig, type AgentConfig } from '../../agent/config.js';
import { parseAggregatorConfig, type AggregatorConfig } from '../../aggregator/config.js';
import { ConfigError } from '../../lib/errors.js';
import type { Env } from '../../lib/config/env.js';
import { readConfigFile } from '../../lib/config/load.js';
import { parseStartConfig, type StartOptions } from './start.js';

export type ConfigKind = 'agent' | 'aggregator' | 'start';

export interface CheckOptions extends StartOptions {
  /** skip detection */
  kind?: ConfigKind;
}

export interface CheckResult {
  exitCode: 0 | 2;
  output: string;
}

/** start: top-level `agent:` and `aggregator:`; agent: has `inputs`; otherwise aggregator. */
export function detectKind(text: string): ConfigKind {
  const root = parseDocument(text).contents;
  if (!isMap(root)) return 'aggregator';
  const keys = new Set(root.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')));
  if (keys.has('agent') && keys.has('aggregator')) return 'start';
  if (keys.has('inputs')) return 'agent';
  return 'aggregator';
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function agentSummary(c: AgentConfig): string {
  return `agent "${c.id}": ${plural(c.inputs.length, 'input')}, ${plural(c.aggregator.urls.length, 'aggregator url')}`;
}

function aggregatorSummary(c: AggregatorConfig): string {
  const topics = Object.keys(c.topics).filter((k) => k !== 'default').length;
  return (
    `aggregator on ${c.listen}: ${plural(topics, 'topic override')}, ${plural(c.sinks.length, 'sink')}, ` +
    `${plural(c.alerts.length, 'alert rule')}, ${plural(c.auth.tokens.length, 'token')}, storage ${c.storage.type}`
  );
}

export async function checkConfig(path: string, env: Env = process.env, opts: CheckOptions = {}): Promise<CheckResult> {
  try {
    const text = await readConfigFile(path);
    const kind = opts.kind ?? detectKind(text);
    let summary: string;
    if (kind === 'agent') summary = agentSummary(parseAgentConfig(text, path, env));
    else if (kind === 'aggregator') summary = aggregatorSummary(parseAggregatorConfig(text, path, env));
    else {
      const c = parseStartConfig(text, path, env, opts);
      summary = `start: ${aggregatorSummary(c.aggregator)}; ${agentSummary(c.agent)}`;
    }
    return { exitCode: 0, output: `${path}: ok (${summary})` };
  } catch (err) {
    if (err instanceof ConfigError) return { exitCode: 2, output: err.issues.map((i) => i.toString()).join('\n') };
    throw err;
  }
}
