import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, detectKind } from '../../../../bin/config/check.js';

const configDir = fileURLToPath(new URL('../../../../config/', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('logship check', () => {
  it('finds the shipped config files', async () => {
    const names = (await readdir(configDir)).filter((n) => n.endsWith('.yaml')).sort();
    expect(names).toEqual(['agent.example.yaml', 'aggregator.example.yaml', 'logship.yaml']);
  });

  it.each(['logship.yaml', 'agent.example.yaml', 'aggregator.example.yaml'])('config/%s validates with no environment set (exit 0)', async (name) => {
    const path = join(configDir, name);
    const r = await checkConfig(path, {});
    expect(r.output).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ok \\(.+\\)$`));
    expect(r.exitCode).toBe(0);
  });

  it('one-line summaries', async () => {
    expect((await checkConfig(join(configDir, 'agent.example.yaml'), {})).output).toBe(
      `${join(configDir, 'agent.example.yaml')}: ok (agent "web-01": 2 inputs, 2 aggregator urls)`,
    );
    const agent = await file('one.yaml', 'id: web-01\naggregator: {urls: ["http://a:1"]}\ninputs: [{type: host_metrics, topic: m}]\n');
    expect((await checkConfig(agent, {})).output).toBe(`${agent}: ok (agent "web-01": 1 input, 1 aggregator url)`);
    const agg = await file('agg.yaml', 'listen: 0.0.0.0:9400\n');
    expect((await checkConfig(agg, {})).output).toBe(
      `${agg}: ok (aggregator on 0.0.0.0:9400: 0 topic overrides, 0 sinks, 0 alert rules, 0 tokens, storage local)`,
    );
  });

  it('a misspelled key exits 2 naming file:line:col', async () => {
    const path = await file(
      'agent.yaml',
      ['id: web-01', 'aggregator:', '  urls: [http://127.0.0.1:9400]', 'inputs:', '  - type: file', '    topic: app', "    multline: {start_pattern: '^x'}", '    include: [/x]', ''].join('\n'),
    );
    const r = await checkConfig(path, {});
    expect(r).toEqual({ exitCode: 2, output: `${path}:7:5: inputs[0].multline: unknown key (did you mean "multiline"?)` });
  });

  it('lists every error, one per line', async () => {
    const path = await file('bad.yaml', 'listen: nowhere\nretention_check_interval: 10\nsinks: [{type: webhook}]\n');
    const r = await checkConfig(path, {});
    expect(r.exitCode).toBe(2);
    expect(r.output.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${path}:1:9: listen: invalid listen address`)),
      expect.stringMatching(new RegExp(`^${path}:2:27: retention_check_interval: a duration needs a unit`)),
      `${path}:3:9: sinks[0].name: required key is missing`,
      `${path}:3:9: sinks[0].url: required key is missing`,
    ]);
  });

  it('YAML syntax errors and unreadable files exit 2', async () => {
    const path = await file('syntax.yaml', 'inputs: [\n');
    const r = await checkConfig(path, {});
    expect(r.exitCode).toBe(2);
    expect(r.output).toMatch(new RegExp(`^${path}:\\d+:\\d+: \\(root\\): YAML syntax error`));
    const missing = join(dir, 'nope.yaml');
    expect(await checkConfig(missing, {})).toEqual({ exitCode: 2, output: `${missing}:1:1: (root): cannot read the config file: no such file` });
  });

  it('detects the kind, or takes it explicitly', async () => {
    expect(detectKind('agent: {}\naggregator: {}\n')).toBe('start');
    expect(detectKind('inputs: []\n')).toBe('agent');
    expect(detectKind('listen: 127.0.0.1:1\n')).toBe('aggregator');
    expect(detectKind('')).toBe('aggregator');
    const path = await file('empty.yaml', '');
    expect((await checkConfig(path, {})).exitCode).toBe(0);
    const asAgent = await checkConfig(path, {}, { kind: 'agent' });
    expect(asAgent).toEqual({
      exitCode: 2,
      output: `${path}:1:1: aggregator: required key is missing\n${path}:1:1: inputs: required key is missing`,
    });
  });

  it('an unset variable without a default exits 2 at its position', async () => {
    const path = await file('env.yaml', 'listen: ${AGG_LISTEN}\n');
    expect(await checkConfig(path, {})).toEqual({
      exitCode: 2,
      output: `${path}:1:9: listen: environment variable AGG_LISTEN is not set (give a default: \${AGG_LISTEN:-value})`,
    });
    expect((await checkConfig(path, { AGG_LISTEN: '[::1]:9400' })).exitCode).toBe(0);
  });
});
