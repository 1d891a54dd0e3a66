/** SIGHUP: a valid new config is applied without loss or duplicates; an invalid one is refused and the old one keeps running. */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, reloadAndWait, runLogship, stop, tempDir, topicCount, waitFor, waitSettled } from '../helpers/procs.js';

afterAll(killAll);

/** An aggregator and an agent tailing <dir>/logs/*.log into topic `app`, both started. */
async function fileStack(dir: string) {
  const logs = join(dir, 'logs');
  await mkdir(logs);
  const stack = await makeStack(dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
  const agg = await stack.startAggregator();
  const agent = await stack.startAgent();
  return { logs, stack, agg, agent };
}

/** The topic holds exactly `written` records, no two alike (every line written is unique). */
async function expectEachOnce(aggUrl: string, topic: string, written: number): Promise<void> {
  const r = await runLogship(['read', '--url', aggUrl, '--topic', topic]);
  const msgs = r.stdout.split('\n').filter(Boolean);
  expect(msgs.length).toBe(written);
  expect(new Set(msgs).size).toBe(written);
}

describe('SIGHUP reload', () => {
  it('agent: applies a valid config, refuses an invalid one, loses and repeats nothing', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [join(logs, 'a*.log')], start_at: 'beginning' }]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      const write = async (f: string, from: number, n: number) => {
        let s = '';
        for (let i = from; i < from + n; i++) s += `${f} line ${i}\n`;
        await appendFile(join(logs, f), s);
      };
      await write('a.log', 0, 1000);
      await write('b.log', 0, 1000); // not matched yet
      await waitFor('a.log delivered', async () => (await topicCount(stack.aggUrl, 'app')) === 1000, 30_000);

      // invalid config: refused, old one keeps running
      const good = await readFile(stack.agentConfig, 'utf8');
      await writeFile(stack.agentConfig, good + 'bogus_key: 1\n');
      agent.child.kill('SIGHUP');
      await waitFor('refusal logged', () => agent.output().includes('new config is invalid'), 10_000);
      expect(agent.output()).toContain('bogus_key');
      await write('a.log', 1000, 500);
      await waitFor('old config still running', async () => (await topicCount(stack.aggUrl, 'app')) === 1500, 30_000);

      // valid config that also matches b.log
      await writeFile(stack.agentConfig, good.replace(join(logs, 'a*.log'), join(logs, '*.log')));
      agent.child.kill('SIGHUP');
      await write('a.log', 1500, 500);
      expect(await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 3000, statusPort: stack.statusPort, timeoutMs: 30_000 })).toBe(3000);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app']);
      const msgs = r.stdout.split('\n').filter(Boolean);
      expect(new Set(msgs).size).toBe(3000);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  // The chaos soak reloads either side at random; this pins the pair down: both reloaded in turn,
  // five times each, while lines are written without pause.
  it('agent and aggregator reloaded in turn while lines are written: every line once', { timeout: 180_000 }, async () => {
    const t = await tempDir();
    try {
      const { logs, stack, agg, agent } = await fileStack(t.dir);
      let written = 0;
      let writing = true;
      const writer = (async () => {
        while (writing) {
          let s = '';
          for (let i = 0; i < 200; i++) s += `both line ${written + i}\n`;
          written += 200;
          await appendFile(join(logs, 'a.log'), s);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      try {
        for (let i = 0; i < 5; i++) {
          await reloadAndWait(agent, 'agent started');
          await new Promise((r) => setTimeout(r, 300));
          await reloadAndWait(agg, 'aggregator listening');
          await new Promise((r) => setTimeout(r, 300));
        }
      } finally {
        writing = false;
        await writer;
      }
      expect(await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: written, statusPort: stack.statusPort, timeoutMs: 60_000 })).toBe(written);
      await expectEachOnce(stack.aggUrl, 'app', written);
      expect(agent.child.exitCode).toBeNull();
      expect(agg.child.exitCode).toBeNull();
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });

  // Each start in the process makes its read slots (6 x batch.max_bytes of WebAssembly memory); before
  // the fix every earlier set stayed reachable, 6 MiB more for good at each SIGHUP.
  it('agent: twelve reloads while reading keep its memory flat, and lose and repeat nothing', { timeout: 180_000 }, async () => {
    const t = await tempDir();
    try {
      const { logs, stack, agg, agent } = await fileStack(t.dir);
      const external = async (): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${stack.statusPort}/metrics`)).text();
        return Number(/^logship_agent_nodejs_external_memory_bytes (\S+)/m.exec(text)?.[1]) / 1048576;
      };
      let written = 0;
      // ~3 MiB at a time: the agent reads it in full-size reads, which is what makes its read slots
      const burst = async () => {
        let s = '';
        for (let i = 0; i < 20_000; i++) s += `reload line ${written + i} ${'x'.repeat(140)}\n`;
        written += 20_000;
        await appendFile(join(logs, 'a.log'), s);
        await waitFor(`${written} lines delivered`, async () => (await topicCount(stack.aggUrl, 'app')) === written, 60_000);
      };
      await burst();
      const seen: number[] = [];
      for (let i = 1; i <= 12; i++) {
        await reloadAndWait(agent, 'agent started');
        await burst();
        seen.push(await external());
      }
      // Without the fix: +6 MiB a reload, ~60 MiB more after the 12th than after the 2nd.
      expect(seen[11]! - seen[1]!, `external memory after each reload (MiB): ${seen.map((x) => x.toFixed(1)).join(' ')}`).toBeLessThan(20);
      await expectEachOnce(stack.aggUrl, 'app', written);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
