import { describe, expect, it } from 'vitest';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { ConfigError } from '../../../../lib/errors.js';

const issues = (text: string): string[] => {
  try {
    parseAggregatorConfig(text, 'agg.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => i.toString());
    throw err;
  }
  return [];
};

describe('pipelines config', () => {
  it('a valid config compiles; pattern and patterns become one list', () => {
    const c = parseAggregatorConfig(
      [
        'pipelines:',
        '  web:',
        '    topics: [nginx]',
        '    steps:',
        '      - {type: pattern, preset: nginx_access}',
        '      - {type: pattern, pattern: "%{INT:a:int}"}',
        '      - {type: drop, if: \'http.response.status_code == 200 and url.original contains "/healthz"\'}',
        '      - {type: route, if: "log.level == \\"error\\"", sinks: [es]}',
        'sinks: [{name: es, type: elasticsearch, topics: [nginx], urls: ["http://127.0.0.1:9200"]}]',
      ].join('\n'),
      'agg.yaml',
      {},
    );
    expect(c.pipelines.web!.topics).toEqual(['nginx']);
    expect(c.pipelines.web!.steps[1]).toMatchObject({ type: 'pattern', pattern: ['%{INT:a:int}'], field: 'message' });
  });

  it('a bad condition is reported at the character that is wrong (FILE:LINE:COL)', () => {
    const text = ['pipelines:', '  web:', '    steps:', '      - type: drop', '        if: status == 200 and and x'].join('\n');
    // "if: " starts at column 9; the value at 13; the second "and" at offset 18
    expect(issues(text)).toEqual(['agg.yaml:5:31: pipelines.web.steps[0].if: expected a field, a value or "(", got "and"']);
    const quoted = ['pipelines:', '  web:', '    steps:', '      - {type: drop, if: "a == \'x"}'].join('\n');
    expect(issues(quoted)).toEqual(["agg.yaml:4:32: pipelines.web.steps[0].if: unterminated string (opened with ')"]);
  });

  it('unknown blocks, unsafe regexes, bad fields, zones and routes are errors at their keys', () => {
    const text = [
      'pipelines:',
      '  web:',
      '    topics: [a]',
      '    steps:',
      '      - {type: pattern, pattern: "%{NOPE:x}"}',
      '  api:',
      '    topics: [a]',
      '    steps:',
      '      - {type: regex, pattern: "^(?<x>(a+)+)$"}',
      '  t:',
      '    steps:',
      '      - {type: timestamp, formats: [nginx], timezone: Mars/Olympus}',
      '  u:',
      '    steps:',
      '      - {type: rename, fields: {"a..b": c}}',
      '  r:',
      '    steps:',
      '      - {type: route, sinks: [nowhere]}',
      '      - {type: sampel}',
    ].join('\n');
    const got = issues(text);
    expect(got).toContainEqual('agg.yaml:5:25: pipelines.web.steps[0].pattern: unknown pattern name %{NOPE}');
    expect(got.find((l) => l.startsWith('agg.yaml:7:'))).toBe('agg.yaml:7:14: pipelines.api.topics[0]: topic "a" already has pipeline "web"');
    expect(got.find((l) => l.startsWith('agg.yaml:9:'))).toMatch(/^agg\.yaml:9:23: pipelines\.api\.steps\[0\]\.pattern: a repeated part holds another unbounded repetition/);
    expect(got.find((l) => l.startsWith('agg.yaml:12:'))).toMatch(/^agg\.yaml:12:45: pipelines\.t\.steps\[0\]\.timezone: unknown timezone "Mars\/Olympus"/);
    expect(got.find((l) => l.startsWith('agg.yaml:15:'))).toMatch(/pipelines\.u\.steps\[0\]\.fields: "a\.\.b" has an empty part/);
    expect(got.find((l) => l.startsWith('agg.yaml:18:'))).toMatch(/pipelines\.r\.steps\[0\]\.sinks\[0\]: no sink named "nowhere"/);
    expect(got.find((l) => l.startsWith('agg.yaml:19:'))).toMatch(/unknown type "sampel".*did you mean "sample"/);
  });
});
