/**
 * Issue 3, rotation matrix with Debian's real logrotate (run as a child process with -f -s):
 * `create` and `copytruncate`, each with and without `compress` + `delaycompress`. A writer
 * appends numbered lines and pauses while logrotate runs (write, pause, rotate, resume), so no
 * line is written inside copytruncate's copy-then-truncate window (docs/tailing.md) and the
 * assertion is exact: every line arrives exactly once, in order per source.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor, waitSettled } from '../helpers/procs.js';

const execFileAsync = promisify(execFile);
const LOGROTATE = ['/usr/sbin/logrotate', '/usr/bin/logrotate'].find((p) => existsSync(p));
const ROTATIONS = 10;
const CHUNKS_PER_ROUND = 8;
const LINES_PER_CHUNK = 40;

const cases = [
  { name: 'create', directives: ['create'] },
  { name: 'create+compress', directives: ['create', 'compress', 'delaycompress'] },
  { name: 'copytruncate', directives: ['copytruncate'] },
  { name: 'copytruncate+compress', directives: ['copytruncate', 'compress', 'delaycompress'] },
];

interface Rec {
  source: string;
  source_offset: number;
  message: string;
}

afterAll(async () => {
  await killAll();
});

describe('agent: rotation by real logrotate', () => {
  it('has Debian\'s logrotate to run (deploy/test-deps.sh installs it)', () => {
    expect(LOGROTATE, 'logrotate is not installed: run deploy/test-deps.sh').toBeDefined();
  });

  for (const c of cases) {
    it(`${c.name}: every line exactly once, in order per source`, { timeout: 90_000 }, async () => {
      if (!LOGROTATE) throw new Error('logrotate is not installed (looked in /usr/sbin and /usr/bin): run deploy/test-deps.sh (apt-get install -y logrotate)');
      const tmp = await tempDir('logship-rot-');
      try {
        const logs = join(tmp.dir, 'logs');
        await mkdir(logs);
        const app = join(logs, 'app.log');
        const conf = join(tmp.dir, 'logrotate.conf');
        const state = join(tmp.dir, 'logrotate.state');
        await writeFile(conf, `${app} {\n  rotate 100\n  missingok\n  ifempty\n${c.directives.map((d) => `  ${d}\n`).join('')}}\n`);
        const stack = await makeStack(
          tmp.dir,
          [{ type: 'file', topic: 'app', include: [join(logs, 'app.log*')], exclude: ['*.gz'], start_at: 'beginning', scan_interval: '1s' }],
          { aggregator: { topics: { default: { partitions: 1 } } } },
        );
        await writeFile(app, '');
        const agg = await stack.startAggregator();
        const agent = await stack.startAgent();
        let seq = 0;
        const write = async () => {
          let s = '';
          for (let i = 0; i < LINES_PER_CHUNK; i++) s += `${c.name} ${String(seq++).padStart(8, '0')} ${'x'.repeat(60)}\n`;
          await appendFile(app, s);
        };
        for (let r = 0; r < ROTATIONS; r++) {
          for (let k = 0; k < CHUNKS_PER_ROUND; k++) {
            await write();
            // paces the writer so rotations land between reads; not a wait for anything
            await new Promise((res) => setTimeout(res, 25));
          }
          // The writer is paused while logrotate runs.
          await execFileAsync(LOGROTATE, ['-f', '-s', state, conf]);
        }
        for (let k = 0; k < CHUNKS_PER_ROUND; k++) await write();
        const total = seq;
        // On a timeout, go on: the analysis below names the missing lines.
        // Settled (nothing unacknowledged, count unchanged) means a late duplicate is already stored.
        await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 45_000 }).catch(() => undefined);
        const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'json'], {}, 60_000);
        expect(r.code, r.stderr).toBe(0);
        const seen = new Map<number, Rec>();
        const lastBySource = new Map<string, number>();
        const problems: string[] = [];
        for (const line of r.stdout.split('\n')) {
          if (!line) continue;
          const rec = JSON.parse(line) as Rec;
          const n = Number(rec.message.split(' ')[1]);
          if (!rec.message.startsWith(`${c.name} `) || !Number.isInteger(n)) problems.push(`unexpected ${line}`);
          else if (seen.has(n)) problems.push(`duplicate ${n}: ${line} (first ${JSON.stringify(seen.get(n))})`);
          else {
            seen.set(n, rec);
            const prev = lastBySource.get(rec.source) ?? -1;
            if (n < prev) problems.push(`out of order in ${rec.source}: ${n} after ${prev}`);
            lastBySource.set(rec.source, n);
          }
          if (problems.length > 10) break;
        }
        const missing: number[] = [];
        for (let i = 0; i < total && missing.length < 10; i++) if (!seen.has(i)) missing.push(i);
        const files = (await readdir(logs)).sort();
        console.log(`rotation ${c.name}: ${total} lines, ${ROTATIONS} rotations, ${seen.size} distinct stored; files now: ${files.join(' ')}`);
        if (problems.length || missing.length) console.log(agent.output().split('\n').filter((l) => /truncat|copy|rotat|warn|error/i.test(l)).slice(-40).join('\n'));
        expect(problems).toEqual([]);
        expect(missing).toEqual([]);
        expect(seen.size).toBe(total);
        expect(await topicCount(stack.aggUrl, 'app')).toBe(total);
        expect(await stop(agent)).toBe(0);
        expect(await stop(agg)).toBe(0);
      } finally {
        await killAll();
        await tmp.cleanup();
      }
    });
  }
});
