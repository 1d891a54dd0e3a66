/**
 * The aggregator's option table (house style 3) and its typed config. The
 * reference in docs/config-reference.md is generated from this table.
 */

import type { Env } from '../lib/config/env.js';
import { parseWithTable, readConfigFile, type ParseOptions } from '../lib/config/load.js';
import { t, table, type OptionSpec, type OptionTable, type OptionType } from '../lib/config/option-table.js';
import { MIN_TOKEN_BYTES, tokenProblem, trimAsciiSpace } from '../lib/config/secrets.js';
import { builtinSinks } from './sinks/registry.js';
import { alertRuleType, checkAlertPipelines, type AlertRule } from './alerts/config.js';
import { oneOf } from './sinks/config-common.js';
import { jetstreamTable, type JetStreamStorageConfig } from './storage/jetstream/config.js';
import { checkPipelines, pipelinesOption, type PipelineConfig } from './pipelines/config.js';
import type { ElasticsearchSinkConfig } from './sinks/elasticsearch/config.js';
import type { AlertmanagerSinkConfig } from './sinks/alertmanager/config.js';
import type { PagerDutySinkConfig } from './sinks/pagerduty/config.js';
import type { WebhookSinkConfig } from './sinks/webhook/config.js';
import { jsonIngestLimitKeys, type JsonIngestLimits } from './server/es-compat/config.js';

export type { ElasticsearchSinkConfig, AlertmanagerSinkConfig, PagerDutySinkConfig, WebhookSinkConfig };

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SECOND = 1000;
const DAY = 86_400_000;

export interface TopicConfig {
  partitions: number;
  retention: number;
  retention_bytes: number;
  segment_bytes: number;
  segment_ms: number;
}

export interface TokenConfig {
  name: string;
  token?: string;
  token_file?: string;
  /** undefined: full access (configs from before scopes) */
  scopes?: Array<'ingest' | 'read' | 'admin'>;
  /** undefined: every topic */
  topics?: string[];
}

export type StorageConfig = { type: 'local' } | JetStreamStorageConfig;

export type SinkConfig = ElasticsearchSinkConfig | AlertmanagerSinkConfig | PagerDutySinkConfig | WebhookSinkConfig;

export type { AlertRule, MatchAlertRule, MetricAlertRule, AbsentAlertRule } from './alerts/config.js';

export interface AggregatorConfig {
  listen: string;
  data_dir: string;
  tls?: { cert_file: string; key_file: string; client_ca_file?: string };
  auth: { tokens: TokenConfig[] };
  /** every configured topic, fully merged over `default` */
  topics: { default: TopicConfig; [topic: string]: TopicConfig };
  storage: StorageConfig;
  limits: JsonIngestLimits & {
    max_body_bytes: number;
    max_decompressed_batch_bytes: number;
    max_decompressed_request_bytes: number;
    max_topics: number;
    auto_create_topics: boolean | string[];
    max_partitions_per_topic: number;
    /** unset: defaultMaxConnections of ulimit -n (storage/descriptors.ts) */
    max_connections?: number;
    max_connections_per_address?: number;
  };
  retention_check_interval: number;
  sinks: SinkConfig[];
  alerts: AlertRule[];
  /** named parsing pipelines (schema on read), by name */
  pipelines: Record<string, PipelineConfig>;
  /** POST /v1/batches in separate processes (aggregator/ingest/); absent: the default for the host */
  ingest?: { processes?: number };
}

const topicKeys = (withDefaults: boolean): OptionSpec[] => {
  const d = (value: number) => (withDefaults ? { default: value } : {});
  return [
    { key: 'partitions', type: t.int({ min: 1, max: 1024 }), ...d(4), doc: 'partitions; records of one source stay in one partition' },
    { key: 'retention', type: t.duration({ min: 1 }), ...d(7 * DAY), doc: 'delete segments whose newest record is older than this' },
    { key: 'retention_bytes', type: t.size({ min: 1 }), ...d(50 * GiB), doc: 'per partition: delete the oldest segments beyond this size' },
    { key: 'segment_bytes', type: t.size({ min: 1 * KiB, max: 4 * GiB }), ...d(128 * MiB), doc: 'roll to a new segment at this size' },
    { key: 'segment_ms', type: t.duration({ min: 1 }), ...d(DAY), doc: 'roll to a new segment after this long' },
  ];
};

const inlineTokenProblem = (v: string): string | undefined => tokenProblem(trimAsciiSpace(Buffer.from(v, 'utf8')));

const ALERT_SINK_TYPES = builtinSinks.alertTypes();

function checkNamesUnique(list: unknown, what: string, at: (i: number) => string, ctx: Parameters<NonNullable<OptionTable['check']>>[1]): void {
  if (!Array.isArray(list)) return;
  const seen = new Map<string, number>();
  list.forEach((item: { name?: unknown } | undefined, i) => {
    if (typeof item?.name !== 'string') return;
    const first = seen.get(item.name);
    if (first !== undefined) ctx.error(`${at(i)}.name`, `${what} name "${item.name}" is already used by ${at(first)}`);
    else seen.set(item.name, i);
  });
}

