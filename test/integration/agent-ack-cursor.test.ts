/**
 * Issue 17: the agent writes its acknowledged cursor (buffer/ack.json) behind the send loop, at
 * most once per interval, so a kill -9 can find it behind what the aggregator has acknowledged.
 * The restarted agent then sends those batches again; the aggregator keeps the highest sequence
 * each producer stored per partition (rebuilt from its log, so also after its own kill -9) and
 * acknowledges them as duplicates. Here the interval is stretched to 10 minutes (test hook) so the
 * window is certain: every line must be stored exactly once, and the re-send must be seen.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentStatus, killAll, makeStack, runLogship, spawnLogship, stop, tempDir, topicCount, waitFor, waitSettled, type Proc, type Stack } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

const HOOKS = { LOGSHIP_TEST_HOOKS: '1', LOGSHIP_TEST_ACK_PERSIST_MS: '600000' };

async function startAgent(stack: Stack, env: NodeJS.ProcessEnv): Promise<Proc> {
  const p = spawnLogship(['agent', '--config', stack.agentConfig], env);
  await waitFor(() => `agent status listener\n${p.output()}`, async () => (await fetch(`http://127.0.0.1:${stack.statusPort}/healthz`)).status > 0, 30_000);
  return p;
}

async function ackFile(stack: Stack): Promise<number> {
  const j = JSON.parse(await readFile(join(stack.dir, 'agent-data', 'buffer', 'ack.json'), 'utf8')) as { next: number };
  return j.next;
}

describe('agent: acknowledged cursor written behind the sends', () => {
  it('kill -9 with acknowledgements not yet in ack.json (and an aggregator kill -9): re-sent, deduplicated, every line exactly once', { timeout: 120_000 }, async () => {
    const tmp = await tempDir('logship-ackcursor-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'app.log');
      await writeFile(file, '');
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
      let agg = await stack.startAggregator();
      let agent = await startAgent(stack, HOOKS);
      const CHUNKS = 4;
      const PER = 5_000;
      let written = 0;
      for (let c = 0; c < CHUNKS; c++) {
        let s = '';
        for (let i = 0; i < PER; i++) s += `line ${String(written + i).padStart(7, '0')} GET /api/v1/items/${(i * 7919) % 100003} 200\n`;
        await appendFile(file, s);
        written += PER;
        // each chunk delivered before the next is written: at least one request (one acknowledgement) per chunk
        await waitFor(
          () => `chunk ${c} acknowledged\n${agent.output().slice(-2000)}`,
          async () => (await topicCount(stack.aggUrl, 'app')) >= written && (await agentStatus(stack.statusPort)).buffer.unacked_batches === 0,
          30_000,
          50,
        );
      }
      // The first acknowledgement was written at once; the later ones wait for the (stretched) interval.
      const persistedAtKill = await ackFile(stack);
      agent.child.kill('SIGKILL');
      await agent.exited;
      // The aggregator loses its in-memory producer state too: dedup must come from its log.
      agg.child.kill('SIGKILL');
      await agg.exited;
      agg = await stack.startAggregator();
      agent = await startAgent(stack, {});
      const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: written, statusPort: stack.statusPort, timeoutMs: 60_000, detail: () => agent.output().slice(-3000) });
      const metrics = await (await fetch(`${stack.aggUrl}/metrics`)).text();
      const dedupHits = Number(/^logship_aggregator_dedup_hits_total\{topic="app"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
      expect(await stop(agent)).toBe(0);
      // A clean stop writes the cursor: everything is acknowledged now.
      const persistedAtStop = await ackFile(stack);
      expect(persistedAtKill, 'the kill found ack.json behind the acknowledged batches').toBeLessThan(persistedAtStop);
      expect(dedupHits, 'the batches acknowledged after the last written cursor were sent again and recognised').toBeGreaterThanOrEqual(persistedAtStop - persistedAtKill);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => l.length > 0);
      const seen = new Set(lines);
      expect(lines.length).toBe(written);
      expect(seen.size).toBe(written);
      expect(stored).toBe(written);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
