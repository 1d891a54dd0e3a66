/**
 * The agent's option table (house style 3) and its typed config. The
 * reference in docs/config-reference.md is generated from this table.
 */

import { hostname } from 'node:os';
import { readConfigFile, parseWithTable, type ParseOptions } from '../lib/config/load.js';
import { t, table, type OptionTable } from '../lib/config/option-table.js';
import type { Env } from '../lib/config/env.js';
import { tokenProblem, trimAsciiSpace } from '../lib/config/secrets.js';
import { journaldInputTable, type JournaldInputConfig } from './inputs/journald/config.js';

export type { JournaldInputConfig } from './inputs/journald/config.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SECOND = 1000;
const DAY = 86_400_000;

export interface AgentTlsConfig {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
}

export interface AgentAggregatorConfig {
  urls: string[];
  token?: string;
  token_file?: string;
  tls?: AgentTlsConfig;
  request_timeout: number;
  max_backoff: number;
  max_request_bytes: number;
  /** stream: the batch stream, POST where it is not taken | post: POST /v1/batches only */
  transport: 'stream' | 'post';
}

export interface MultilineConfig {
  start_pattern: string;
  timeout: number;
  max_lines: number;
}

export interface FileInputConfig {
  type: 'file';
  name: string;
  topic: string;
  include: string[];
  exclude: string[];
  start_at: 'beginning' | 'end';
  multiline?: MultilineConfig;
  max_line_bytes: number;
  max_open_files: number;
  /** deprecated, ignored (reads are sized by batch.max_bytes) */
  read_buffer_bytes?: number;
  scan_interval: number;
  partial_line_timeout: number;
  state_ttl: number;
  max_watched_dirs: number;
}

export interface HostMetricsInputConfig {
  type: 'host_metrics';
  name: string;
  topic: string;
  interval: number;
  proc_root: string;
  sys_root: string;
  rootfs: string;
}

export type InputConfig = FileInputConfig | HostMetricsInputConfig | JournaldInputConfig;

export interface AgentConfig {
  id: string;
  data_dir: string;
  aggregator: AgentAggregatorConfig;
  inputs: InputConfig[];
  batch: { max_bytes: number; max_wait: number };
  compression: { level: number; threads: number };
  buffer: { max_bytes: number; when_full: 'block' | 'drop_oldest' };
  /** '' when disabled */
  status: { listen: string };
}

const tlsTable = table(
  [
    { key: 'ca_file', type: t.string(), doc: 'PEM bundle of CAs that sign the aggregator certificate (default: the system CAs)' },
    { key: 'cert_file', type: t.string(), doc: 'PEM client certificate, for an aggregator that requires client certificates' },
    { key: 'key_file', type: t.string(), doc: 'PEM private key of cert_file' },
  ],
  (v, ctx) => {
    if (ctx.has('cert_file') !== ctx.has('key_file')) {
      ctx.error(ctx.has('cert_file') ? 'cert_file' : 'key_file', 'cert_file and key_file go together: set both or neither');
    }
  },
);

const aggregatorTable = table(
  [
    { key: 'urls', type: t.list(t.url(), { minItems: 1 }), required: true, doc: 'aggregator base URLs, tried in order (failover)' },
    { key: 'token', type: t.string(), validate: (v: string) => tokenProblem(trimAsciiSpace(Buffer.from(v, 'utf8'))), doc: 'bearer token (prefer token_file); at most one of token and token_file' },
    { key: 'token_file', type: t.string(), doc: 'file holding the bearer token (surrounding whitespace ignored)' },
    { key: 'tls', type: t.object(tlsTable), optional: true, doc: 'TLS settings for https:// URLs' },
    { key: 'request_timeout', type: t.duration({ min: 1 }), default: 30 * SECOND, doc: 'give up on one request after this long and retry' },
    { key: 'max_backoff', type: t.duration({ min: 1 }), default: 30 * SECOND, doc: 'longest wait between retries (exponential backoff with jitter)' },
    { key: 'max_request_bytes', type: t.size({ min: 1 * KiB }), default: 4 * MiB, doc: 'largest request body sent; keep it at most the aggregator limits.max_body_bytes' },
    {
      key: 'transport',
      type: t.enum(['stream', 'post']),
      default: 'stream',
      doc: 'stream: requests as frames on one upgraded connection (GET /v1/batches), POST for 10 minutes where the upgrade is not taken | post: one POST /v1/batches each, for proxies that take the upgrade but break the connection',
    },
  ],
  (v, ctx) => {
    if (ctx.has('token') && ctx.has('token_file')) ctx.error('token_file', 'set token or token_file, not both');
  },
);

