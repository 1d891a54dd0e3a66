/**
 * `logship check`: validate any config file, telling the kind by its shape
 * (or as told), and answer with a one-line summary (exit 0) or every problem,
 * one per line (exit 2). Warnings (tokens without scopes, secret files others
 * can read, token files not readable here) go to stderr and do not fail.
 */

import { parseDocument, isMap, isScalar } from 'yaml';
import { parseAgentConfig, type AgentConfig } from '../../agent/config.js';
import { parseAggregatorConfig, type AggregatorConfig } from '../../aggregator/config.js';
import { ConfigError, type ConfigIssue } from '../../lib/errors.js';
import type { Env } from '../../lib/config/env.js';
import { readConfigFile } from '../../lib/config/load.js';
import { parseStartConfig, resolveDataDir, type StartOptions } from './start.js';
import { startTokenFiles } from './start-tokens.js';
import { inspectSecretFiles, type SecretFiles } from './secret-files.js';

export type ConfigKind = 'agent' | 'aggregator' | 'start';

export interface CheckOptions extends StartOptions {
  /** skip detection */
  kind?: ConfigKind;
}

export interface CheckResult {
  exitCode: 0 | 2;
  /** the summary (exit 0) or every error, one per line (exit 2) */
  output: string;
  /** risky but valid findings, one per line as FILE:LINE:COL: key.path: warning: ...; absent when none */
  warnings?: string;
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

const warningLine = (i: ConfigIssue) => `${i.file}:${i.line}:${i.col}: ${i.path || '(root)'}: warning: ${i.message}`;

export async function checkConfig(path: string, env: Env = process.env, opts: CheckOptions = {}): Promise<CheckResult> {
  const warnings: ConfigIssue[] = [];
  const withWarnings = (r: CheckResult): CheckResult => (warnings.length > 0 ? { ...r, warnings: warnings.map(warningLine).join('\n') } : r);
  try {
    const text = await readConfigFile(path);
    const kind = opts.kind ?? detectKind(text);
    let summary: string;
    let secrets: SecretFiles;
    if (kind === 'agent') {
      const c = parseAgentConfig(text, path, env, { warnings });
      summary = agentSummary(c);
      secrets = { agent: c };
    } else if (kind === 'aggregator') {
      const c = parseAggregatorConfig(text, path, env, { warnings });
      summary = aggregatorSummary(c);
      secrets = { aggregator: c };
    } else {
      const c = parseStartConfig(text, path, env, opts, warnings);
      summary = `start: ${aggregatorSummary(c.aggregator)}; ${agentSummary(c.agent)}`;
      secrets = { aggregator: c.aggregator, agent: c.agent, aggregatorAt: 'aggregator.', agentAt: 'agent.' };
    }
    // `logship start` makes its own token files at first start: not there yet is not worth a warning
    const later = kind === 'start' ? Object.values(startTokenFiles(resolveDataDir(env, opts))) : [];
    const files = inspectSecretFiles(secrets, new Set(later));
    warnings.push(...files.warnings);
    if (files.errors.length > 0) throw new ConfigError(files.errors);
    return withWarnings({ exitCode: 0, output: `${path}: ok (${summary})` });
  } catch (err) {
    if (err instanceof ConfigError) return withWarnings({ exitCode: 2, output: err.issues.map((i) => i.toString()).join('\n') });
    throw err;
  }
}