export const aggregatorOptions: OptionTable = table(
  [
    { key: 'listen', type: t.listen(), default: '127.0.0.1:9400', doc: 'HTTP(S) listen address; IPv6 as [::1]:9400. Without tokens only a loopback address is allowed (checked at start)' },
    { key: 'data_dir', type: t.string(), default: '/var/lib/logship/aggregator', doc: 'topic logs, producer state, group offsets' },
    {
      key: 'tls',
      type: t.object(
        table([
          { key: 'cert_file', type: t.string(), required: true, doc: 'PEM server certificate (chain)' },
          { key: 'key_file', type: t.string(), required: true, doc: 'PEM private key' },
          { key: 'client_ca_file', type: t.string(), doc: 'PEM CAs; when set, clients must present a certificate they signed' },
        ]),
      ),
      optional: true,
      doc: 'serve HTTPS',
    },
    {
      key: 'auth',
      type: t.object(
        table([
          {
            key: 'tokens',
            type: t.list(
              t.object(
                table(
                  [
                    { key: 'name', type: t.name(), required: true, doc: 'who holds the token (logged, never the token)' },
                    { key: 'token', type: t.string(), validate: inlineTokenProblem, doc: `the token (at least ${MIN_TOKEN_BYTES} bytes of visible ASCII); or token_file` },
                    { key: 'token_file', type: t.string(), doc: 'file holding the token (checked like token at check and start; surrounding whitespace ignored; keep it chmod 600)' },
                    {
                      key: 'scopes',
                      type: t.list(t.enum(['ingest', 'read', 'admin']), { minItems: 1 }),
                      defaultDoc: 'full access (logship check warns)',
                      doc: 'ingest: POST batches, _bulk, produce | read: topics, records, group offsets | admin: everything',
                    },
                    { key: 'topics', type: t.list(t.topic(), { minItems: 1 }), defaultDoc: 'every topic', doc: 'topics this token may write and read (403 for others)' },
                  ],
                  (v, ctx) => {
                    oneOf('token', 'token_file', true)!(v, ctx);
                    if (!ctx.has('scopes')) ctx.warn('', 'no scopes: this token has full access (ingest, read, admin); give agents scopes: [ingest] and readers scopes: [read]');
                  },
                ),
              ),
            ),
            default: [],
            doc: 'accepted bearer tokens; none: the aggregator refuses to start unless listen is a loopback address',
          },
        ]),
      ),
      doc: 'client authentication',
    },
    {
      key: 'topics',
      type: {
        kind: 'map',
        keys: 'topic',
        placeholder: 'TOPIC',
        special: { default: t.object(table(topicKeys(true))) },
        of: t.object(table(topicKeys(false))),
      },
      doc: 'per-topic settings; `default` applies to every topic, a named topic overrides some keys',
    },
    {
      key: 'storage',
      type: t.union('type', {
        local: table([]),
        jetstream: jetstreamTable,
      }),
      default: { type: 'local' },
      doc: 'local: embedded, the default | jetstream: a NATS JetStream cluster, for several aggregators',
    },
    {
      key: 'limits',
      type: t.object(
        table([
          { key: 'max_body_bytes', type: t.size({ min: 1 * KiB }), default: 16 * MiB, doc: 'largest request body accepted (413 beyond)' },
          { key: 'max_decompressed_batch_bytes', type: t.size({ min: 1 * KiB, max: 4 * GiB - 1 }), default: 64 * MiB, doc: 'largest batch after decompression (413 beyond); ingest and readers never inflate more' },
          { key: 'max_decompressed_request_bytes', type: t.size({ min: 1 * KiB }), default: 256 * MiB, doc: 'largest sum of declared batch sizes after decompression in one request (413 beyond)' },
          { key: 'max_topics', type: t.int({ min: 1, max: 100_000 }), default: 1000, doc: 'topics the aggregator creates at most (403 topic_not_allowed beyond)' },
          {
            key: 'auto_create_topics',
            type: t.boolOrList(t.string()),
            default: true,
            doc: 'true: ingest creates any valid topic; false: only topics named under `topics`; a list: those names and globs too',
          },
          { key: 'max_partitions_per_topic', type: t.int({ min: 1, max: 1024 }), default: 64, doc: 'largest `partitions` a topic may have (config and topic.json on disk)' },
          {
            key: 'max_connections',
            type: t.int({ min: 1, max: 10_000_000 }),
            defaultDoc: 'what ulimit -n leaves after 256 reserved and 3 a partition for max_topics x topics.default.partitions, but at least a quarter of it after the 256, and at least 64',
            doc: 'client connections each listening process holds open at once; one more is closed as it is accepted (counted, logged), so connections never take the descriptors storage needs',
          },
          {
            key: 'max_connections_per_address',
            type: t.int({ min: 1, max: 10_000_000 }),
            defaultDoc: 'none (no cap per address)',
            doc: 'client connections one client address (an IPv6 client: its /64) holds open at once in each listening process; one more is closed as it is accepted (counted, logged), so one host cannot hold all of max_connections. Agents hold one each: leave it unset where many agents reach the aggregator through one address (NAT, a proxy)',
          },
          ...jsonIngestLimitKeys,
        ]),
      ),
      doc: 'request and resource limits (docs/security.md)',
    },
    {
      key: 'ingest',
      type: t.object(
        table([
          {
            key: 'processes',
            type: t.int({ min: 0, max: 64 }),
            defaultDoc: '1 up to 3 cores, else cores - 1 up to 4',
            doc: 'processes that accept connections and decode and check POST /v1/batches, each with its own event loop; this process stays the one writer (storage, fsync, other routes). 0 or 1: all in this process',
          },
        ]),
      ),
      optional: true,
      doc: 'ingest processes (docs/aggregator.md, "Ingest processes")',
    },
    { key: 'retention_check_interval', type: t.duration({ min: 100 }), default: 30 * SECOND, doc: 'how often retention runs' },
    {
      key: 'sinks',
      type: t.list(t.union('type', builtinSinks.tables())),
      default: [],
      doc: 'where records and alerts go; each sink has its own cursor',
    },
    { key: 'alerts', type: t.list(alertRuleType), default: [], doc: 'alert rules' },
    pipelinesOption,
  ],
  (v, ctx) => {
    checkNamesUnique(v.sinks, 'sink', (i) => `sinks[${i}]`, ctx);
    checkNamesUnique(v.alerts, 'alert', (i) => `alerts[${i}]`, ctx);
    checkPipelines(v, ctx);
    checkAlertPipelines(v, ctx);
    const auth = v.auth as { tokens?: unknown } | undefined;
    checkNamesUnique(auth?.tokens, 'token', (i) => `auth.tokens[${i}]`, ctx);

    const topics = v.topics as Record<string, Partial<TopicConfig> | undefined> | undefined;
    const maxParts = (v.limits as { max_partitions_per_topic?: number } | undefined)?.max_partitions_per_topic;
    if (topics && maxParts !== undefined) {
      for (const name of Object.keys(topics)) {
        const n = topics[name]?.partitions;
        if (n !== undefined && n > maxParts) ctx.error(`topics.${name}.partitions`, `${n} partitions exceed limits.max_partitions_per_topic (${maxParts})`);
      }
    }
    if (topics?.default) {
      for (const [name, override] of Object.entries(topics)) {
        if (name === 'default' || !override) continue;
        const merged: Record<string, unknown> = { ...topics.default };
        for (const [k, val] of Object.entries(override)) if (val !== undefined) merged[k] = val;
        topics[name] = merged as unknown as TopicConfig;
      }
    }

    if (!Array.isArray(v.sinks) || !Array.isArray(v.alerts)) return;
    // a sink that failed validation may be the one a rule names: report only what is certain
    const allSinksValid = (v.sinks as unknown[]).every((s) => s !== undefined);
    const sinkTypes = new Map<string, string>();
    for (const s of v.sinks as Array<{ name?: unknown; type?: unknown } | undefined>) {
      if (typeof s?.name === 'string' && typeof s.type === 'string') sinkTypes.set(s.name, s.type);
    }
    (v.alerts as Array<{ sinks?: unknown } | undefined>).forEach((rule, i) => {
      if (!Array.isArray(rule?.sinks)) return;
      rule.sinks.forEach((name: unknown, j) => {
        if (typeof name !== 'string') return;
        const type = sinkTypes.get(name);
        const at = `alerts[${i}].sinks[${j}]`;
        if (type === undefined && allSinksValid) {
          const known = [...sinkTypes].filter(([, ty]) => ALERT_SINK_TYPES.has(ty)).map(([n]) => `"${n}"`);
          ctx.error(at, `no sink named "${name}" (configured alert sinks: ${known.length ? known.join(', ') : 'none'})`);
        } else if (type !== undefined && !ALERT_SINK_TYPES.has(type)) {
          ctx.error(at, `sink "${name}" is an ${type} sink; alerts go to alertmanager, pagerduty or webhook sinks`);
        }
      });
    });
  },
);

/** Parse and validate aggregator config text. Throws ConfigError listing every problem. */
export function parseAggregatorConfig(text: string, file: string, env?: Env, opts: Omit<ParseOptions, 'env'> = {}): AggregatorConfig {
  return parseWithTable<AggregatorConfig>(text, file, aggregatorOptions, { ...opts, ...(env ? { env } : {}) });
}

/** Read, parse and validate an aggregator config file. */
export async function loadAggregatorConfig(path: string, env?: Env): Promise<AggregatorConfig> {
  return parseAggregatorConfig(await readConfigFile(path), path, env);
}
