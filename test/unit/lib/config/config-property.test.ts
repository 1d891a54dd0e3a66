/**
 * Property-based tests of the config loader (issue 9): arbitrary YAML-ish text and environment
 * values never make it throw anything but a ConfigError with positions inside the file, and
 * ${VAR} substitution keeps its documented meaning. Time and memory are bounded by the size of
 * the input (the alias budget and the 1 MiB cap); the vitest timeout is the bound here.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../../../../lib/errors.js';
import { substituteEnv } from '../../../../lib/config/env.js';
import { parseAgentConfig } from '../../../../agent/config.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { parseStartConfig } from '../../../../bin/config/start.js';

const FRAGMENTS = [
  'id', 'inputs', 'aggregator', 'urls', 'type', 'file', 'topic', 'include', 'listen', 'auth', 'tokens', 'name', 'token', 'scopes',
  'topics', 'default', 'partitions', 'limits', 'sinks', 'alerts', 'agent', 'status', 'buffer', 'max_bytes', 'host_metrics',
  ': ', ':', '\n', '\n  ', '\n    ', '  ', '- ', '-', '[', ']', '{', '}', ', ', ',', '"', "'", '&a ', '*a', '&b ', '*b', '<<: *a',
  '${', '}', '${HOME}', '${X:-', '$${', ':-', '!!str ', '!!binary ', '? ', '|', '>', '#', '%YAML 1.2\n---\n', '---\n', '...\n',
  '0', '1', '-1', '1e9', '0x10', '2GiB', '10s', 'true', 'null', '~', 'http://127.0.0.1:1', '127.0.0.1:0', '/var/log/*.log', 'ingest', 'read',
  '\t', '\u0000', '\u00a0', '\ufeff', 'é', '\r\n',
];

const yamlish = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 120 }).map((xs) => xs.join('')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
);
const envArb = fc.dictionary(fc.constantFrom('HOME', 'X', 'LOGSHIP_LISTEN', 'A'), fc.string({ maxLength: 40 }), { maxKeys: 4 });

function onlyConfigErrors(fn: () => unknown, text: string): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const lines = text.split(/\r\n|\r|\n/).length;
    for (const i of err.issues) {
      expect(i.line).toBeGreaterThanOrEqual(1);
      expect(i.col).toBeGreaterThanOrEqual(1);
      expect(i.line).toBeLessThanOrEqual(lines + 1);
    }
  }
}

describe('config loader, property-based (issue 9)', () => {
  it('any text, any environment: a config or a ConfigError with positions in the file, for every kind', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(yamlish, envArb, (text, env) => {
        onlyConfigErrors(() => parseAgentConfig(text, 'a.yaml', env), text);
        onlyConfigErrors(() => parseAggregatorConfig(text, 'g.yaml', env), text);
        onlyConfigErrors(() => parseStartConfig(text, 's.yaml', env, { dataDir: '/tmp/logship-prop' }), text);
      }),
      { numRuns: 1500 },
    );
  });

  it('aliases anywhere: nested repetition stays within the budget (a ConfigError, not minutes)', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 2, max: 30 }), fc.constantFrom('inputs', 'aggregator.urls', 'include'), (depth, width, where) => {
        const lines = ['v0: &v0 "${HOME:-x}/a.log"'];
        for (let d = 1; d <= depth; d++) lines.push(`v${d}: &v${d} [${Array(width).fill(`*v${d - 1}`).join(', ')}]`);
        const top = `*v${depth}`;
        const body =
          where === 'inputs'
            ? `aggregator: {urls: [http://a:1]}\ninputs: ${top}\n`
            : where === 'aggregator.urls'
              ? `aggregator: {urls: ${top}}\ninputs: [{type: host_metrics, topic: m}]\n`
              : `aggregator: {urls: [http://a:1]}\ninputs: [{type: file, topic: t, include: ${top}}]\n`;
        const text = `${lines.join('\n')}\n${body}`;
        onlyConfigErrors(() => parseAgentConfig(text, 'a.yaml', {}), text);
      }),
      { numRuns: 300 },
    );
  });

  it('substituteEnv: never throws; no ${ means unchanged; set variables and defaults as documented', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), envArb, (s, env) => {
        const r = substituteEnv(s, env);
        if (!s.includes('${')) expect(r).toEqual({ value: s, substituted: false, problems: [] });
        expect(r.problems.every((p) => p.ordinal >= 0)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(name, fc.string({ maxLength: 30 }).filter((v) => v !== ''), fc.string({ maxLength: 30 }).filter((d) => !d.includes('}')), fc.string({ maxLength: 20 }).filter((x) => !x.includes('$')), (n, v, d, lit) => {
        expect(substituteEnv(`${lit}\${${n}}${lit}`, { [n]: v }).value).toBe(`${lit}${v}${lit}`);
        expect(substituteEnv(`\${${n}:-${d}}`, {}).value).toBe(d);
        expect(substituteEnv(`\${${n}:-${d}}`, { [n]: '' }).value).toBe(d);
        expect(substituteEnv(`$\${${n}}`, { [n]: v }).value).toBe(`\${${n}}`);
        expect(substituteEnv(`\${${n}}`, {}).problems).toHaveLength(1);
      }),
      { numRuns: 1000 },
    );
  });

  it('substituteEnv is linear: 200,000 references in one value', { timeout: 10_000 }, () => {
    const r = substituteEnv('${A}-'.repeat(200_000), { A: 'x' });
    expect(r.value).toBe('x-'.repeat(200_000));
  });
});
