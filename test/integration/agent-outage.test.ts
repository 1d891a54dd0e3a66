/**
 * Issue 3, aggregator outage: the aggregator is SIGKILLed for 30 s while lines are written,
 * then restarted. During the outage `logship status --format json` shows the backlog (buffer
 * bytes > 0, oldest unacknowledged batch age > 0); afterwards every line is stored exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

describe('agent: aggregator outage', () => {
  it('30 s outage during writing: buffered, then exactly once', { timeout: 150_000 }, async () => {
    const tmp = await tempDir('logship-outage-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'app.log');
      await writeFile(file, '');
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
      let agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      let seq = 0;
      let writing = true;
      const writer = (async () => {
        while (writing) {
          let s = '';
          for (let i = 0; i < 100; i++) s += `line ${String(seq++).padStart(7, '0')} ${'z'.repeat(50)}\n`;
          await appendFile(file, s);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await new Promise((r) => setTimeout(r, 3_000));
      agg.child.kill('SIGKILL');
      await agg.exited;
      const downAt = Date.now();
      await new Promise((r) => setTimeout(r, 10_000));
      const st = await runLogship(['status', '--url', `http://127.0.0.1:${stack.statusPort}`, '--format', 'json'], {}, 20_000);
      expect(st.code, st.stderr).toBe(0);
      const status = JSON.parse(st.stdout) as { buffer: { bytes: number; unacked_batches: number; oldest_unacked_age_seconds: number | null }; aggregator: { reachable: boolean | null } };
      console.log(`outage: status after 10 s down: buffer ${status.buffer.bytes} bytes, ${status.buffer.unacked_batches} unacked batches, oldest ${status.buffer.oldest_unacked_age_seconds} s, reachable ${status.aggregator.reachable}`);
      expect(status.buffer.bytes).toBeGreaterThan(0);
      expect(status.buffer.unacked_batches).toBeGreaterThan(0);
      expect(status.buffer.oldest_unacked_age_seconds).toBeGreaterThan(0);
      expect(status.aggregator.reachable).toBe(false);
      await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - downAt))));
      agg = await stack.startAggregator();
      await new Promise((r) => setTimeout(r, 3_000));
      writing = false;
      await writer;
      const total = seq;
      await waitFor(`all ${total} lines stored\n${agent.output().slice(-3000)}`, async () => (await topicCount(stack.aggUrl, 'app')) >= total, 60_000, 250);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await topicCount(stack.aggUrl, 'app')).toBe(total);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
      const got = r.stdout.split('\n').filter(Boolean);
      const nums = got.map((l) => Number(l.split(' ')[1]));
      expect(new Set(nums).size).toBe(total);
      for (let i = 1; i < nums.length; i++) if (nums[i]! <= nums[i - 1]!) throw new Error(`out of order: ${nums[i]} after ${nums[i - 1]}`);
      console.log(`outage: ${total} lines, 30 s aggregator outage (SIGKILL), all stored exactly once`);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
