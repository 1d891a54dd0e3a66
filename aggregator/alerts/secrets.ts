/**
 * The alert sinks' secret files (PagerDuty routing_key_file, webhook
 * bearer_token_file), read and checked while the config loads: the option
 * tables check them (checkSecretFileKey), so `logship check` reports an empty
 * one as an error and one it cannot read as a warning, both at the key's
 * FILE:LINE:COL; at start and on SIGHUP either is an error (a start exits 2,
 * a reload is refused while the running config keeps going). Never prints a
 * secret.
 */
import { ConfigError, ConfigIssue } from '../../lib/errors.js';
import { readSecretFile, SecretFileError, trimAsciiSpace } from '../../lib/config/secrets.js';
import type { OptionTable } from '../../lib/config/option-table.js';

/** Why the secret file at `path` cannot be used, or undefined. */
export function secretFileProblem(path: string): { problem: string; missing: boolean } | undefined {
  try {
    if (trimAsciiSpace(readSecretFile(path)).length === 0) return { problem: `${path} is empty`, missing: false };
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    return { problem: `${path}: ${err.message}`, missing: true };
  }
  return undefined;
}

/**
 * The option tables' check of a secret-file key, at the key's FILE:LINE:COL:
 * an empty file is an error; one that cannot be read here is a warning at
 * `logship check` (a config is often checked away from the host it runs on,
 * as for token files) and an error at start (withAlertSecretsChecked).
 */
export function checkSecretFileKey(key: string): NonNullable<OptionTable['check']> {
  return (v, ctx) => {
    const path = v[key];
    if (typeof path !== 'string') return;
    const p = secretFileProblem(path);
    if (!p) return;
    if (p.missing) ctx.warn(key, `${p.problem} (a start fails until it is readable)`);
    else ctx.error(key, p.problem);
  };
}

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
    const problem = secretFileProblem(path)?.problem;
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
