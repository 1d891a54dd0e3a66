/**
 * Issue 3, crash safety: 500,000 lines across 10 files, written while the agent is SIGKILLed
 * at 8 random moments and restarted. The buffer is the checkpoint (a line is either in the
 * buffer or is read again, never both), so every line arrives exactly once, in file order.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor, waitSettled, type Proc } from '../helpers/procs.js';

const FILES = 10;
const LINES_PER_FILE = 50_000;
const CHUNK = 1_000;
const KILLS = 8;

afterAll(async () => {
  await killAll();
});

describe('agent: SIGKILL at random moments', () => {
  it('500,000 lines in 10 files, 8 kills: exactly once, in order per file', { timeout: 180_000 }, async () => {
    const tmp = await tempDir('logship-kill-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
      const paths = Array.from({ length: FILES }, (_, i) => join(logs, `f${i}.log`));
      for (const p of paths) await writeFile(p, '');
      const agg = await stack.startAggregator();
      let agent: Proc = await stack.startAgent();
      const steps = LINES_PER_FILE / CHUNK;
      const killAt = new Set<number>();
      while (killAt.size < KILLS) killAt.add(2 + Math.floor(Math.random() * (steps - 4)));
      const started = Date.now();
      for (let step = 0; step < steps; step++) {
        for (let f = 0; f < FILES; f++) {
          let s = '';
          for (let i = step * CHUNK; i < (step + 1) * CHUNK; i++) s += `f${f} ${String(i).padStart(6, '0')} GET /api/v1/items/${(i * 7919) % 100003} 200\n`;
          await appendFile(paths[f]!, s);
        }
        if (killAt.has(step)) {
          // a random moment inside the step's reading: the randomness of the moment is the point
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
          agent.child.kill('SIGKILL');
          await agent.exited;
          agent = await stack.startAgent();
        } else {
          // paces the writer so kills land while the agent reads; not a wait for anything
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const total = FILES * LINES_PER_FILE;
      // settled: nothing unacknowledged in the agent and the count unchanged, so a late duplicate is counted
      const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 120_000, detail: () => agent.output().slice(-3000) });
      const seconds = (Date.now() - started) / 1000;
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 120_000);
      expect(r.code, r.stderr).toBe(0);
      const seen = new Set<string>();
      const last = new Map<string, number>();
      const problems: string[] = [];
      for (const line of r.stdout.split('\n')) {
        if (!line) continue;
        const [file, n] = line.split(' ');
        if (seen.has(line)) problems.push(`duplicate ${line}`);
        seen.add(line);
        const prev = last.get(file!) ?? -1;
        if (Number(n) <= prev) problems.push(`out of order in ${file}: ${n} after ${prev}`);
        last.set(file!, Number(n));
        if (problems.length > 10) break;
      }
      console.log(`kill: ${total} lines in ${FILES} files, ${KILLS} SIGKILLs at steps ${[...killAt].sort((a, b) => a - b).join(',')}; stored ${stored}, distinct ${seen.size}, ${seconds.toFixed(1)} s`);
      expect(problems).toEqual([]);
      expect(seen.size).toBe(total);
      expect(stored).toBe(total);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