const multilineTable = table([
  { key: 'start_pattern', type: t.regex(), required: true, doc: 'JavaScript regex matching the first line of a record; other lines join the record before them' },
  { key: 'timeout', type: t.duration({ min: 1 }), default: 2 * SECOND, doc: 'flush a record when no new line came for this long' },
  { key: 'max_lines', type: t.int({ min: 1, max: 100_000 }), default: 1000, doc: 'flush a record at this many lines' },
]);

const fileInputTable = table(
  [
    { key: 'name', type: t.name(), defaultFn: ({ index }) => `file-${index ?? 0}`, defaultDoc: '"file-<index>"', doc: 'input name, unique; used in metrics and as the identity of its file state' },
    { key: 'topic', type: t.topic(), required: true, doc: 'topic the lines go to' },
    { key: 'include', type: t.list(t.string(), { minItems: 1 }), required: true, doc: 'glob patterns of files to tail (`*`, `**`, `?`, `[...]`, `{a,b}`)' },
    { key: 'exclude', type: t.list(t.string()), default: [], doc: 'glob patterns to skip; a pattern without `/` matches the file name, e.g. `*.gz`' },
    { key: 'start_at', type: t.enum(['beginning', 'end']), default: 'end', doc: "where to start in the files found at the input's first start (files that appear later, also while the agent is down, are always read from the beginning)" },
    { key: 'multiline', type: t.object(multilineTable), optional: true, doc: 'join continuation lines (stack traces) into one record' },
    { key: 'max_line_bytes', type: t.size({ min: 1 * KiB }), default: 1 * MiB, doc: 'longer lines are split into flagged parts, never silently dropped' },
    { key: 'max_open_files', type: t.int({ min: 1, max: 1_000_000 }), default: 1024, doc: 'file descriptors this input may hold open at once' },
    {
      key: 'read_buffer_bytes',
      type: t.size({ min: 4 * KiB, max: 64 * MiB }),
      doc: 'deprecated and ignored (reads are sized by batch.max_bytes); accepted so older configs still load, with a warning',
    },
    { key: 'scan_interval', type: t.duration({ min: 100 }), default: 30 * SECOND, doc: 'full rescan of the include patterns, to catch what file events (inotify) missed; each rescan stats every matched file' },
    { key: 'partial_line_timeout', type: t.duration({ min: 1 }), default: 5 * SECOND, doc: 'a trailing line without a newline is shipped after this long unchanged' },
    { key: 'state_ttl', type: t.duration({ min: SECOND }), default: 7 * DAY, doc: 'forget the position of a file not seen for this long' },
    {
      key: 'max_watched_dirs',
      type: t.int({ min: 1, max: 1_000_000 }),
      default: 10_000,
      doc: 'directories under the include bases walked and watched (inotify) at most; beyond it an error is logged and files below the others are not tailed',
    },
  ],
  (_v, ctx) => {
    if (ctx.has('read_buffer_bytes')) ctx.warn('read_buffer_bytes', 'read_buffer_bytes is deprecated and ignored: reads are sized by batch.max_bytes; remove the key');
  },
);

const hostMetricsInputTable = table([
  { key: 'name', type: t.name(), defaultFn: ({ index }) => `host_metrics-${index ?? 0}`, defaultDoc: '"host_metrics-<index>"', doc: 'input name, unique' },
  { key: 'topic', type: t.topic(), required: true, doc: 'topic the metric records go to' },
  { key: 'interval', type: t.duration({ min: SECOND }), default: 10 * SECOND, doc: 'time between two samples' },
  { key: 'proc_root', type: t.string(), default: '/proc', doc: 'where procfs is mounted (e.g. /host/proc in a container)' },
  { key: 'sys_root', type: t.string(), default: '/sys', doc: 'where sysfs is mounted' },
  { key: 'rootfs', type: t.string(), default: '/', doc: 'root of the host file system, for filesystem metrics' },
]);

