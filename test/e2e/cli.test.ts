/** The CLI as users script it: exit codes, --help, check on every shipped config, the all-in-one. */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, killAll, ROOT, runLogship, spawnLogship, stop, tempDir, waitFor } from '../helpers/procs.js';

afterAll(killAll);

describe('logship CLI', () => {
  it('prints help for every command and exits 0', async () => {
    for (const cmd of ['agent', 'aggregator', 'start', 'check', 'read', 'topics', 'status']) {
      const r = await runLogship([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toContain(`logship ${cmd}`);
    }
    const r = await runLogship(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Commands:');
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await runLogship(['frobnicate'])).code).toBe(2);
    expect((await runLogship(['read', '--nope'])).code).toBe(2);
    expect((await runLogship(['agent'])).code).toBe(2);
  });

  it('check: every file in config/ is valid', async () => {
    const files = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const r = await runLogship(['check', '--config', join(ROOT, 'config', f)], { LOGSHIP_LISTEN: '', LOGSHIP_STATUS_LISTEN: '' });
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/: ok \(/);
    }
  });

  it('check: a misspelled key exits 2 naming file, line and column', async () => {
    const t = await tempDir();
    try {
      const file = join(t.dir, 'agent.yaml');
      await writeFile(file, ['id: x', 'aggregator:', '  urls: [http://127.0.0.1:1]', 'inputs:', '  - type: file', '    topic: app', '    include: ["/tmp/*.log"]', '    multline: {start_pattern: "^x"}', ''].join('\n'));
      const r = await runLogship(['check', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${file}:8:5: inputs[0].multline: unknown key`);
      expect(r.stderr).toContain('did you mean "multiline"');
    } finally {
      await t.cleanup();
    }
  });

  it('start: the all-in-one from config/logship.yaml comes up and serves what it tailed', async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      await writeFile(join(logs, 'hello.log'), 'first line\nsecond line\n');
      const port = await freePort();
      const statusPort = await freePort();
      const env = { LOGSHIP_EXTRA_LOGS: join(logs, '*.log'), LOGSHIP_LISTEN: `127.0.0.1:${port}`, LOGSHIP_STATUS_LISTEN: `127.0.0.1:${statusPort}` };
      const p = spawnLogship(['start', '--data-dir', join(t.dir, 'data')], env);
      const url = `http://127.0.0.1:${port}`;
      await waitFor(() => `start to serve\n${p.output()}`, async () => (await fetch(`${url}/readyz`)).ok, 30_000);
      const lines = await waitFor('the tailed lines', async () => {
        const r = await runLogship(['read', '--url', url, '--token-file', join(t.dir, 'data', 'tokens', 'read.token'), '--topic', 'logs', '--from-beginning', '--format', 'json']);
        const recs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { source: string; message: string });
        const mine = recs.filter((x) => x.source === join(logs, 'hello.log')).map((x) => x.message);
        return mine.length >= 2 ? mine : undefined;
      }, 30_000, 300);
      expect(lines).toEqual(['first line', 'second line']);
      expect(p.output()).toContain('logship is running');
      // start gives the agent an ingest-only token and readers a read-only one (issue 9)
      expect(p.output()).toContain(`--token-file ${join(t.dir, 'data', 'tokens', 'read.token')}`);
      expect((await runLogship(['topics', '--url', url])).code).not.toBe(0);
      const agentToken = (await readFile(join(t.dir, 'data', 'tokens', 'agent.token'), 'utf8')).trim();
      expect((await fetch(`${url}/v1/topics`, { headers: { authorization: `Bearer ${agentToken}` } })).status).toBe(403);
      expect((await stat(join(t.dir, 'data', 'tokens', 'read.token'))).mode & 0o777).toBe(0o600);
      expect(await stop(p)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
