import { describe, expect, it } from 'vitest';
import { didYouMean, levenshtein } from '../../../../lib/config/did-you-mean.js';
import { ConfigError } from '../../../../lib/errors.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';

describe('did you mean', () => {
  it('levenshtein', () => {
    expect(levenshtein('multline', 'multiline')).toBe(1);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
  });

  it('suggests within distance 2', () => {
    expect(didYouMean('multline', ['multiline', 'max_lines'])).toBe('multiline');
    expect(didYouMean('incldue', ['include', 'exclude'])).toBe('include');
    expect(didYouMean('start-at', ['start_at'])).toBe('start_at');
  });

  it('suggests on a prefix match, either way', () => {
    expect(didYouMean('partial', ['partial_line_timeout', 'partitions'])).toBe('partial_line_timeout');
    expect(didYouMean('retention_bytes_max', ['retention_bytes', 'retention'])).toBe('retention_bytes');
  });

  it('prefers the closest', () => {
    expect(didYouMean('toke', ['token', 'token_file'])).toBe('token');
  });

  it('stays quiet when nothing is close', () => {
    expect(didYouMean('colour', ['listen', 'data_dir'])).toBeUndefined();
    expect(didYouMean('ab', ['abcdef'])).toBeUndefined();
  });

  it('in messages: keys in variants, nested tables and union type values', () => {
    const text = [
      'sinks:',
      '  - {name: es, type: elasticsearch, topics: [app], urls: ["http://e:9200"], datastream: x}',
      '  - {name: w, type: webhok, url: "http://h"}',
      'topics:',
      '  default: {partitons: 2}',
      'alerts:',
      '  - {name: A, absent_for: 1m, sinks: [w], label: {a: b}}',
    ].join('\n');
    // the catch must not swallow a missing throw: take the error out, then check it
    let err: unknown;
    try {
      parseAggregatorConfig(text, 'agg.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err, 'expected a ConfigError, nothing was thrown').toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map(String)).toEqual([
      'agg.yaml:2:77: sinks[0].datastream: unknown key (did you mean "data_stream"?)',
      'agg.yaml:3:21: sinks[1].type: unknown type "webhok": expected one of "elasticsearch", "alertmanager", "pagerduty", "webhook" (did you mean "webhook"?)',
      'agg.yaml:5:13: topics.default.partitons: unknown key (did you mean "partitions"?)',
      'agg.yaml:7:43: alerts[0].label: unknown key (did you mean "labels"?)',
    ]);
  });
});
