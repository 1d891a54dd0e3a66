/**
 * Issue 3, many files: 5,000 files of 10 lines each, created while the agent runs with
 * max_open_files: 256. All lines arrive exactly once, open descriptors stay bounded, and the
 * idle agent is cheap: CPU (utime+stime from /proc/<pid>/stat) and RSS (VmRSS) over 10 s
 * are printed; the CPU bound asserted is deliberately generous (< 10% of a core).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor, waitSettled } from '../helpers/procs.js';

const FILES = 5_000;
const LINES = 10;
const MAX_OPEN = 256;
const CLK_TCK = 100;

afterAll(async () => {
  await killAll();
});

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

async function rssKiB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

describe('agent: many files', () => {
  it('5,000 files with max_open_files 256: all delivered, descriptors bounded, idle is cheap', { timeout: 170_000 }, async () => {
    const tmp = await tempDir('logship-many-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '**/*.log')], start_at: 'beginning', max_open_files: MAX_OPEN }]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      const pid = agent.child.pid!;
      const started = Date.now();
      let maxFds = 0;
      const sampleFds = async () => {
        const n = (await readdir(`/proc/${pid}/fd`)).length;
        if (n > maxFds) maxFds = n;
      };
      for (let d = 0; d < 10; d++) await mkdir(join(logs, `d${d}`));
      for (let i = 0; i < FILES; i++) {
        let s = '';
        for (let j = 0; j < LINES; j++) s += `file${String(i).padStart(4, '0')} line${j} ${'w'.repeat(30)}\n`;
        await writeFile(join(logs, `d${i % 10}`, `f${i}.log`), s);
        if (i % 500 === 0) await sampleFds();
      }
      const total = FILES * LINES;
      await waitFor(() => `all ${total} lines stored\n${agent.output().slice(-3000)}`, async () => {
        await sampleFds();
        return (await topicCount(stack.aggUrl, 'app')) >= total;
      }, 120_000, 250);
      const seconds = (Date.now() - started) / 1000;
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 30_000 });
      const t0 = await cpuTicks(pid);
      const w0 = Date.now();
      // Time itself is what is measured here: the idle agent's CPU over a 10 s window.
      await new Promise((r) => setTimeout(r, 10_000));
      const cpu = ((await cpuTicks(pid)) - t0) / CLK_TCK / ((Date.now() - w0) / 1000);
      const rss = await rssKiB(pid);
      await sampleFds();
      const stored = await topicCount(stack.aggUrl, 'app');
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
      const got = r.stdout.split('\n').filter(Boolean);
      console.log(`many files: ${FILES} files x ${LINES} lines = ${total} delivered in ${seconds.toFixed(1)} s; idle 10 s: CPU ${(cpu * 100).toFixed(2)}% of a core, RSS ${(rss / 1024).toFixed(1)} MiB; max fds seen ${maxFds} (max_open_files ${MAX_OPEN})`);
      expect(stored).toBe(total);
      expect(new Set(got).size).toBe(total);
      expect(maxFds).toBeLessThan(MAX_OPEN + 150);
      expect(cpu).toBeLessThan(0.1);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
