import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../lib/errors.js';
import { parseStartConfig, resolveDataDir } from '../../../../bin/config/start.js';

const minimal = `aggregator:
  listen: 127.0.0.1:9400
agent:
  inputs: [{type: host_metrics, topic: metrics}]
`;

describe('start config', () => {
  it('data dirs default under the data dir; agent urls default to the aggregator', () => {
    const c = parseStartConfig(minimal, 'logship.yaml', {}, { dataDir: '/tmp/ls-data' });
    expect(c.aggregator.data_dir).toBe('/tmp/ls-data/aggregator');
    expect(c.agent.data_dir).toBe('/tmp/ls-data/agent');
    expect(c.agent.aggregator.urls).toEqual(['http://127.0.0.1:9400']);
    expect(c.agent.aggregator.request_timeout).toBe(30_000);
  });

  it('data dir: opts, else $LOGSHIP_DATA_DIR, else ./data, made absolute', () => {
    expect(resolveDataDir({}, { dataDir: 'rel' })).toBe(resolve('rel'));
    expect(resolveDataDir({ LOGSHIP_DATA_DIR: '/srv/ls' })).toBe('/srv/ls');
    expect(resolveDataDir({})).toBe(resolve('data'));
    const c = parseStartConfig(minimal, 'logship.yaml', { LOGSHIP_DATA_DIR: '/srv/ls' });
    expect(c.agent.data_dir).toBe('/srv/ls/agent');
  });

  it('explicit values win', () => {
    const text = `aggregator:
  listen: 0.0.0.0:9500
  data_dir: /a
agent:
  data_dir: /b
  inputs: [{type: host_metrics, topic: metrics}]
`;
    const c = parseStartConfig(text, 'logship.yaml', {}, { dataDir: '/x' });
    expect([c.aggregator.data_dir, c.agent.data_dir]).toEqual(['/a', '/b']);
    expect(c.agent.aggregator.urls).toEqual(['http://127.0.0.1:9500']);
    const withUrls = text.replace('  data_dir: /b\n', '  data_dir: /b\n  aggregator: {urls: ["http://elsewhere:1"]}\n');
    expect(parseStartConfig(withUrls, 'logship.yaml', {}).agent.aggregator.urls).toEqual(['http://elsewhere:1']);
  });

  it('the aggregator section may be omitted; IPv6 and TLS listen addresses map to urls', () => {
    expect(parseStartConfig('agent: {inputs: [{type: host_metrics, topic: m}]}\n', 'l.yaml', {}).agent.aggregator.urls).toEqual([
      'http://127.0.0.1:9400',
    ]);
    const v6 = 'aggregator: {listen: "[::]:9400", tls: {cert_file: /c, key_file: /k}}\nagent: {inputs: [{type: host_metrics, topic: m}]}\n';
    expect(parseStartConfig(v6, 'l.yaml', {}).agent.aggregator.urls).toEqual(['https://[::1]:9400']);
  });

  it('errors carry section paths and positions; unknown sections get did-you-mean', () => {
    const text = `aggregator:
  listen: 127.0.0.1:9400
  limits: {max_body_bytes: 1MiB}
agnet: {}
agent:
  inputs: [{type: file, topic: app}]
`;
    // the catch must not swallow a missing throw: take the error out, then check it
    let err: unknown;
    try {
      parseStartConfig(text, 'logship.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err, 'expected a ConfigError, nothing was thrown').toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map(String)).toEqual([
      'logship.yaml:4:1: agnet: unknown key (did you mean "agent"?)',
      'logship.yaml:5:1: agent.aggregator.max_request_bytes: 4MiB is more than aggregator.limits.max_body_bytes (1MiB): large batches would be refused',
      'logship.yaml:6:12: agent.inputs[0].include: required key is missing',
    ]);
  });
});
