/**
 * Issue 20, bug 2: with the copy's name matched by the include globs, a copytruncate whose copy
 * ends before the position the agent reached in the original (the agent read lines written after
 * the copy and before the truncate, as with real logrotate copying a large file for longer than
 * batch.max_wait) made the copy look "truncated" and it was read again from byte 0: every line of
 * the copy stored twice.
 *
 * Scripted so the order is exact: copy (cp), then lines appended to the original and read by the
 * agent (stored), then truncate, then new lines. Right outcome: every line exactly once (the
 * window lines were read from the original before the truncate, so nothing is lost either).
 * Second case: the agent is killed while the copy waits and restarts after the truncate, so the
 * copy is judged from the positions in the buffer.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFile, appendFile, mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

function lines(from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += `${String(i).padStart(7, '0')} ${'y'.repeat(50)}\n`;
  return s;
}

interface Rec {
  source: string;
  message: string;
}

/** Stored messages, checked: each number once, in order per source. Returns the numbers seen. */
async function storedNumbers(aggUrl: string): Promise<{ seen: Set<number>; problems: string[] }> {
  const r = await runLogship(['read', '--url', aggUrl, '--topic', 'app', '--format', 'json'], {}, 60_000);
  if (r.code !== 0) throw new Error(r.stderr);
  const seen = new Set<number>();
  const last = new Map<string, number>();
  const problems: string[] = [];
  for (const l of r.stdout.split('\n')) {
    if (!l) continue;
    const rec = JSON.parse(l) as Rec;
    const n = Number(rec.message.split(' ')[0]);
    if (seen.has(n)) problems.push(`duplicate ${n} from ${rec.source}`);
    seen.add(n);
    if (n < (last.get(rec.source) ?? -1)) problems.push(`out of order in ${rec.source}: ${n} after ${last.get(rec.source)}`);
    last.set(rec.source, n);
    if (problems.length > 10) break;
  }
  return { seen, problems };
}

describe('agent: copytruncate with the copy matched, copy shorter than what was read', () => {
  for (const restart of [false, true]) {
    it(restart ? 'agent killed while the copy waits, restarted after the truncate: nothing read twice' : 'nothing read twice, nothing lost', { timeout: 120_000 }, async () => {
      const tmp = await tempDir('logship-ctm-');
      try {
        const logs = join(tmp.dir, 'logs');
        await mkdir(logs);
        const app = join(logs, 'app.log');
        const copy = join(logs, 'app.log.1');
        const stack = await makeStack(
          tmp.dir,
          [{ type: 'file', topic: 'app', include: [join(logs, 'app.log*')], exclude: ['*.gz'], start_at: 'beginning', scan_interval: '1s' }],
          { aggregator: { topics: { default: { partitions: 1 } } } },
        );
        await writeFile(app, lines(0, 1000));
        const agg = await stack.startAggregator();
        let agent = await stack.startAgent();
        await waitFor('first 1000 lines stored', async () => (await topicCount(stack.aggUrl, 'app')) >= 1000, 30_000, 100);
        // logrotate's copy ...
        await copyFile(app, copy);
        // ... the copy waits while the original is read (logged once)
        await waitFor(`the copy is recognised\n${agent.output().slice(-2000)}`, () => agent.output().includes('file is a copy of one being read'), 30_000, 100);
        // ... lines written after the copy, read from the original before the truncate
        await appendFile(app, lines(1000, 1200));
        await waitFor('window lines stored', async () => (await topicCount(stack.aggUrl, 'app')) >= 1200, 30_000, 100);
        if (restart) {
          agent.child.kill('SIGKILL');
          await agent.exited;
        }
        // ... the truncate, and the writer goes on at offset 0
        await truncate(app, 0);
        await appendFile(app, lines(1200, 1500));
        if (restart) agent = await stack.startAgent();
        await waitFor('all 1500 lines stored', async () => (await topicCount(stack.aggUrl, 'app')) >= 1500, 30_000, 100);
        // Stable: nothing more arrives (the copy, if read again, would add 1000 lines).
        let prev = -1;
        let stable = 0;
        await waitFor('stored count stable', async () => {
          const n = await topicCount(stack.aggUrl, 'app');
          stable = n === prev ? stable + 1 : 0;
          prev = n;
          return stable >= 8;
        }, 30_000, 250);
        const { seen, problems } = await storedNumbers(stack.aggUrl);
        expect(problems).toEqual([]);
        expect(await topicCount(stack.aggUrl, 'app')).toBe(1500);
        for (let i = 0; i < 1500; i++) if (!seen.has(i)) throw new Error(`line ${i} missing`);
        expect(agent.output()).toContain('file is a copy of content already read from the original');
        expect(await stop(agent)).toBe(0);
        expect(await stop(agg)).toBe(0);
      } finally {
        await killAll();
        await tmp.cleanup();
      }
    });
  }
});