export const agentOptions: OptionTable = table(
  [
    { key: 'id', type: t.string(), defaultFn: () => hostname(), defaultDoc: 'the host name', doc: 'this agent\'s identity: the `host` of its records and its producer id; keep it stable' },
    { key: 'data_dir', type: t.string(), default: '/var/lib/logship/agent', doc: 'disk buffer and file positions' },
    { key: 'aggregator', type: t.object(aggregatorTable), required: true, doc: 'where to send' },
    {
      key: 'inputs',
      type: t.list(t.union('type', { file: fileInputTable, host_metrics: hostMetricsInputTable, journald: journaldInputTable }), { minItems: 1 }),
      required: true,
      doc: 'what to collect; at least one',
    },
    {
      key: 'batch',
      type: t.object(
        table([
          { key: 'max_bytes', type: t.size({ min: 1 * KiB, max: 256 * MiB }), default: 1 * MiB, doc: 'cut a batch at this many uncompressed bytes' },
          { key: 'max_wait', type: t.duration(), default: 1 * SECOND, doc: 'a file that grew is read at most this long after the growth is seen, so a slow writer\'s lines go out as one batch; a whole batch.max_bytes of growth is read at once (0: read at once)' },
        ]),
      ),
      doc: 'how lines are grouped before compression',
    },
    {
      key: 'compression',
      type: t.object(
        table([
          {
            key: 'level',
            type: t.int({ min: -7, max: 19 }),
            default: 1,
            doc: 'zstd level: 1..19, higher trades CPU for size; -1..-7 are zstd\'s fast levels, less CPU than 1 for larger payloads (0 is not a level)',
            validate: (v: number) => (v === 0 ? 'must not be 0 (zstd would read it as its default level 3): use 1, or -1..-7 for the fast levels' : undefined),
          },
          {
            key: 'threads',
            type: t.int({ min: 0, max: 1 }),
            default: 1,
            doc: '1: batches over 512 KiB are compressed on zstd\'s own threads (two at most at once; they stop after 10 s without work), smaller ones on the main thread | 0: every batch on the main thread (the agent is bounded by one core: 11-23 % less throughput here)',
          },
        ]),
      ),
      doc: 'batch compression',
    },
    {
      key: 'buffer',
      type: t.object(
        table([
          { key: 'max_bytes', type: t.size({ min: 1 * MiB }), default: 2 * GiB, doc: 'disk buffer limit, covering aggregator outages' },
          { key: 'when_full', type: t.enum(['block', 'drop_oldest']), default: 'block', doc: 'block: stop reading (the files are the backlog) | drop_oldest: drop the oldest batches, counted and logged' },
        ]),
      ),
      doc: 'the disk buffer between inputs and the aggregator',
    },
    {
      key: 'status',
      type: t.object(table([{ key: 'listen', type: t.listen({ allowOff: true }), default: '127.0.0.1:9401', doc: "GET /status, /metrics, /healthz; '' or off disables" }])),
      doc: 'the local status listener used by `logship status`',
    },
  ],
  (v, ctx) => {
    const seen = new Map<string, number>();
    const inputs = Array.isArray(v.inputs) ? (v.inputs as Array<{ name?: unknown } | undefined>) : [];
    inputs.forEach((input, i) => {
      if (typeof input?.name !== 'string') return;
      const first = seen.get(input.name);
      if (first !== undefined) ctx.error(`inputs[${i}]`, `input name "${input.name}" is already used by inputs[${first}]`);
      else seen.set(input.name, i);
    });
  },
);

/** Parse and validate agent config text. Throws ConfigError listing every problem. */
export function parseAgentConfig(text: string, file: string, env?: Env, opts: Omit<ParseOptions, 'env'> = {}): AgentConfig {
  return parseWithTable<AgentConfig>(text, file, agentOptions, { ...opts, ...(env ? { env } : {}) });
}

/** Read, parse and validate an agent config file. */
export async function loadAgentConfig(path: string, env?: Env, opts: Omit<ParseOptions, 'env'> = {}): Promise<AgentConfig> {
  return parseAgentConfig(await readConfigFile(path), path, env, opts);
}
