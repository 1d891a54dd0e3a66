import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../lib/errors.js';
import { substituteEnv } from '../../../../lib/config/env.js';
import { parseAgentConfig } from '../../../../agent/config.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';

describe('substituteEnv', () => {
  const env = { HOST: 'agg-1', EMPTY: '', PORT: '9400' };

  it('replaces ${VAR} and ${VAR:-default}', () => {
    expect(substituteEnv('https://${HOST}:${PORT}', env).value).toBe('https://agg-1:9400');
    expect(substituteEnv('${NOPE:-fallback}', env).value).toBe('fallback');
    expect(substituteEnv('${HOST:-fallback}', env).value).toBe('agg-1');
    expect(substituteEnv('${EMPTY:-used when empty}', env).value).toBe('used when empty');
    expect(substituteEnv('${NOPE:-}', env).value).toBe('');
    expect(substituteEnv('a ${NOPE:-x:y/z} b', env).value).toBe('a x:y/z b');
  });

  it('keeps $${ as a literal ${ and leaves other dollars alone', () => {
    expect(substituteEnv('$${HOST}', env).value).toBe('${HOST}');
    expect(substituteEnv('cost $5 $HOST', env).value).toBe('cost $5 $HOST');
  });

  it('reports unset variables, bad names and unterminated references', () => {
    expect(substituteEnv('${NOPE}', env).problems[0]!.message).toContain('environment variable NOPE is not set');
    expect(substituteEnv('${1X}', env).problems[0]!.message).toContain('invalid variable reference');
    expect(substituteEnv('${HOST', env).problems[0]!.message).toContain('unterminated');
    const two = substituteEnv('${A} and ${B}', {});
    expect(two.problems.map((p) => p.ordinal)).toEqual([0, 1]);
  });

  it('empty but set ${VAR} without default gives ""', () => {
    expect(substituteEnv('x${EMPTY}y', env)).toMatchObject({ value: 'xy', problems: [] });
  });
});

const agentYaml = (extra: string) => `aggregator:
  urls: ["\${AGG_URL:-http://127.0.0.1:9400}"]
inputs:
  - {type: host_metrics, topic: metrics}
${extra}`;

describe('substitution in config files', () => {
  it('substitutes before type conversion (sizes, durations, ints, bools-as-needed)', () => {
    const c = parseAgentConfig(
      agentYaml(`buffer:
  max_bytes: \${BUF}
batch:
  max_wait: \${WAIT:-250ms}
compression:
  level: \${LEVEL}
id: \${HOSTID}-x
`),
      'a.yaml',
      { BUF: '64MiB', LEVEL: '3', HOSTID: 'web-01', AGG_URL: 'https://agg:9400' },
    );
    expect(c.buffer.max_bytes).toBe(64 * 1024 ** 2);
    expect(c.batch.max_wait).toBe(250);
    expect(c.compression.level).toBe(3);
    expect(c.id).toBe('web-01-x');
    expect(c.aggregator.urls).toEqual(['https://agg:9400']);
  });

  it('uses the given env, not process.env', () => {
    process.env.LOGSHIP_TEST_ONLY_IN_PROCESS = 'x';
    expect(() => parseAgentConfig(agentYaml('id: ${LOGSHIP_TEST_ONLY_IN_PROCESS}\n'), 'a.yaml', {})).toThrow(ConfigError);
    delete process.env.LOGSHIP_TEST_ONLY_IN_PROCESS;
  });

  it('defaults to process.env', () => {
    process.env.LOGSHIP_TEST_AGENT_ID = 'from-process-env';
    try {
      expect(parseAgentConfig(agentYaml('id: ${LOGSHIP_TEST_AGENT_ID}\n'), 'a.yaml').id).toBe('from-process-env');
    } finally {
      delete process.env.LOGSHIP_TEST_AGENT_ID;
    }
  });

  it('reports an unset variable at the column of its ${', () => {
    const text = 'listen: ${LISTEN}\ndata_dir: "/srv/${NOPE:-x}/${ALSO_UNSET}"\n';
    // the catch must not swallow a missing throw: take the error out, then check it
    let err: unknown;
    try {
      parseAggregatorConfig(text, 'agg.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err, 'expected a ConfigError, nothing was thrown').toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map(String)).toEqual([
      'agg.yaml:1:9: listen: environment variable LISTEN is not set (give a default: ${LISTEN:-value})',
      'agg.yaml:2:28: data_dir: environment variable ALSO_UNSET is not set (give a default: ${ALSO_UNSET:-value})',
    ]);
  });

  it('a substituted value is still validated, at the value position', () => {
    let err: unknown;
    try {
      parseAggregatorConfig('limits:\n  max_body_bytes: ${B:-lots}\n', 'agg.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err, 'expected a ConfigError, nothing was thrown').toBeInstanceOf(ConfigError);
    expect(String((err as ConfigError).issues[0])).toBe(
      'agg.yaml:2:19: limits.max_body_bytes: invalid size "lots" (examples: 512KiB, 64MiB, 2GiB, 10MB, 4096)',
    );
  });

  it('$${ stays literal in a value', () => {
    const c = parseAggregatorConfig('data_dir: /srv/$${HOME}\n', 'agg.yaml', {});
    expect(c.data_dir).toBe('/srv/${HOME}');
  });
});
