/**
 * Issue 9, finding 7: a config whose aliases repeat a `${`-bearing scalar made `logship check`
 * (and SIGHUP reload) run for minutes and take gigabytes. Substitution now happens once per
 * scalar node, aliases resolve from one pass, the walk has a budget proportional to the file,
 * and files over 1 MiB are refused before parsing. The vitest timeout is the time bound.
 */
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../../lib/errors.js';
import { parseAgentConfig } from '../../../../agent/config.js';
import { readConfigFile, MAX_CONFIG_BYTES } from '../../../../lib/config/load.js';

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map(String);
  }
  throw new Error('expected a ConfigError');
}

const head = 'data_dir: /tmp/x\naggregator: {urls: ["http://127.0.0.1:1"]}\n';

describe('config alias bombs (issue 9, finding 7)', () => {
  it('a ~105 KB file with 20,000 aliases of a 25 KB ${VAR} scalar validates quickly, substituting once', { timeout: 30_000 }, () => {
    const scalar = '${HOME}x'.repeat(25_000 / 8);
    const text = `id: &a "${scalar}"\n${head}inputs:\n  - type: file\n    topic: app\n    include: [${Array(20_000).fill('*a').join(', ')}]\n`;
    expect(text.length).toBeGreaterThan(100_000);
    const heapBefore = process.memoryUsage().heapUsed;
    const c = parseAgentConfig(text, 'bomb.yaml', { HOME: '/h' });
    const include = (c.inputs[0] as { include: string[] }).include;
    expect(include).toHaveLength(20_000);
    expect(include[19_999]).toBe('/hx'.repeat(25_000 / 8));
    expect(c.id).toBe(include[0]);
    // one substituted copy shared by every alias, not 20,000 copies (500 MB)
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(200 * 1024 * 1024);
  });

  it('an unset variable behind many aliases is one error, at the anchored scalar', { timeout: 30_000 }, () => {
    const text = `id: &a "\${NOPE}"\n${head}inputs:\n  - type: file\n    topic: app\n    include: [${Array(5_000).fill('*a').join(', ')}]\n`;
    expect(issuesOf(() => parseAgentConfig(text, 'bomb.yaml', {}))).toEqual([
      'bomb.yaml:1:9: id: environment variable NOPE is not set (give a default: ${NOPE:-value})',
    ]);
  });

  it('nested aliases (billion laughs through list items) stop at a budget with one clear error', { timeout: 30_000 }, () => {
    // each input aliases a file input whose include list aliases 1,000 scalars: 10^6 values from ~10 KB
    const text =
      `x: &s "/var/log/\${HOME}.log"\n` +
      `${head}` +
      `y: &i {type: file, topic: app, include: [${Array(1_000).fill('*s').join(', ')}]}\n` +
      `inputs: [${Array(1_000).fill('*i').join(', ')}]\n`;
    const issues = issuesOf(() => parseAgentConfig(text, 'bomb.yaml', { HOME: 'h' }));
    expect(issues.some((i) => /aliases expand this document to more than \d+ values/.test(i))).toBe(true);
    expect(issues.length).toBeLessThan(100);
  });

  it('a config file over 1 MiB is refused before parsing, with its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-bomb-'));
    try {
      const path = join(dir, 'big.yaml');
      await writeFile(path, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
      const err = await readConfigFile(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as ConfigError).issues[0])).toBe(`${path}:1:1: (root): the config file is more than 1048576 bytes; the limit is 1048576 (1 MiB)`);
      expect(issuesOf(() => parseAgentConfig(`# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`, 'big.yaml', {}))[0]).toMatch(/^big\.yaml:1:1: \(root\): the config file is 1048579 bytes/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
