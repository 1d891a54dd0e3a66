import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../lib/errors.js';
import { parseAgentConfig } from '../../../../agent/config.js';

function issues(text: string): string[] {
  try {
    parseAgentConfig(text, 'agent.yaml', {});
  } catch (err) {
    return (err as ConfigError).issues.map(String);
  }
  throw new Error('expected a ConfigError');
}

const minimal = `aggregator:
  urls: [http://127.0.0.1:9400]
inputs:
  - type: file
    topic: app
    include: ["/var/log/app/*.log"]
  - type: host_metrics
    topic: metrics
`;

describe('agent config', () => {
  it('fills every default', () => {
    const c = parseAgentConfig(minimal, 'agent.yaml', {});
    expect(c).toEqual({
      id: hostname(),
      data_dir: '/var/lib/logship/agent',
      aggregator: { urls: ['http://127.0.0.1:9400'], request_timeout: 30_000, max_backoff: 30_000, max_request_bytes: 4 * 1024 ** 2, transport: 'stream' },
      inputs: [
        {
          type: 'file',
          name: 'file-0',
          topic: 'app',
          include: ['/var/log/app/*.log'],
          exclude: [],
          start_at: 'end',
          max_line_bytes: 1024 ** 2,
          max_open_files: 1024,
          scan_interval: 30_000,
          partial_line_timeout: 5_000,
          state_ttl: 7 * 86_400_000,
          max_watched_dirs: 10_000,
        },
        { type: 'host_metrics', name: 'host_metrics-1', topic: 'metrics', interval: 10_000, proc_root: '/proc', sys_root: '/sys', rootfs: '/' },
      ],
      batch: { max_bytes: 1024 ** 2, max_wait: 1000 },
      compression: { level: 1, threads: 1 },
      buffer: { max_bytes: 2 * 1024 ** 3, when_full: 'block' },
      status: { listen: '127.0.0.1:9401' },
    });
  });

  it('read_buffer_bytes (deprecated) still loads, is not defaulted, and warns where it is', () => {
    const warnings: import('../../../../lib/errors.js').ConfigIssue[] = [];
    const c = parseAgentConfig(minimal.replace('    topic: app\n', '    topic: app\n    read_buffer_bytes: 64KiB\n'), 'agent.yaml', {}, { warnings });
    expect(warnings.map(String)).toEqual([
      'agent.yaml:6:5: inputs[0].read_buffer_bytes: read_buffer_bytes is deprecated and ignored: reads are sized by batch.max_bytes; remove the key',
    ]);
    const none: typeof warnings = [];
    const d = parseAgentConfig(minimal, 'agent.yaml', {}, { warnings: none });
    expect(none).toEqual([]);
    expect(d.inputs[0]).not.toHaveProperty('read_buffer_bytes');
    expect(c.inputs[0]).toHaveProperty('read_buffer_bytes', 64 * 1024);
  });

  it('multiline defaults and pattern validation', () => {
    const c = parseAgentConfig(minimal.replace('    topic: app\n', "    topic: app\n    multiline: {start_pattern: '^\\d{4}-'}\n"), 'a.yaml', {});
    const input = c.inputs[0];
    expect(input?.type === 'file' && input.multiline).toEqual({ start_pattern: '^\\d{4}-', timeout: 2000, max_lines: 1000 });
    expect(issues(minimal.replace('    topic: app\n', '    topic: app\n    multiline: {timeout: 1s}\n'))).toEqual([
      'agent.yaml:6:5: inputs[0].multiline.start_pattern: required key is missing',
    ]);
  });

  it('status listen can be disabled with off or an empty string', () => {
    expect(parseAgentConfig(`${minimal}status: {listen: off}\n`, 'a.yaml', {}).status.listen).toBe('');
    expect(parseAgentConfig(`${minimal}status: {listen: ''}\n`, 'a.yaml', {}).status.listen).toBe('');
    expect(parseAgentConfig(`${minimal}status: {listen: '[::1]:0'}\n`, 'a.yaml', {}).status.listen).toBe('[::1]:0');
  });

  it('token and token_file: at most one', () => {
    const both = minimal.replace('  urls: [http://127.0.0.1:9400]\n', '  urls: [http://127.0.0.1:9400]\n  token: abcdefghijklmnop\n  token_file: /etc/t\n');
    expect(issues(both)).toEqual(['agent.yaml:4:3: aggregator.token_file: set token or token_file, not both']);
    const one = minimal.replace('  urls: [http://127.0.0.1:9400]\n', '  urls: [http://127.0.0.1:9400]\n  token_file: /etc/t\n');
    expect(parseAgentConfig(one, 'a.yaml', {}).aggregator.token_file).toBe('/etc/t');
  });

  it('tls cert_file and key_file go together', () => {
    const text = minimal.replace('  urls: [http://127.0.0.1:9400]\n', '  urls: [https://agg:9400]\n  tls: {ca_file: /ca, cert_file: /c}\n');
    expect(issues(text)).toEqual(['agent.yaml:3:23: aggregator.tls.cert_file: cert_file and key_file go together: set both or neither']);
  });

  it('input names are unique', () => {
    const text = `${minimal}  - {type: file, name: file-0, topic: b, include: [/b]}\n`;
    expect(issues(text)).toEqual(['agent.yaml:9:5: inputs[2]: input name "file-0" is already used by inputs[0]']);
  });

  it('needs at least one input and one url', () => {
    expect(issues('aggregator: {urls: []}\ninputs: []\n')).toEqual([
      'agent.yaml:1:20: aggregator.urls: needs at least 1 item',
      'agent.yaml:2:9: inputs: needs at least 1 item',
    ]);
  });

  it('strings that YAML reads as numbers keep their text', () => {
    const c = parseAgentConfig(`id: 0042\n${minimal}`, 'a.yaml', {});
    expect(c.id).toBe('0042');
  });

  it('a string where a number is wanted is an error (unless it came from ${VAR})', () => {
    expect(issues(`${minimal}compression: {level: "3"}\n`)).toEqual(['agent.yaml:9:22: compression.level: expected an integer, got a string "3"']);
  });

  it('compression.threads is 0 or 1, wrong values named with their place', () => {
    expect(parseAgentConfig(`${minimal}compression: {threads: 0}\n`, 'agent.yaml', {}).compression).toEqual({ level: 1, threads: 0 });
    expect(issues(`${minimal}compression:\n  threads: 2\n`)).toEqual(['agent.yaml:10:12: compression.threads: must be at most 1, got 2']);
    expect(issues(`${minimal}compression:\n  threads: -1\n`)).toEqual(['agent.yaml:10:12: compression.threads: must be at least 0, got -1']);
  });

  it('compression.level takes 1..19 and the fast levels -1..-7, never 0', () => {
    expect(parseAgentConfig(`${minimal}compression: {level: -3}\n`, 'agent.yaml', {}).compression).toEqual({ level: -3, threads: 1 });
    expect(parseAgentConfig(`${minimal}compression: {level: 19}\n`, 'agent.yaml', {}).compression.level).toBe(19);
    expect(issues(`${minimal}compression:\n  level: 0\n`)).toEqual([
      'agent.yaml:10:10: compression.level: must not be 0 (zstd would read it as its default level 3): use 1, or -1..-7 for the fast levels',
    ]);
    expect(issues(`${minimal}compression:\n  level: -8\n`)).toEqual(['agent.yaml:10:10: compression.level: must be at least -7, got -8']);
    expect(issues(`${minimal}compression:\n  level: 20\n`)).toEqual(['agent.yaml:10:10: compression.level: must be at most 19, got 20']);
  });

  it('anchors and aliases are followed', () => {
    const text = `aggregator:
  urls: &urls [http://a:1, http://b:2]
inputs:
  - &f {type: file, topic: a, include: [/a]}
  - {type: file, name: second, topic: b, include: *urls}
`;
    const c = parseAgentConfig(text, 'a.yaml', {});
    expect(c.inputs[1]).toMatchObject({ name: 'second', include: ['http://a:1', 'http://b:2'] });
  });
});
