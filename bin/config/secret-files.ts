/**
 * The files a config names that hold secrets (token files, TLS private keys):
 * `logship check` reads token files and checks them like inline tokens, and
 * both `check` and every start warn when one of these files is readable by
 * its group or by everyone. Nothing here ever prints a secret.
 */
import type { AgentConfig } from '../../agent/config.js';
import type { AggregatorConfig } from '../../aggregator/config.js';
import type { ElasticsearchSinkConfig } from '../../aggregator/sinks/elasticsearch/config.js';
import { ConfigIssue } from '../../lib/errors.js';
import { loosePermissions, readSecretFile, SecretFileError, tokenProblem, trimAsciiSpace } from '../../lib/config/secrets.js';

export interface SecretFiles {
  aggregator?: AggregatorConfig;
  agent?: AgentConfig;
  /** key-path prefix, e.g. "aggregator." for a `logship start` config */
  aggregatorAt?: string;
  agentAt?: string;
}

interface Named {
  path: string;
  at: string;
  token: boolean;
}

function secretFiles(c: SecretFiles): Named[] {
  const out: Named[] = [];
  const agg = c.aggregator;
  if (agg) {
    const p = c.aggregatorAt ?? '';
    agg.auth.tokens.forEach((tk, i) => {
      if (tk.token_file !== undefined) out.push({ path: tk.token_file, at: `${p}auth.tokens[${i}].token_file`, token: true });
    });
    if (agg.tls) out.push({ path: agg.tls.key_file, at: `${p}tls.key_file`, token: false });
    agg.sinks.forEach((sink, i) => {
      if (sink.type !== 'elasticsearch') return;
      const es = sink as ElasticsearchSinkConfig;
      for (const key of ['api_key_file', 'username_file', 'password_file'] as const) {
        const path = es[key];
        if (path !== undefined) out.push({ path, at: `${p}sinks[${i}].${key}`, token: false });
      }
      if (es.tls?.key_file !== undefined) out.push({ path: es.tls.key_file, at: `${p}sinks[${i}].tls.key_file`, token: false });
    });
  }
  const agent = c.agent;
  if (agent) {
    const p = c.agentAt ?? '';
    if (agent.aggregator.token_file !== undefined) out.push({ path: agent.aggregator.token_file, at: `${p}aggregator.token_file`, token: true });
    if (agent.aggregator.tls?.key_file !== undefined) out.push({ path: agent.aggregator.tls.key_file, at: `${p}aggregator.tls.key_file`, token: false });
  }
  return out;
}

/** Group- or world-readable secret files, as log lines (at every start and reload). */
export function looseSecretFiles(c: SecretFiles): string[] {
  const out: string[] = [];
  for (const f of secretFiles(c)) {
    const loose = loosePermissions(f.path);
    if (loose) out.push(`${f.at}: ${loose}`);
  }
  return out;
}

/**
 * For `logship check`: token files that hold no usable token are errors; unreadable files and
 * loose permissions are warnings (a config is often checked away from the host it runs on).
 */
export function inspectSecretFiles(c: SecretFiles, skipMissing: ReadonlySet<string> = new Set()): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  for (const f of secretFiles(c)) {
    if (f.token) {
      let bytes: Buffer;
      try {
        bytes = trimAsciiSpace(readSecretFile(f.path));
      } catch (err) {
        if (!(err instanceof SecretFileError)) throw err;
        if (skipMissing.has(f.path)) continue;
        warnings.push(new ConfigIssue(f.path, 1, 1, f.at, `${err.message} (checked again at start)`));
        continue;
      }
      const problem = tokenProblem(bytes);
      if (problem) errors.push(new ConfigIssue(f.path, 1, 1, f.at, problem));
    }
    const loose = loosePermissions(f.path);
    if (loose) warnings.push(new ConfigIssue(f.path, 1, 1, f.at, loose));
  }
  return { errors, warnings };
}
