/** SIGTERM while the buffer is full under `block` and the aggregator is down: exit 0 within 10 s, and nothing is lost afterwards. */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';

afterAll(killAll);

describe('agent shutdown', () => {
  it('stops promptly with a full buffer, then delivers everything once', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }], {
        agent: { buffer: { max_bytes: '1MiB', when_full: 'block' } },
      });
      let agent = await stack.startAgent();
      // ~4.3 MiB of random hex lines (~2 MiB compressed): more than the 1 MiB buffer holds
      const total = 60_000;
      for (let c = 0; c < 6; c++) {
        let s = '';
        for (let i = c * 10_000; i < (c + 1) * 10_000; i++) s += `${String(i).padStart(6, '0')} ${randomBytes(32).toString('hex')}\n`;
        await appendFile(join(logs, 'a.log'), s);
      }
      await waitFor('buffer full', async () => ((await (await fetch(`http://127.0.0.1:${stack.statusPort}/status`)).json()) as { buffer: { bytes: number } }).buffer.bytes >= 900 << 10, 30_000);
      const started = Date.now();
      const code = await stop(agent);
      const took = Date.now() - started;
      expect(code).toBe(0);
      expect(took).toBeLessThan(10_000);
      const agg = await stack.startAggregator();
      agent = await stack.startAgent();
      await waitFor('all lines stored', async () => (await topicCount(stack.aggUrl, 'app')) >= total, 60_000, 250);
      await new Promise((r) => setTimeout(r, 1000));
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app']);
      const lines = r.stdout.split('\n').filter(Boolean);
      expect(lines.length).toBe(total);
      expect(new Set(lines).size).toBe(total);
      console.log(`shutdown with a full buffer took ${took} ms; ${total} lines delivered once after restart`);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
