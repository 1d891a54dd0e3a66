/**
 * SIGTERM while the buffer is full under `block` and the aggregator is down: the agent is really
 * blocked (healthz says buffer full, the durable file position is short of the file's end), exits
 * 0 through its bounded flush (it says it stops with batches not yet buffered) instead of waiting
 * for room that never comes, and nothing is lost or repeated afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { agentStatus, killAll, makeStack, runLogship, stop, tempDir, waitFor, waitSettled } from '../helpers/procs.js';

afterAll(killAll);

describe('agent shutdown', () => {
  it('stops promptly with a full buffer, then delivers everything once', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'a.log');
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }], {
        agent: { buffer: { max_bytes: '1MiB', when_full: 'block' } },
      });
      let agent = await stack.startAgent();
      // ~4.3 MiB of random hex lines (~2 MiB compressed): more than the 1 MiB buffer holds
      const total = 60_000;
      for (let c = 0; c < 6; c++) {
        let s = '';
        for (let i = c * 10_000; i < (c + 1) * 10_000; i++) s += `${String(i).padStart(6, '0')} ${randomBytes(32).toString('hex')}\n`;
        await appendFile(file, s);
      }
      // The blocked state this test is about: healthz reports the full buffer, the buffer is at
      // its bound and the durable position of the file is short of its end (the rest waits in the file).
      await waitFor('healthz to report the full buffer', async () => {
        const h = await fetch(`http://127.0.0.1:${stack.statusPort}/healthz`);
        return h.status === 503 && (await h.text()).includes('buffer full');
      }, 30_000, 100);
      const st = await agentStatus(stack.statusPort);
      const f = st.files.find((x) => x.path === file);
      expect(f, JSON.stringify(st.files)).toBeDefined();
      expect(f!.offset).toBeLessThan(f!.size);
      expect(st.buffer.bytes).toBeGreaterThan(st.buffer.max_bytes / 2);
      expect(st.buffer.bytes).toBeLessThanOrEqual(st.buffer.max_bytes);
      expect(st.buffer.unacked_batches).toBeGreaterThan(0);

      // SIGTERM must end the process through the bounded flush. A hang is what this guards
      // against: the bound here only turns a hang into a failure, it is no performance claim.
      agent.child.kill('SIGTERM');
      const code = await Promise.race([agent.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000).unref())]);
      expect(code, `after SIGTERM with a full buffer the agent ${code === 'hung' ? 'did not exit within 60 s' : `exited with ${code}`}\n${agent.output().slice(-2000)}`).toBe(0);
      expect(agent.output()).toMatch(/stopping with batches not yet in the buffer/);

      const agg = await stack.startAggregator();
      agent = await stack.startAgent();
      const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 60_000, detail: () => agent.output().slice(-2000) });
      expect(stored).toBe(total);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app']);
      const lines = r.stdout.split('\n').filter(Boolean);
      expect(lines.length).toBe(total);
      expect(new Set(lines).size).toBe(total);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
