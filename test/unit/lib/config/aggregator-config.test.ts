import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../lib/errors.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';

function issues(text: string): string[] {
  try {
    parseAggregatorConfig(text, 'agg.yaml', {});
  } catch (err) {
    return (err as ConfigError).issues.map(String);
  }
  throw new Error('expected a ConfigError');
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const DAY = 86_400_000;

describe('aggregator config', () => {
  it('an empty file is valid: every default', () => {
    expect(parseAggregatorConfig('', 'agg.yaml', {})).toEqual({
      listen: '127.0.0.1:9400',
      data_dir: '/var/lib/logship/aggregator',
      auth: { tokens: [] },
      topics: { default: { partitions: 4, retention: 7 * DAY, retention_bytes: 50 * GiB, segment_bytes: 128 * MiB, segment_ms: DAY } },
      storage: { type: 'local' },
      limits: {
        max_body_bytes: 16 * MiB,
        max_decompressed_batch_bytes: 64 * MiB,
        max_decompressed_request_bytes: 256 * MiB,
        max_topics: 1000,
        auto_create_topics: true,
        max_partitions_per_topic: 64,
        // _bulk and the produce API (issue 13)
        max_inflated_body_bytes: 128 * MiB,
        max_documents_per_request: 100_000,
        max_line_bytes: 4 * MiB,
        max_concurrent_json_requests: 64,
        idempotence_window: DAY,
        max_idempotence_entries: 2_000_000,
      },
      retention_check_interval: 30_000,
      sinks: [],
      alerts: [],
      pipelines: {},
    });
  });

  it('topic overrides merge over default', () => {
    const c = parseAggregatorConfig('topics:\n  default: {partitions: 2, retention: 1d}\n  app: {partitions: 8}\n  quiet: {}\n', 'agg.yaml', {});
    expect(c.topics.default).toMatchObject({ partitions: 2, retention: DAY });
    expect(c.topics.app).toEqual({ partitions: 8, retention: DAY, retention_bytes: 50 * GiB, segment_bytes: 128 * MiB, segment_ms: DAY });
    expect(c.topics.quiet).toEqual(c.topics.default);
  });

  it('no tokens and a public listen address is not a config error', () => {
    expect(parseAggregatorConfig('listen: 0.0.0.0:9400\n', 'agg.yaml', {}).listen).toBe('0.0.0.0:9400');
  });

  it('tokens: exactly one of token and token_file; names unique', () => {
    const text = [
      'auth:',
      '  tokens:',
      '    - {name: a, token: x, token_file: /f}', // 3
      '    - {name: b}', // 4
      '    - {name: a, token: yyyyyyyyyyyyyyyy}', // 5
    ].join('\n');
    expect(issues(text)).toEqual([
      'agg.yaml:3:24: auth.tokens[0].token: the token is 1 bytes; at least 16 are required (e.g. openssl rand -hex 32)',
      'agg.yaml:3:27: auth.tokens[0].token_file: set token or token_file, not both',
      'agg.yaml:4:7: auth.tokens[1]: set token or token_file',
      'agg.yaml:5:8: auth.tokens[2].name: token name "a" is already used by auth.tokens[0]',
    ]);
  });

  it('tokens: blank, control characters and short tokens are refused; scopes and topics are checked; no scopes warns (issue 9)', () => {
    const text = [
      'auth:',
      '  tokens:',
      '    - {name: a, token: "   "}', // 3
      '    - {name: b, token: "abcdefgh\\tabcdefgh"}', // 4
      '    - {name: c, token: 0123456789abcdef, scopes: [ingest, root]}', // 5
      '    - {name: d, token: 0123456789abcdef, scopes: [read], topics: ["a/b"]}', // 6
    ].join('\n');
    expect(issues(text)).toEqual([
      'agg.yaml:3:24: auth.tokens[0].token: the token is empty or only whitespace',
      'agg.yaml:4:24: auth.tokens[1].token: the token holds byte 0x09 at position 8: a token is one line of visible ASCII characters',
      'agg.yaml:5:59: auth.tokens[2].scopes[1]: must be one of "ingest", "read", "admin", got "root"',
      'agg.yaml:6:67: auth.tokens[3].topics[0]: invalid character "/" in topic name "a/b" (allowed: A-Z a-z 0-9 . _ -)',
    ]);
    const warnings: import('../../../../lib/errors.js').ConfigIssue[] = [];
    const c = parseAggregatorConfig(
      'auth:\n  tokens:\n    - {name: old, token: 0123456789abcdef}\n    - {name: new, token: 0123456789abcdeg, scopes: [ingest], topics: [app]}\n',
      'agg.yaml',
      {},
      { warnings },
    );
    expect(c.auth.tokens[1]).toEqual({ name: 'new', token: '0123456789abcdeg', scopes: ['ingest'], topics: ['app'] });
    expect(c.auth.tokens[0]!.scopes).toBeUndefined();
    expect(warnings.map(String)).toEqual([
      'agg.yaml:3:7: auth.tokens[0]: no scopes: this token has full access (ingest, read, admin); give agents scopes: [ingest] and readers scopes: [read]',
    ]);
  });

  it('tls needs cert_file and key_file', () => {
    expect(issues('tls: {cert_file: /c}\n')).toEqual(['agg.yaml:1:1: tls.key_file: required key is missing']);
  });

  it('storage: local or jetstream', () => {
    const c = parseAggregatorConfig('storage: {type: jetstream, servers: ["nats://n1:4222"]}\n', 'agg.yaml', {});
    expect(c.storage).toEqual({ type: 'jetstream', servers: ['nats://n1:4222'], replicas: 3, stream_prefix: 'logship', duplicate_window: 120_000, request_timeout: 3000 });
    expect(issues('storage: {type: jetstream, servers: ["nats://n1"], token: t, user: u, password: p}\n')).toEqual(['agg.yaml:1:62: storage.user: set one of token, user/password, creds_file, nkey_file (got token and user)']);
    expect(issues('storage: {type: jetstream, servers: ["nats://n1"], user: u}\n')).toEqual(['agg.yaml:1:52: storage.user: user and password go together']);
    expect(issues('storage: {type: jetstream, servers: ["nats://n1"], stream_prefix: "a.b"}\n')).toEqual(['agg.yaml:1:67: storage.stream_prefix: stream_prefix must be 1-32 of [A-Za-z0-9-]']);
    expect(issues('storage: {type: local, servers: [x]}\n')).toEqual(['agg.yaml:1:24: storage.servers: unknown key']);
    expect(issues('storage: {type: jetstream}\n')).toEqual(['agg.yaml:1:10: storage.servers: required key is missing']);
  });

  it('sinks: every type, defaults and exclusive keys', () => {
    const c = parseAggregatorConfig(
      [
        'sinks:',
        '  - {name: es, type: elasticsearch, topics: [app], urls: ["http://e:9200"]}',
        '  - {name: es2, type: elasticsearch, topics: [app], urls: ["http://e:9200"], index: "x-{topic}", username: u, password: p}',
        '  - {name: am, type: alertmanager, urls: ["http://a:9093"]}',
        '  - {name: pd, type: pagerduty, routing_key: k}',
        '  - {name: w, type: webhook, url: "http://w/x"}',
      ].join('\n'),
      'agg.yaml',
      {},
    );
    expect(c.sinks[0]).toEqual({
      type: 'elasticsearch',
      name: 'es',
      topics: ['app'],
      urls: ['http://e:9200'],
      data_stream: 'logs-{topic}-default',
      manage_template: true,
      batch_max_bytes: 5 * MiB,
      batch_max_docs: 5000,
      gzip: true,
      min_concurrency: 1,
      max_concurrency: 8,
      request_timeout: 60_000,
    });
    expect(c.sinks[1]).toHaveProperty('manage_template', false);
    expect(c.sinks[1]).toMatchObject({ index: 'x-{topic}', username: 'u', password: 'p' });
    expect(c.sinks[1]).not.toHaveProperty('data_stream');
    expect(c.sinks[3]).toEqual({ type: 'pagerduty', name: 'pd', routing_key: 'k', url: 'https://events.pagerduty.com/v2/enqueue' });

    expect(
      issues(
        [
          'sinks:',
          '  - {name: es, type: elasticsearch, topics: [a], urls: ["http://e"], data_stream: d, index: i, api_key: k, username: u}', // 2
          '  - {name: pd, type: pagerduty}', // 3
          '  - {name: es, type: webhook, url: "ftp://x"}', // 4
        ].join('\n'),
      ),
    ).toEqual([
      'agg.yaml:2:86: sinks[0].index: set data_stream or index, not both',
      'agg.yaml:2:96: sinks[0].api_key: set api_key or username and password, not both',
      'agg.yaml:2:108: sinks[0].username: username and password go together',
      'agg.yaml:3:5: sinks[1]: set routing_key or routing_key_file',
      'agg.yaml:4:6: sinks[2].name: sink name "es" is already used by sinks[0]',
      'agg.yaml:4:36: sinks[2].url: URL scheme must be http or https, got "ftp"',
    ]);
  });

  it('alerts: three kinds by shape', () => {
    const c = parseAggregatorConfig(
      [
        'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
        'alerts:',
        '  - {name: E, topic: app, match: "ERROR|FATAL", threshold: 10, window: 1m, labels: {severity: critical}, sinks: [am]}',
        '  - {name: C, metric: node_cpu_utilization, above: 0.9, for: 5m, sinks: [am]}',
        '  - {name: S, absent_for: 2m, annotations: {summary: "{{host}} is silent"}, sinks: [am]}',
      ].join('\n'),
      'agg.yaml',
      {},
    );
    expect(c.alerts).toEqual([
      { kind: 'match', name: 'E', topic: 'app', match: 'ERROR|FATAL', threshold: 10, window: 60_000, labels: { severity: 'critical' }, annotations: {}, sinks: ['am'], group_by: ['host'], max_age: 300_000 },
      {
        kind: 'metric', name: 'C', metric: 'node_cpu_utilization', above: 0.9, for: 300_000, labels: {}, annotations: {}, sinks: ['am'],
        group_by: ['host'], max_age: 300_000, match_labels: {}, aggregate: 'max',
      },
      { kind: 'absent', name: 'S', absent_for: 120_000, labels: {}, annotations: { summary: '{{host}} is silent' }, sinks: ['am'], group_by: ['host'], max_age: 300_000 },
    ]);
  });

  it('alerts: shape, label and reference errors', () => {
    const text = [
      'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
      'alerts:',
      '  - {name: A, sinks: [am]}', // 3
      '  - {name: B, metric: m, absent_for: 1m, sinks: [am]}', // 4
      '  - {name: C, metric: m, above: 1, below: 0, sinks: [am]}', // 5
      '  - {name: D, topic: app, match: "(", threshold: 1, sinks: [am, nope], labels: {"bad-label": x}}', // 6
      '  - {name: C, absent_for: 1m, sinks: [am]}', // 7
    ].join('\n');
    expect(issues(text)).toEqual([
      'agg.yaml:3:5: alerts[0]: cannot tell the kind: topic, match, threshold and window for a log-match rule; or metric with above or below for a metric rule; or absent_for for a silent-host rule',
      'agg.yaml:4:5: alerts[1]: mixes keys of different kinds: metric (metric) and absent (absent_for)',
      'agg.yaml:5:36: alerts[2].below: set above or below, not both',
      'agg.yaml:6:5: alerts[3].window: required key is missing',
      'agg.yaml:6:34: alerts[3].match: invalid regular expression: /(/: Unterminated group',
      'agg.yaml:6:65: alerts[3].sinks[1]: no sink named "nope" (configured alert sinks: "am")',
      'agg.yaml:6:81: alerts[3].labels.bad-label: invalid label name "bad-label": [A-Za-z_][A-Za-z0-9_]*',
      'agg.yaml:7:6: alerts[4].name: alert name "C" is already used by alerts[2]',
    ]);
  });
});
