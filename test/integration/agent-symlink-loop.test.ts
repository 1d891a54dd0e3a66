/**
 * Issue 9, finding 4: a symlink loop under an include glob (like Debian's llvm-14 tree, whose
 * build/Release links back to the package root) made chokidar recurse without bound (1.3 GB in
 * 9 s, /status silent, SIGTERM ignored for 30 s). A real agent on a temp tree with two loops, a
 * link to a directory outside the tree, and a wide + deep tree over max_watched_dirs: the agent
 * answers /status, stays small, warns about the loop once, logs the cap as an error, tails every
 * file it can reach (also files written later), and exits on SIGTERM within 10 s.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentStatus, killAll, makeStack, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';

afterAll(killAll);

describe('agent discovery on a hostile tree (issue 9, finding 4)', () => {
  it('symlink loops are not followed, the directory cap holds, files are tailed, SIGTERM exits within 10 s', { timeout: 150_000 }, async () => {
    const t = await tempDir();
    try {
      const root = join(t.dir, 'tree');
      const outside = join(t.dir, 'outside');
      await mkdir(join(root, 'pkg', 'build', 'lib'), { recursive: true });
      await mkdir(join(root, 'a', 'b'), { recursive: true });
      await mkdir(outside);
      await writeFile(join(root, 'a', 'x.log'), 'x1\n');
      await writeFile(join(root, 'a', 'b', 'y.log'), 'y1\n');
      await writeFile(join(root, 'pkg', 'build', 'lib', 'p.log'), 'p1\n');
      await writeFile(join(outside, 'z.log'), 'z1\n');
      await symlink(root, join(root, 'a', 'loop')); // dir/a/loop -> dir
      await symlink('..', join(root, 'pkg', 'build', 'Release')); // llvm-14 style: back to the package root
      await symlink('../../a', join(root, 'a', 'b', 'up')); // back to an ancestor, relative
      await symlink(outside, join(root, 'ext')); // a link out of the tree: followed

      // over the cap: 120 sibling directories and a chain 80 deep, one file each
      const wide = join(t.dir, 'wide');
      for (let i = 0; i < 120; i++) {
        await mkdir(join(wide, `d${i}`), { recursive: true });
        await writeFile(join(wide, `d${i}`, 'w.log'), `w${i}\n`);
      }
      let deep = join(wide, 'deep');
      for (let i = 0; i < 80; i++) deep = join(deep, `l${i}`);
      await mkdir(deep, { recursive: true });
      await writeFile(join(deep, 'deep.log'), 'deep\n');

      const stack = await makeStack(t.dir, [
        { type: 'file', name: 'tree', topic: 'app', include: [join(root, '**', '*.log')], start_at: 'beginning', scan_interval: '2s' },
        { type: 'file', name: 'wide', topic: 'wide', include: [join(wide, '**', '*.log')], start_at: 'beginning', max_watched_dirs: 50 },
      ]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();

      // 4 files reachable in the tree (z.log through the link out of it), each read once
      await waitFor(() => `4 lines in app\n${agent.output().slice(-3000)}`, async () => (await topicCount(stack.aggUrl, 'app')) >= 4, 60_000, 250);
      const status = await agentStatus(stack.statusPort);
      const paths = status.files.map((f) => f.path).filter((p) => p.startsWith(root));
      expect(paths.sort()).toEqual([join(root, 'a', 'b', 'y.log'), join(root, 'a', 'x.log'), join(root, 'ext', 'z.log'), join(root, 'pkg', 'build', 'lib', 'p.log')].sort());

      // still watched: a new line and a new file are tailed
      await appendFile(join(root, 'a', 'b', 'y.log'), 'y2\n');
      await writeFile(join(root, 'a', 'new.log'), 'n1\n');
      await waitFor(() => `6 lines in app\n${agent.output().slice(-3000)}`, async () => (await topicCount(stack.aggUrl, 'app')) >= 6, 30_000, 250);

      // the cap: an error naming the key; only directories within it are tailed
      await waitFor(() => `cap error\n${agent.output().slice(-3000)}`, () => agent.output().includes('max_watched_dirs'), 30_000, 100);
      const wideFiles = (await agentStatus(stack.statusPort)).files.filter((f) => f.path.startsWith(wide));
      expect(wideFiles.length).toBeGreaterThan(0);
      expect(wideFiles.length).toBeLessThan(50);

      // each loop warned about once, with its path
      const out = agent.output();
      for (const link of [join(root, 'a', 'loop'), join(root, 'pkg', 'build', 'Release'), join(root, 'a', 'b', 'up')]) {
        expect(out.split('\n').filter((l) => l.includes('symlink loop') && l.includes(`"path":"${link}"`))).toHaveLength(1);
      }

      const full = await agentStatus(stack.statusPort);
      const rss = (full as unknown as { memory: { rss_bytes: number } }).memory.rss_bytes;
      console.log(`agent RSS with the loops and the capped tree: ${(rss / 1048576).toFixed(0)} MiB; wide files tailed: ${wideFiles.length}`);
      expect(rss).toBeLessThan(300 * 1024 * 1024);

      const started = Date.now();
      const code = await stop(agent);
      const took = Date.now() - started;
      console.log(`SIGTERM to exit: ${took} ms`);
      expect(code).toBe(0);
      expect(took).toBeLessThan(10_000);
      expect(await topicCount(stack.aggUrl, 'app')).toBe(6);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
