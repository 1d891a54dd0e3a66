import { describe, expect, it } from 'vitest';
import { isLoopbackListen, listenToUrl, parseListen } from '../../../../lib/config/listen.js';
import { isValidTopicName, topicNameProblem } from '../../../../lib/config/names.js';
import { ConfigError } from '../../../../lib/errors.js';
import { parseAgentConfig } from '../../../../agent/config.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';

describe('topic names', () => {
  it.each(['app', 'a', 'logs.nginx-access_2024', 'A.B', '...', '.hidden', '2024', 'x'.repeat(200)])('accepts %j', (name) => {
    expect(isValidTopicName(name)).toBe(true);
    expect(topicNameProblem(name)).toBeUndefined();
  });

  it.each(['', '.', '..', 'x'.repeat(201), 'a b', 'a/b', 'é', 'a:b', 'a*'])('rejects %j', (name) => {
    expect(isValidTopicName(name)).toBe(false);
    expect(topicNameProblem(name)).toBeDefined();
  });

  it('is checked everywhere a topic appears', () => {
    const agg = [
      'topics:',
      '  "a/b": {partitions: 1}', // 2:3 key
      'sinks:',
      '  - {name: es, type: elasticsearch, topics: [ok, "..", ""], urls: ["http://e"], dead_letter_topic: "x y"}',
      'alerts:',
      '  - {name: E, topic: "a*", match: x, threshold: 1, window: 1m, sinks: [es2]}',
      '  - {name: F, absent_for: 1m, sinks: [es]}',
    ].join('\n');
    let out: string[] = [];
    try {
      parseAggregatorConfig(agg, 'agg.yaml', {});
    } catch (err) {
      out = (err as ConfigError).issues.map(String);
    }
    expect(out).toEqual([
      'agg.yaml:2:3: topics."a/b": invalid character "/" in topic name "a/b" (allowed: A-Z a-z 0-9 . _ -)',
      'agg.yaml:4:50: sinks[0].topics[1]: ".." is not a valid topic name',
      'agg.yaml:4:56: sinks[0].topics[2]: topic name is empty',
      'agg.yaml:4:100: sinks[0].dead_letter_topic: invalid character " " in topic name "x y" (allowed: A-Z a-z 0-9 . _ -)',
      'agg.yaml:6:22: alerts[0].topic: invalid character "*" in topic name "a*" (allowed: A-Z a-z 0-9 . _ -)',
      'agg.yaml:6:72: alerts[0].sinks[0]: no sink named "es2" (configured alert sinks: none)',
      'agg.yaml:7:39: alerts[1].sinks[0]: sink "es" is an elasticsearch sink; alerts go to alertmanager, pagerduty or webhook sinks',
    ]);
    expect(() =>
      parseAgentConfig('aggregator: {urls: ["http://a"]}\ninputs: [{type: host_metrics, topic: "."}]\n', 'a.yaml', {}),
    ).toThrow(/a\.yaml:2:38: inputs\[0\]\.topic: "\." is not a valid topic name/);
  });

  it('numeric-looking topic names keep their text', () => {
    const c = parseAggregatorConfig('topics:\n  2024: {partitions: 2}\n  007: {partitions: 3}\n', 'agg.yaml', {});
    expect(c.topics['2024']?.partitions).toBe(2);
    expect(c.topics['007']?.partitions).toBe(3);
  });
});

describe('listen addresses', () => {
  it('parses host:port and [IPv6]:port', () => {
    expect(parseListen('127.0.0.1:9400')).toEqual({ ok: true, value: { host: '127.0.0.1', port: 9400 } });
    expect(parseListen('[::1]:9400')).toEqual({ ok: true, value: { host: '::1', port: 9400 } });
    expect(parseListen('agg.example.com:0')).toEqual({ ok: true, value: { host: 'agg.example.com', port: 0 } });
  });

  it.each(['9400', ':9400', '::1:9400', '[::1]', '1.2.3.4:65536', 'host:port', '[nope]:1', 'a_b:1'])('rejects %j', (text) => {
    expect(parseListen(text).ok).toBe(false);
  });

  it('isLoopbackListen', () => {
    for (const l of ['127.0.0.1:9400', '127.1.2.3:1', '[::1]:9400', 'localhost:9400', '[::ffff:127.0.0.1]:80']) {
      expect(isLoopbackListen(l), l).toBe(true);
    }
    for (const l of ['0.0.0.0:9400', '[::]:9400', '10.0.0.1:9400', 'agg.example.com:9400', 'garbage', '128.0.0.1:1']) {
      expect(isLoopbackListen(l), l).toBe(false);
    }
  });

  it('listenToUrl turns wildcards into loopback', () => {
    expect(listenToUrl('0.0.0.0:9400')).toBe('http://127.0.0.1:9400');
    expect(listenToUrl('[::]:9400')).toBe('http://[::1]:9400');
    expect(listenToUrl('[::1]:9400', 'https')).toBe('https://[::1]:9400');
    expect(listenToUrl('agg:1')).toBe('http://agg:1');
  });
});
