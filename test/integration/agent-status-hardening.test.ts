/**
 * Issue 9, finding 9 (agent parts), against a real agent process: the status listener answers
 * GET and HEAD only (405 otherwise), /status never shows URL credentials, and the agent's data
 * directory is created 0700 even under umask 000.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { CLI, freePort, runLogship, tempDir, waitFor, writeYaml } from '../helpers/procs.js';

const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('agent status listener and data dir (issue 9, finding 9)', () => {
  it('405 for methods other than GET/HEAD, no URL credentials in /status, data dirs 0700 under umask 000', { timeout: 60_000 }, async () => {
    const t = await tempDir();
    try {
      const statusPort = await freePort();
      const aggPort = await freePort(); // nothing listens: delivery fails, which is fine here
      const dataDir = join(t.dir, 'state', 'agent');
      const cfg = await writeYaml(join(t.dir, 'agent.yaml'), {
        id: 'status-host',
        data_dir: dataDir,
        aggregator: { urls: [`http://shipper:s3cr3t-pass@127.0.0.1:${aggPort}`], max_backoff: '1s' },
        inputs: [{ type: 'file', topic: 'app', include: [join(t.dir, 'logs', '*.log')], start_at: 'beginning' }],
        status: { listen: `127.0.0.1:${statusPort}` },
      });
      await mkdir(join(t.dir, 'logs'));
      await writeFile(join(t.dir, 'logs', 'a.log'), 'one line to deliver\n');
      let out = '';
      const child = spawn('/bin/sh', ['-c', `umask 000; exec "${process.execPath}" "${CLI}" agent --config "${cfg}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
      started.push(child.pid!);
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const base = `http://127.0.0.1:${statusPort}`;
      await waitFor(() => `status listener\n${out}`, async () => (await fetch(`${base}/healthz`)).status > 0, 30_000);

      for (const [method, path] of [['POST', '/status'], ['PUT', '/healthz'], ['DELETE', '/metrics'], ['OPTIONS', '/status']] as const) {
        const r = await request(`${base}${path}`, { method, body: method === 'POST' || method === 'PUT' ? 'x' : undefined });
        await r.body.text();
        expect(r.statusCode, `${method} ${path}`).toBe(405);
        expect(r.headers.allow).toBe('GET, HEAD');
      }
      const head = await request(`${base}/status`, { method: 'HEAD' });
      expect(head.statusCode).toBe(200);
      expect(await head.body.text()).toBe('');

      // wait until a delivery attempt failed, so last_error is filled too
      const status = await waitFor(
        () => `a failed delivery in /status\n${out}`,
        async () => {
          const s = (await (await fetch(`${base}/status`)).json()) as { aggregator: { url: string; last_error: string | null } };
          return s.aggregator.last_error ? s : undefined;
        },
        30_000,
        200,
      );
      const text = JSON.stringify(status);
      expect(text).not.toContain('s3cr3t-pass');
      expect(status.aggregator.url).toMatch(new RegExp(`^http://shipper:\\*\\*\\*@127\\.0\\.0\\.1:${aggPort}/?$`));
      expect((await (await fetch(`${base}/metrics`)).text())).not.toContain('s3cr3t-pass');

      expect((await stat(dataDir)).mode & 0o777).toBe(0o700);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).not.toContain('s3cr3t-pass');
    } finally {
      await t.cleanup();
    }
  });
  it('an agent whose token file is blank or short exits 2 at start, naming the file', { timeout: 30_000 }, async () => {
    const t = await tempDir();
    try {
      const tokenFile = join(t.dir, 'agent.token');
      await writeFile(tokenFile, 'short\n', { mode: 0o600 });
      const cfg = await writeYaml(join(t.dir, 'agent.yaml'), {
        id: 'h',
        data_dir: join(t.dir, 'data'),
        aggregator: { urls: ['http://127.0.0.1:9'], token_file: tokenFile },
        inputs: [{ type: 'host_metrics', topic: 'm' }],
        status: { listen: 'off' },
      });
      const r = await runLogship(['agent', '--config', cfg], {}, 20_000);
      expect(r.stderr).toContain(`${tokenFile}:1:1: aggregator.token_file: the token is 5 bytes; at least 16 are required`);
      expect(r.code).toBe(2);
    } finally {
      await t.cleanup();
    }
  });
});
