/**
 * Issue 3, identity by content: a file is deleted while the agent is down and another file
 * with different content gets the same inode (same directory, same name, created at once).
 * Device+inode are only a hint: the new file is a new stream and is read from its start.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, waitSettled } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

const TMPFS_MAGIC = 0x01021994;

/**
 * A directory on a file system that hands a freed inode number to the next file (ext4, xfs).
 * tmpfs never does (its numbers only grow), so a TMPDIR on tmpfs cannot host this test:
 * LOGSHIP_INODE_TEST_DIR names another directory, else /var/tmp is tried.
 */
function inodeReusingDir(): string {
  const wanted = process.env.LOGSHIP_INODE_TEST_DIR;
  const tried: string[] = [];
  for (const d of wanted ? [wanted] : [tmpdir(), '/var/tmp']) {
    try {
      if (statfsSync(d).type !== TMPFS_MAGIC) return d;
      tried.push(`${d} is on tmpfs`);
    } catch (err) {
      tried.push(`${d}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
  throw new Error(`agent-inode-reuse needs a directory on a file system that reuses inode numbers (ext4, xfs; not tmpfs): ${tried.join('; ')}. Set LOGSHIP_INODE_TEST_DIR=/path/on/ext4`);
}

const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} ${String(i).padStart(5, '0')} ${'y'.repeat(40)}\n`).join('');

describe('agent: inode reuse', () => {
  it('a new file on a reused inode is read from its start', { timeout: 90_000 }, async () => {
    const base = inodeReusingDir();
    const tmp = { dir: await mkdtemp(join(base, 'logship-ino-')), cleanup: () => rm(tmp.dir, { recursive: true, force: true }) };
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const a = join(logs, 'a.log');
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
      await writeFile(a, lines('old', 500));
      const agg = await stack.startAggregator();
      let agent = await stack.startAgent();
      // delivered and acknowledged; the SIGTERM below writes the final checkpoint
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 500, statusPort: stack.statusPort, timeoutMs: 30_000 });
      expect(await stop(agent)).toBe(0);

      const oldIno = (await stat(a)).ino;
      let newIno = -1;
      // ext4 hands the lowest free inode of the directory's group to the next file created. Other
      // processes creating files at the same moment can take it first (and usually free it again
      // soon), so keep creating candidates, holding the ones that got another inode, for up to 10 s.
      rmSync(a);
      const candidates: string[] = [];
      const deadline = Date.now() + 10_000;
      for (let n = 0; Date.now() < deadline && n < 20_000; n++) {
        const c = join(logs, `.cand-${n}`);
        writeFileSync(c, lines('new', 1));
        if (statSync(c).ino === oldIno) {
          renameSync(c, a);
          newIno = oldIno;
          break;
        }
        candidates.push(c);
        // yields now and then so other processes can free the inode they took; not a wait for state
        if (n % 50 === 49) await new Promise((r) => setTimeout(r, 5));
      }
      for (const c of candidates) rmSync(c, { force: true });
      expect(newIno, `the file system under ${base} did not hand inode ${oldIno} out again within 10 s; set LOGSHIP_INODE_TEST_DIR to a directory on ext4 or xfs`).toBe(oldIno);
      // longer than the old file, so resuming at the old position would skip lines
      await appendFile(a, lines('new', 800).split('\n').slice(1).join('\n'));
      agent = await stack.startAgent();
      const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 1300, statusPort: stack.statusPort, timeoutMs: 30_000, detail: () => agent.output().slice(-2000) });
      expect(stored).toBe(1300);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
      const got = r.stdout.split('\n').filter(Boolean);
      const news = got.filter((l) => l.startsWith('new '));
      expect(news.length).toBe(800);
      expect(new Set(news).size).toBe(800);
      expect(news[0]).toMatch(/^new 00000 /);
      console.log(`inode reuse: inode ${oldIno} reused; ${got.length - news.length} old + ${news.length} new lines stored once each`);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
