#!/usr/bin/env node
/**
 * The one CLI entry: parses argv and dispatches. Exit codes: 0 done,
 * 1 runtime failure, 2 bad usage or config.
 */
// First, before the other modules load and grow the heap: `logship agent` keeps its young generation small.
import '../agent/heap.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigIssue, LogshipError, UsageError } from '../lib/errors.js';
import { readSecretFile, SecretFileError, tokenProblem, trimAsciiSpace } from '../lib/config/secrets.js';
import { createLogger, isLogLevel, type Logger } from '../lib/obs/logger.js';
import { loadAgentConfig, type AgentConfig } from '../agent/config.js';
import type { AggregatorConfig } from '../aggregator/config.js';
import { Agent } from '../agent/index.js';
import { runService, type Service } from './service.js';
import { looseSecretFiles } from './config/secret-files.js';
import { HELP, commandHelp } from './help.js';
import { agentStatusLine, aggregatorStatusLine } from './status-line.js';

// Each command imports what only it uses when it runs: `logship agent` on every host must not
// load (and hold in memory) the aggregator, its sinks, storage backends and client commands.
const aggregatorModules = async () => {
  const [index, config, auth, secrets] = await Promise.all([
    import('../aggregator/index.js'),
    import('../aggregator/config.js'),
    import('../aggregator/server/auth.js'),
    import('../aggregator/alerts/secrets.js'),
  ]);
  return { Aggregator: index.Aggregator, loadAggregatorConfig: config.loadAggregatorConfig, loadTokens: auth.loadTokens, withAlertSecretsChecked: secrets.withAlertSecretsChecked };
};

type Opts = ParseArgsConfig['options'];
const common: Opts = { help: { type: 'boolean', short: 'h' }, 'log-level': { type: 'string' }, 'log-format': { type: 'string' } };
const client: Opts = { url: { type: 'string' }, 'token-file': { type: 'string' }, format: { type: 'string' } };

