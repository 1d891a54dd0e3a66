/**
 * Issue 3, aggregator outage: the aggregator is SIGKILLed while lines are written and stays down
 * until the agent has a real backlog and has retried at its maximum backoff, then it is restarted.
 * During the outage `logship status --format json` shows the backlog (buffer bytes > 0, oldest
 * unacknowledged batch age > 0, aggregator unreachable); afterwards every line is stored exactly
 * once, in order. Every wait is on state (counts, /status, metrics), none on the clock.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentStatus, killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor, waitSettled } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

interface CliStatus {
  buffer: { bytes: number; unacked_batches: number; oldest_unacked_age_seconds: number | null };
  aggregator: { reachable: boolean | null };
}

describe('agent: aggregator outage', () => {
  it('outage during writing: buffered, then exactly once', { timeout: 150_000 }, async () => {
    const tmp = await tempDir('logship-outage-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'app.log');
      await writeFile(file, '');
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
      const retries = async () =>
        [...(await (await fetch(`http://127.0.0.1:${stack.statusPort}/metrics`)).text()).matchAll(/^logship_agent_retries_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
      let agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      let seq = 0;
      let writing = true;
      const writer = (async () => {
        while (writing) {
          let s = '';
          for (let i = 0; i < 100; i++) s += `line ${String(seq++).padStart(7, '0')} ${'z'.repeat(50)}\n`;
          await appendFile(file, s);
          // paces the writer (a steady trickle of batches), not a wait for anything
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await waitFor('lines flowing to the aggregator', async () => (await topicCount(stack.aggUrl, 'app')) > 0, 30_000);
      agg.child.kill('SIGKILL');
      await agg.exited;
      const retriesAtKill = await retries();

      let status: CliStatus | undefined;
      await waitFor(() => `logship status to show the backlog; last: ${JSON.stringify(status)}`, async () => {
        const st = await runLogship(['status', '--url', `http://127.0.0.1:${stack.statusPort}`, '--format', 'json'], {}, 20_000);
        if (st.code !== 0) throw new Error(`logship status exited ${st.code}: ${st.stderr}`);
        status = JSON.parse(st.stdout) as CliStatus;
        return status.buffer.bytes > 0 && status.buffer.unacked_batches > 0 && (status.buffer.oldest_unacked_age_seconds ?? 0) > 0 && status.aggregator.reachable === false;
      }, 30_000, 250);
      console.log(`outage: status: buffer ${status!.buffer.bytes} bytes, ${status!.buffer.unacked_batches} unacked batches, oldest ${status!.buffer.oldest_unacked_age_seconds} s, reachable ${status!.aggregator.reachable}`);

      // Stay down until the backlog is real and the agent has kept retrying into its capped
      // backoff (max_backoff 1s: 100, 200, 400, 800 ms, then 1 s per attempt).
      await waitFor('a backlog of 20 batches and 8 failed attempts', async () => (await agentStatus(stack.statusPort)).buffer.unacked_batches >= 20 && (await retries()) - retriesAtKill >= 8, 60_000, 250);
      const writtenAtRestart = seq;
      agg = await stack.startAggregator();
      // the backlog drains while the writer goes on
      await waitFor(() => `the backlog (${writtenAtRestart} lines) delivered after the restart\n${agent.output().slice(-3000)}`, async () => (await topicCount(stack.aggUrl, 'app')) >= writtenAtRestart && seq > writtenAtRestart, 60_000, 250);
      writing = false;
      await writer;
      const total = seq;
      const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 60_000, detail: () => agent.output().slice(-3000) });
      expect(stored).toBe(total);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
      const got = r.stdout.split('\n').filter(Boolean);
      const nums = got.map((l) => Number(l.split(' ')[1]));
      expect(new Set(nums).size).toBe(total);
      for (let i = 1; i < nums.length; i++) if (nums[i]! <= nums[i - 1]!) throw new Error(`out of order: ${nums[i]} after ${nums[i - 1]}`);
      console.log(`outage: ${total} lines, aggregator SIGKILLed and restarted after a backlog of 20+ batches, all stored exactly once`);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
