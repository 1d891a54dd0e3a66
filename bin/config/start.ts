/**
 * `logship start`: one file with an `aggregator:` and an `agent:` section,
 * each using its component's table, with start-friendly defaults: both
 * data_dirs live under one data dir, and the agent sends to the aggregator
 * beside it unless `agent.aggregator.urls` says otherwise. Without tokens in
 * the file, the agent gets an ingest-only token and readers a read-only one
 * (start-tokens.ts).
 *
 * It lives in bin/ (like check.ts and gen-reference.ts) because it composes
 * both programs' tables, and lib/ imports neither agent/ nor aggregator/.
 */

import { resolve } from 'node:path';
import { agentOptions, type AgentConfig } from '../../agent/config.js';
import { aggregatorOptions, type AggregatorConfig } from '../../aggregator/config.js';
import type { Env } from '../../lib/config/env.js';
import type { ConfigIssue } from '../../lib/errors.js';
import { listenToUrl } from '../../lib/config/listen.js';
import { parseWithTable, readConfigFile } from '../../lib/config/load.js';
import { t, table, type OptionTable } from '../../lib/config/option-table.js';
import { formatSize } from '../../lib/config/units.js';
import { startTokenFiles } from './start-tokens.js';

export type StartConfig = { aggregator: AggregatorConfig; agent: AgentConfig };

export interface StartOptions {
  /** default: $LOGSHIP_DATA_DIR, else ./data; made absolute */
  dataDir?: string;
}

export const startOptions: OptionTable = table(
  [
    { key: 'aggregator', type: t.object(aggregatorOptions), doc: 'the aggregator, same keys as an aggregator config' },
    { key: 'agent', type: t.object(agentOptions), doc: 'the agent, same keys as an agent config' },
  ],
  (v, ctx) => {
    const agg = v.aggregator as Partial<AggregatorConfig> | undefined;
    const agent = v.agent as Partial<AgentConfig> | undefined;
    const body = agg?.limits?.max_body_bytes;
    const req = agent?.aggregator?.max_request_bytes;
    if (body !== undefined && req !== undefined && req > body) {
      ctx.error(
        'agent.aggregator.max_request_bytes',
        `${formatSize(req)} is more than aggregator.limits.max_body_bytes (${formatSize(body)}): large batches would be refused`,
      );
    }
    const batch = agent?.batch?.max_bytes;
    const decompressed = agg?.limits?.max_decompressed_batch_bytes;
    if (batch !== undefined && decompressed !== undefined && batch > decompressed) {
      ctx.error(
        'agent.batch.max_bytes',
        `${formatSize(batch)} is more than aggregator.limits.max_decompressed_batch_bytes (${formatSize(decompressed)}): batches would be refused`,
      );
    }
  },
);

/** The data dir `logship start` uses: opts, else $LOGSHIP_DATA_DIR, else ./data; absolute. */
export function resolveDataDir(env: Env = process.env, opts: StartOptions = {}): string {
  return resolve(opts.dataDir || env.LOGSHIP_DATA_DIR || './data');
}

export function parseStartConfig(text: string, file: string, env: Env = process.env, opts: StartOptions = {}, warnings?: ConfigIssue[]): StartConfig {
  const dataDir = resolveDataDir(env, opts);
  return withStartTokens(parseStartConfig0(text, file, env, dataDir, warnings), dataDir);
}

/**
 * No tokens in the config: the aggregator accepts an ingest token (the agent's) and a read token
 * (for readers), both under DATA_DIR/tokens (made by ensureStartTokens at start).
 */
function withStartTokens(c: StartConfig, dataDir: string): StartConfig {
  if (c.aggregator.auth.tokens.length > 0) return c;
  const f = startTokenFiles(dataDir);
  c.aggregator.auth.tokens = [
    { name: 'agent', token_file: f.agent, scopes: ['ingest'] },
    { name: 'reader', token_file: f.read, scopes: ['read'] },
  ];
  if (c.agent.aggregator.token === undefined && c.agent.aggregator.token_file === undefined) c.agent.aggregator.token_file = f.agent;
  return c;
}

function parseStartConfig0(text: string, file: string, env: Env, dataDir: string, warnings?: ConfigIssue[]): StartConfig {
  return parseWithTable<StartConfig>(text, file, startOptions, {
    env,
    ...(warnings ? { warnings } : {}),
    defaults: {
      'aggregator.data_dir': () => resolve(dataDir, 'aggregator'),
      'agent.data_dir': () => resolve(dataDir, 'agent'),
      'agent.aggregator.urls': (root) => {
        const agg = root.aggregator as Partial<AggregatorConfig> | undefined;
        const listen = typeof agg?.listen === 'string' ? agg.listen : '127.0.0.1:9400';
        return [listenToUrl(listen, agg?.tls ? 'https' : 'http')];
      },
    },
  });
}

export async function loadStartConfig(path: string, env: Env = process.env, opts: StartOptions = {}): Promise<StartConfig> {
  return parseStartConfig(await readConfigFile(path), path, env, opts);
}