function parse(cmd: string, args: string[], options: Opts) {
  try {
    return parseArgs({ args, options: { ...common, ...options }, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${commandHelp(cmd)}`);
  }
}

function token(v: Record<string, unknown>): string | undefined {
  const f = v['token-file'] as string | undefined;
  if (f) return readFileSync(f, 'utf8').trim();
  return process.env.LOGSHIP_TOKEN || undefined;
}

function logger(v: Record<string, unknown>, name: string): Logger {
  const level = (v['log-level'] as string | undefined) ?? process.env.LOGSHIP_LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "${level}"`);
  // Human-readable on a terminal, JSON lines otherwise (journald); --log-format or LOGSHIP_LOG_FORMAT forces either.
  const fmt = (v['log-format'] as string | undefined) ?? (process.env.LOGSHIP_LOG_FORMAT || undefined);
  if (fmt !== undefined && fmt !== 'json' && fmt !== 'pretty') throw new UsageError(`--log-format must be json or pretty; got "${fmt}"`);
  return createLogger({ level, name, ...(fmt ? { pretty: fmt === 'pretty' } : {}) });
}

function required(v: Record<string, unknown>, key: string, cmd: string): string {
  const s = v[key];
  if (typeof s !== 'string' || !s) throw new UsageError(`logship ${cmd}: --${key} is required\n\n${commandHelp(cmd)}`);
  return s;
}

function intOpt(v: Record<string, unknown>, key: string): number | undefined {
  const s = v[key] as string | undefined;
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${key} must be a non-negative integer, got "${s}"`);
  return n;
}

function format<T extends string>(v: Record<string, unknown>, allowed: T[], def: T): T {
  const f = (v.format as string | undefined) ?? def;
  if (!allowed.includes(f as T)) throw new UsageError(`--format must be one of ${allowed.join(', ')}; got "${f}"`);
  return f as T;
}

const out = (s: string) => process.stdout.write(s);

let hooked: Agent | undefined;
/**
 * LOGSHIP_TEST_HOOKS=1 (tests only): SIGUSR2 holds or releases the agent pipeline's appends, wedging
 * it the way a bug would, so tests can watch the watchdogs (health state stuck, systemd's WATCHDOG=1).
 */
function testHooks(agent: Agent, log: Logger): void {
  if (process.env.LOGSHIP_TEST_HOOKS !== '1') return;
  if (!hooked) {
    process.on('SIGUSR2', () => {
      const p = hooked?.pipeline;
      if (!p) return;
      p.holdAppends(!p.appendsHeld);
      log.warn({ held: p.appendsHeld }, 'test hook: pipeline appends held/released (LOGSHIP_TEST_HOOKS=1)');
    });
  }
  hooked = agent;
}

/** An agent's token file must hold a token the aggregator could accept: checked at start and at every reload. */
function withAgentTokenChecked(c: AgentConfig): AgentConfig {
  const f = c.aggregator.token_file;
  if (f === undefined) return c;
  let problem: string | undefined;
  try {
    problem = tokenProblem(trimAsciiSpace(readSecretFile(f)));
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    problem = err.message;
  }
  if (problem) throw new ConfigError([new ConfigIssue(f, 1, 1, 'aggregator.token_file', problem)]);
  return c;
}

/** Throws the ConfigError loadTokens would throw at start (blank, short, unreadable token files). */
function withTokensChecked(c: AggregatorConfig, path: string, loadTokens: (t: AggregatorConfig['auth']['tokens'], path: string) => unknown): AggregatorConfig {
  loadTokens(c.auth.tokens, path);
  return c;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out(HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === '--version') {
    out(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version + '\n');
    return 0;
  }
  const wantsHelp = args.includes('--help') || args.includes('-h');
  if (wantsHelp) {
    out(commandHelp(cmd) + '\n');
    return 0;
  }
  switch (cmd) {
    case 'check': {
      const v = parse(cmd, args, { config: { type: 'string', short: 'c' }, kind: { type: 'string' } });
      const { checkConfig } = await import('./config/check.js');
      const r = await checkConfig(required(v, 'config', cmd), process.env, { kind: v.kind as 'agent' | undefined });
      (r.exitCode === 0 ? process.stdout : process.stderr).write(r.output + '\n');
      if (r.warnings) process.stderr.write(r.warnings + '\n');
      return r.exitCode;
    }
    case 'agent': {
      const v = parse(cmd, args, { config: { type: 'string', short: 'c' } });
      const path = required(v, 'config', cmd);
      const log = logger(v, 'logship-agent');
      const load = async (): Promise<AgentConfig> => {
        const warnings: ConfigIssue[] = [];
        const c = withAgentTokenChecked(await loadAgentConfig(path, undefined, { warnings }));
        for (const w of warnings) log.warn(`config warning: ${w.toString()}`);
        return c;
      };
      return runService(log, load, async (config) => {
        for (const w of looseSecretFiles({ agent: config })) log.warn(w);
        // The agent has this process to itself: it may collect its heap when it turns quiet (agent/heap.ts).
        const a = new Agent({ config, logger: log, collectWhenQuiet: true });
        await a.start();
        testHooks(a, log);
        return { close: () => a.close(), statusLine: agentStatusLine(a), progressing: () => a.health().state !== 'stuck' };
      });
    }
    case 'aggregator': {
      const v = parse(cmd, args, { config: { type: 'string', short: 'c' } });
      const path = required(v, 'config', cmd);
      const log = logger(v, 'logship-aggregator');
      const { Aggregator, loadAggregatorConfig, loadTokens, withAlertSecretsChecked } = await aggregatorModules();
      // Token files are read as part of loading, so a SIGHUP with a bad one is refused and the running config stays.
      return runService(log, () => loadAggregatorConfig(path).then((c) => withAlertSecretsChecked(withTokensChecked(c, path, loadTokens), path)), async (config) => {
        for (const w of looseSecretFiles({ aggregator: config })) log.warn(w);
        const a = new Aggregator({ config, logger: log });
        await a.start();
        return { close: () => a.close(), statusLine: aggregatorStatusLine(a, config.listen) };
      });
    }
    case 'start': {
      const v = parse(cmd, args, { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' } });
      const path = (v.config as string | undefined) ?? new URL('../../config/logship.yaml', import.meta.url).pathname;
      const log = logger(v, 'logship');
      const { Aggregator, loadTokens, withAlertSecretsChecked } = await aggregatorModules();
      const { loadStartConfig, resolveDataDir } = await import('./config/start.js');
      const { ensureStartTokens, startTokenFiles } = await import('./config/start-tokens.js');
      const dataDir = resolveDataDir(process.env, { dataDir: v['data-dir'] as string | undefined });
      await ensureStartTokens(dataDir);
      const readToken = startTokenFiles(dataDir).read;
      return runService(log, () => loadStartConfig(path, process.env, { dataDir }).then((c) => ({ ...c, aggregator: withAlertSecretsChecked(withTokensChecked(c.aggregator, path, loadTokens), path) })), async (cfg) => {
        for (const w of looseSecretFiles({ ...cfg, aggregatorAt: 'aggregator.', agentAt: 'agent.' })) log.warn(w);
        const agg = new Aggregator({ config: cfg.aggregator, logger: log.child({ component: 'aggregator' }) });
        const addr = await agg.start();
        const agent = new Agent({ config: cfg.agent, logger: log.child({ component: 'agent' }) });
        try {
          await agent.start();
        } catch (err) {
          await agg.close();
          throw err;
        }
        const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
        const topics = [...new Set(cfg.agent.inputs.map((i) => i.topic))];
        // the generated read token, unless the config brings its own tokens
        const tf = cfg.aggregator.auth.tokens.some((x) => x.token_file === readToken) ? ` --token-file ${readToken}` : '';
        process.stderr.write(
          `\nlogship is running (data in ${dataDir})\n` +
            `  aggregator: ${url}   agent status: ${agent.statusAddress ? `http://127.0.0.1:${agent.statusAddress.port}/status` : 'off'}\n` +
            `  read what it ships:  node dist/bin/logship.js read --url ${url}${tf} --topic ${topics[0] ?? 'logs'} --from-beginning\n` +
            `  topics:              node dist/bin/logship.js topics --url ${url}${tf}\n` +
            `  stop: Ctrl-C\n\n`,
        );
        const aggLine = aggregatorStatusLine(agg, url);
        const agentLine = agentStatusLine(agent);
        const both: Service = {
          async close() {
            await agent.close();
            await agg.close();
          },
          statusLine: async () => `aggregator: ${await aggLine()}; agent: ${await agentLine()}`,
          progressing: () => agent.health().state !== 'stuck',
        };
        return both;
      });
    }
    case 'read': {
      const v = parse(cmd, args, {
        ...client,
        topic: { type: 'string', short: 't' },
        partition: { type: 'string', short: 'p' },
        'from-beginning': { type: 'boolean' },
        offset: { type: 'string' },
        since: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
        group: { type: 'string', short: 'g' },
        max: { type: 'string', short: 'n' },
        parse: { type: 'boolean' },
      });
      const starts = ['from-beginning', 'offset', 'since'].filter((k) => v[k] !== undefined);
      if (starts.length > 1) throw new UsageError(`use only one of --from-beginning, --offset, --since (got ${starts.map((s) => '--' + s).join(', ')})`);
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
      process.stdout.on('error', () => ac.abort());
      const { readCommand } = await import('../aggregator/client/read.js');
      return readCommand({
        url: (v.url as string | undefined) ?? 'http://127.0.0.1:9400',
        token: token(v),
        topic: required(v, 'topic', cmd),
        partition: intOpt(v, 'partition'),
        fromBeginning: v['from-beginning'] === true,
        offset: intOpt(v, 'offset'),
        since: v.since as string | undefined,
        follow: v.follow === true,
        group: v.group as string | undefined,
        format: format(v, ['raw', 'json'], 'raw'),
        parse: v.parse === true,
        max: intOpt(v, 'max'),
        write: out,
        signal: ac.signal,
      });
    }
    case 'alerts': {
      const v = parse(cmd, args, client);
      const { alertsCommand } = await import('../aggregator/client/alerts.js');
      return alertsCommand({ url: (v.url as string | undefined) ?? 'http://127.0.0.1:9400', token: token(v), format: format(v, ['text', 'json'], 'text'), write: out });
    }
    case 'pipeline': {
      const [sub, ...rest] = args;
      if (sub !== 'test') throw new UsageError(`logship pipeline: unknown subcommand "${sub ?? ''}"\n\n${commandHelp(cmd)}`);
      const v = parse(cmd, rest, { config: { type: 'string', short: 'c' }, pipeline: { type: 'string', short: 'p' }, format: { type: 'string' } });
      const { pipelineTestCommand } = await import('../aggregator/pipelines/cli.js');
      const { parseStartConfig } = await import('./config/start.js');
      return pipelineTestCommand({
        config: required(v, 'config', cmd),
        pipeline: required(v, 'pipeline', cmd),
        input: process.stdin,
        write: out,
        writeErr: (s) => process.stderr.write(s),
        format: format(v, ['json', 'pretty'], 'json'),
        parseStart: (text, file) => parseStartConfig(text, file, process.env).aggregator,
      });
    }
    case 'topics': {
      const v = parse(cmd, args, client);
      const { topicsCommand } = await import('../aggregator/client/topics.js');
      return topicsCommand({ url: (v.url as string | undefined) ?? 'http://127.0.0.1:9400', token: token(v), format: format(v, ['text', 'json'], 'text'), write: out });
    }
    case 'sinks': {
      const v = parse(cmd, args, client);
      const { sinksCommand } = await import('../aggregator/client/sinks.js');
      return sinksCommand({ url: (v.url as string | undefined) ?? 'http://127.0.0.1:9400', token: token(v), format: format(v, ['text', 'json'], 'text'), write: out });
    }
    case 'status': {
      const v = parse(cmd, args, { url: { type: 'string' }, format: { type: 'string' } });
      const { statusCommand } = await import('../agent/status/cli.js');
      return statusCommand({ url: (v.url as string | undefined) ?? 'http://127.0.0.1:9401', format: format(v, ['text', 'json'], 'text'), write: out });
    }
    default:
      throw new UsageError(`unknown command "${cmd}"\n\n${HELP}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(err.issues.map((i) => i.toString()).join('\n') + '\n');
      process.exitCode = 2;
    } else if (err instanceof UsageError) {
      process.stderr.write(`logship: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof LogshipError) {
      process.stderr.write(`logship: ${err.message}\n`);
      process.exitCode = err.code === 'LSH_ERR_CONFIG' ? 2 : 1;
    } else {
      process.stderr.write(`logship: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
    // A start that failed half-way may leave a timer, worker or handle behind: exit anyway.
    setTimeout(() => process.exit(), 1000).unref();
  },
);
