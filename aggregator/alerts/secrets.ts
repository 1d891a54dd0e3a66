/**
 * The alert sinks' secret files (PagerDuty routing_key_file, webhook
 * bearer_token_file), read and checked while the config loads, so a start
 * with a missing or empty one exits 2 naming the file and a SIGHUP with one
 * is refused while the running config keeps going. Never prints a secret.
 */
import { ConfigError, ConfigIssue } from '../../lib/errors.js';
import { readSecretFile, SecretFileError, trimAsciiSpace } from '../../lib/config/secrets.js';

interface SinkLike {
  type: string;
  name: string;
  routing_key_file?: string;
  bearer_token_file?: string;
}

export function alertSecretProblems(sinks: readonly SinkLike[], file: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  sinks.forEach((s, i) => {
    const key = s.type === 'pagerduty' ? 'routing_key_file' : s.type === 'webhook' ? 'bearer_token_file' : undefined;
    const path = key ? s[key as 'routing_key_file' | 'bearer_token_file'] : undefined;
    if (!key || path === undefined) return;
    let problem: string | undefined;
    try {
      if (trimAsciiSpace(readSecretFile(path)).length === 0) problem = `${path} is empty`;
    } catch (err) {
      if (!(err instanceof SecretFileError)) throw err;
      problem = `${path}: ${err.message}`;
    }
    if (problem) out.push(new ConfigIssue(file, 1, 1, `sinks[${i}].${key}`, problem));
  });
  return out;
}

/** Throws the ConfigError for unreadable or empty alert-sink secret files. */
export function withAlertSecretsChecked<C extends { sinks: readonly SinkLike[] }>(c: C, file: string): C {
  const problems = alertSecretProblems(c.sinks, file);
  if (problems.length > 0) throw new ConfigError(problems);
  return c;
}
