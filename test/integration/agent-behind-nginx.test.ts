/**
 * The batch stream through a real reverse proxy (Debian's nginx as a private instance: its own
 * prefix, conf and pid, 127.0.0.1 ports): where nginx passes upgrades (proxy_http_version 1.1 and
 * the Upgrade/Connection headers, as for WebSockets) the agent's frames go through it; where it is
 * configured as most proxies are by default (no upgrade), the agent falls back to POST, says so
 * once, and every line is still stored exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killNginx, startNginx } from '../helpers/nginx.js';
import { freePort, killAll, makeStack, stop, tempDir, topicCount, waitSettled } from '../helpers/procs.js';

afterAll(async () => {
  killNginx();
  await killAll();
});

function counter(text: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith('logship_aggregator_requests_total{') && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('agent behind nginx', () => {
  it('streams through a proxy that passes upgrades, falls back to POST through one that does not; every line once', { timeout: 180_000 }, async () => {
    const t = await tempDir();
    let nginx: { stop(): void } | undefined;
    try {
      const log = join(t.dir, 'app.log');
      await writeFile(log, '');
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [log], start_at: 'beginning' }]);
      const upgrading = await freePort();
      const plain = await freePort();
      const upstream = `http://127.0.0.1:${stack.aggPort}`;
      const agg = await stack.startAggregator();
      nginx = await startNginx(join(t.dir, 'nginx'), {
        readyUrl: [`http://127.0.0.1:${plain}/healthz`, `http://127.0.0.1:${upgrading}/healthz`],
        http: `  client_max_body_size 64m;
  server {
    listen 127.0.0.1:${upgrading};
    location / {
      proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 120s;
    }
  }
  server {
    listen 127.0.0.1:${plain};
    location / { proxy_pass ${upstream}; }
  }`,
      });
      const metrics = async () => (await fetch(`${stack.aggUrl}/metrics`)).text();
      const agentConfig = await readFile(stack.agentConfig, 'utf8');
      let n = 0;
      const write = async (lines: number) => {
        let chunk = '';
        for (let i = 0; i < lines; i++) chunk += `line ${n++} ${'x'.repeat(i % 50)}\n`;
        await appendFile(log, chunk);
      };

      // 1. Through the proxy that passes upgrades: frames, no POST.
      await writeFile(stack.agentConfig, agentConfig.replace(stack.aggUrl, `http://127.0.0.1:${upgrading}`));
      let agent = await stack.startAgent();
      for (let k = 0; k < 10; k++) {
        await write(1_000);
        await new Promise((r) => setTimeout(r, 30));
      }
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: n, statusPort: stack.statusPort });
      let m = await metrics();
      expect(counter(m, 'route="batches_stream",status="101"')).toBeGreaterThanOrEqual(1);
      const framesThroughProxy = counter(m, 'route="batches_stream",status="200"');
      expect(framesThroughProxy).toBeGreaterThan(0);
      expect(counter(m, 'route="batches",status="200"')).toBe(0);
      await stop(agent);

      // 2. Through the proxy that does not: the handshake reaches the aggregator as a plain GET (400),
      // the agent warns once and POSTs; nothing lost, nothing twice.
      await writeFile(stack.agentConfig, agentConfig.replace(stack.aggUrl, `http://127.0.0.1:${plain}`));
      agent = await stack.startAgent();
      for (let k = 0; k < 10; k++) {
        await write(1_000);
        await new Promise((r) => setTimeout(r, 30));
      }
      expect(await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: n, statusPort: stack.statusPort })).toBe(n);
      m = await metrics();
      expect(counter(m, 'route="batches",status="200"')).toBeGreaterThan(0);
      expect(counter(m, 'route="batches_stream",status="200"')).toBe(framesThroughProxy);
      const warnings = agent.output().split('\n').filter((l) => l.includes('does not take the batch stream'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('HTTP 400');
      await stop(agent);
      expect(await topicCount(stack.aggUrl, 'app')).toBe(n);
      await stop(agg);
    } finally {
      nginx?.stop();
      await t.cleanup();
    }
  });
});
