import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../lib/errors.js';
import { parseAgentConfig } from '../../../../agent/config.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';

/** The issues of a config that must fail, as FILE:LINE:COL: path: message strings. */
function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('LSH_ERR_CONFIG');
    return (err as ConfigError).issues.map(String);
  }
  throw new Error('expected a ConfigError');
}
const agent = (text: string) => issues(() => parseAgentConfig(text, 'agent.yaml', {}));
const aggregator = (text: string) => issues(() => parseAggregatorConfig(text, 'agg.yaml', {}));

describe('error positions', () => {
  it('unknown key: at the key, with did-you-mean (the contract example)', () => {
    const text = [
      'id: web-01', // 1
      'aggregator:', // 2
      '  urls: [http://127.0.0.1:9400]', // 3
      'inputs:', // 4
      '  - type: file', // 5
      '    topic: app', // 6
      "    multline: {start_pattern: '^\\d'}", // 7
      '    include: [/var/log/*.log]', // 8
    ].join('\n');
    expect(agent(text)).toEqual(['agent.yaml:7:5: inputs[0].multline: unknown key (did you mean "multiline"?)']);
  });

  it('bad values: at the value', () => {
    const text = [
      'aggregator:',
      '  urls: [http://a:1, ftp://b]', // 2: ftp at col 22
      '  request_timeout: 30', // 3
      'inputs:',
      '  - type: file',
      '    topic: app',
      '    include: [/x]',
      '    max_line_bytes: 1 megabyte', // 8
      'compression: {level: 25}', // 9
    ].join('\n');
    expect(agent(text)).toEqual([
      'agent.yaml:2:22: aggregator.urls[1]: URL scheme must be http or https, got "ftp"',
      'agent.yaml:3:20: aggregator.request_timeout: a duration needs a unit: write "30s" or "30ms" (units: ms, s, m, h, d)',
      'agent.yaml:8:21: inputs[0].max_line_bytes: unknown size unit "megabyte" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)',
      'agent.yaml:9:22: compression.level: must be at most 19, got 25',
    ]);
  });

  it('missing required keys: at the parent', () => {
    const text = [
      'aggregator:', // 1
      '  token: abcdefghijklmnop',
      'inputs:',
      '  - type: file', // 4: item at col 5
      '    include: [/x]',
      '  - {type: host_metrics, interval: 5s}', // 6: item at col 5
    ].join('\n');
    expect(agent(text)).toEqual([
      'agent.yaml:1:1: aggregator.urls: required key is missing',
      'agent.yaml:4:5: inputs[0].topic: required key is missing',
      'agent.yaml:6:5: inputs[1].topic: required key is missing',
    ]);
  });

  it('missing top-level keys of an empty or comment-only file: at 1:1', () => {
    expect(agent('')).toEqual([
      'agent.yaml:1:1: aggregator: required key is missing',
      'agent.yaml:1:1: inputs: required key is missing',
    ]);
  });

  it('a required key written empty', () => {
    expect(agent('aggregator:\n  urls:\ninputs: [{type: host_metrics, topic: m}]\n')).toEqual([
      'agent.yaml:2:3: aggregator.urls: required key has no value',
    ]);
  });

  it('wrong shapes', () => {
    expect(agent('aggregator: [a]\ninputs: {type: file}\n')).toEqual([
      'agent.yaml:1:13: aggregator: expected a mapping, got a list',
      'agent.yaml:2:9: inputs: expected a list, got a mapping',
    ]);
    expect(aggregator('- a\n- b\n')).toEqual(['agg.yaml:1:1: (root): expected a mapping of keys at the top level, got a list']);
  });

  it('YAML syntax errors carry their position', () => {
    const out = aggregator('listen: 127.0.0.1:9400\ntopics: {app: {partitions: 2}\nsinks: []\n');
    expect(out.length).toBeGreaterThan(0);
    expect(out[0]).toMatch(/^agg\.yaml:\d+:\d+: \(root\): YAML syntax error: /);
    expect(aggregator('listen: a\nlisten: b\n')).toEqual(['agg.yaml:2:1: (root): YAML syntax error: Map keys must be unique']);
    expect(aggregator('data_dir: "unterminated\n')[0]).toMatch(/^agg\.yaml:\d+:\d+: \(root\): YAML syntax error: Missing closing "quote/);
  });

  it('cross-field problems point at the key named', () => {
    const text = ['aggregator:', '  urls: [http://a:1]', '  token: tttttttttttttttt', '  token_file: /f', 'inputs: [{type: host_metrics, topic: m}]'].join('\n');
    expect(agent(text)).toEqual(['agent.yaml:4:3: aggregator.token_file: set token or token_file, not both']);
  });

  it('discriminator problems', () => {
    const text = ['aggregator: {urls: [http://a:1]}', 'inputs:', '  - type: fil', '    topic: app', '  - topic: app'].join('\n');
    expect(agent(text)).toEqual([
      'agent.yaml:3:11: inputs[0].type: unknown type "fil": expected one of "file", "host_metrics", "journald" (did you mean "file"?)',
      'agent.yaml:5:5: inputs[1].type: required key is missing (one of "file", "host_metrics", "journald")',
    ]);
  });

  it('issues are sorted by position', () => {
    const out = aggregator('listen: nope\nretention_check_interval: 1x\ndata_dir: ""\n');
    expect(out.map((l) => l.split(':').slice(1, 3).join(':'))).toEqual(['1:9', '2:27', '3:11']);
  });
});

describe('every error collected', () => {
  it('reports all problems of a file in one ConfigError', () => {
    const text = [
      'id: ""', // 1
      'aggregator:',
      '  urls: []', // 3
      '  max_backoff: forever', // 4
      'inputs:',
      '  - type: file',
      '    topic: "bad topic"', // 7
      '    include: [/x]',
      '    start_at: middle', // 9
      '    multiline: {start_pattern: "("}', // 10
      '  - type: host_metrics',
      '    topic: ..', // 12
      '    intervl: 10s', // 13
      'buffer: {max_bytes: 2GiB, when_full: drop-oldest}', // 14
      'status: {listen: "localhost"}', // 15
      'extra_key: 1', // 16
    ].join('\n');
    const out = agent(text);
    expect(out).toEqual([
      'agent.yaml:1:5: id: must not be empty',
      'agent.yaml:3:9: aggregator.urls: needs at least 1 item',
      'agent.yaml:4:16: aggregator.max_backoff: invalid duration "forever" (examples: 500ms, 10s, 5m, 2h, 7d, 1h30m)',
      'agent.yaml:7:12: inputs[0].topic: invalid character " " in topic name "bad topic" (allowed: A-Z a-z 0-9 . _ -)',
      'agent.yaml:9:15: inputs[0].start_at: must be one of "beginning", "end", got "middle"',
      expect.stringMatching(/^agent\.yaml:10:32: inputs\[0\]\.multiline\.start_pattern: invalid regular expression: \/\(\/: Unterminated group$/),
      'agent.yaml:12:12: inputs[1].topic: ".." is not a valid topic name',
      'agent.yaml:13:5: inputs[1].intervl: unknown key (did you mean "interval"?)',
      'agent.yaml:14:38: buffer.when_full: must be one of "block", "drop_oldest", got "drop-oldest" (did you mean "drop_oldest"?)',
      expect.stringMatching(/^agent\.yaml:15:18: status\.listen: invalid listen address "localhost": expected host:port/),
      'agent.yaml:16:1: extra_key: unknown key',
    ]);
  });

  it('the ConfigError message lists every issue, one a line', () => {
    try {
      parseAggregatorConfig('listen: x\nlimits: {max_body_bytes: 1}\n', 'agg.yaml', {});
    } catch (err) {
      expect((err as Error).message.split('\n')).toHaveLength(2);
      return;
    }
    expect.unreachable();
  });
});
