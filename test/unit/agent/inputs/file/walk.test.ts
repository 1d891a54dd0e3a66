/** The bounded walk and watcher under discovery (issue 9, finding 4): loops, links out of the tree, the directory cap. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMatcher, scanMatches, watchMatches, type MatchWatcher } from '../../../../../agent/inputs/file/discovery.js';
import { waitFor } from '../../../../helpers/procs.js';

let dir: string;
let watcher: MatchWatcher | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-walk-'));
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await rm(dir, { recursive: true, force: true });
});

function spyLogger() {
  const warns: Array<Record<string, unknown>> = [];
  const errors: Array<Record<string, unknown>> = [];
  return {
    warns,
    errors,
    logger: { warn: (o: Record<string, unknown>) => void warns.push(o), error: (o: Record<string, unknown>) => void errors.push(o) } as never,
  };
}

async function file(...parts: string[]): Promise<string> {
  const p = join(dir, ...parts);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, 'x\n');
  return p;
}

describe('walk', () => {
  it('does not follow links back into the tree (warned once each), follows a link out of it, finds each file once under its own path', async () => {
    const x = await file('t', 'a', 'x.log');
    const y = await file('t', 'a', 'b', 'y.log');
    const z = await file('out', 'z.log');
    await symlink(join(dir, 't'), join(dir, 't', 'a', 'loop'));
    await symlink('..', join(dir, 't', 'a', 'b', 'up'));
    await symlink(join(dir, 't', 'a', 'b'), join(dir, 't', 'side')); // not a loop: b is reached under its own path
    await symlink(join(dir, 'out'), join(dir, 't', 'ext'));
    const s = spyLogger();
    const m = createMatcher([`${dir}/t/**/*.log`], [], { logger: s.logger, name: 'in' });
    for (let i = 0; i < 3; i++) expect((await scanMatches(m)).sort()).toEqual([x, y, join(dir, 't', 'ext', 'z.log')].sort());
    expect(z).toBeTruthy();
    expect(s.warns.map((w) => w.path).sort()).toEqual([join(dir, 't', 'a', 'b', 'up'), join(dir, 't', 'a', 'loop')].sort());
    expect(s.errors).toEqual([]);
  });

  it('caps the directories it enters, with one error per episode naming the limit', async () => {
    for (let i = 0; i < 12; i++) await file('w', `d${i}`, 'f.log');
    const s = spyLogger();
    const m = createMatcher([`${dir}/w/**/*.log`], [], { logger: s.logger, maxWatchedDirs: 5 });
    expect(await scanMatches(m)).toHaveLength(4); // the base and 4 of its 12 directories
    expect(await scanMatches(m)).toHaveLength(4);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatchObject({ max_watched_dirs: 5 });
    expect(m.state.lastDirs?.size).toBe(5);
  });
});

describe('watcher', () => {
  it('a loop created later does not grow the watch set; files in new directories are reported', async () => {
    await mkdir(join(dir, 'w'));
    const s = spyLogger();
    const m = createMatcher([`${dir}/w/**/*.log`], [], { logger: s.logger, maxWatchedDirs: 50 });
    await scanMatches(m);
    const added: string[] = [];
    watcher = watchMatches(m, { add: (p) => added.push(p), change: () => undefined, unlink: () => undefined, error: (e) => { throw e; } });
    await new Promise<void>((r) => watcher!.once('ready', () => r()));
    await mkdir(join(dir, 'w', 'n', 'm'), { recursive: true });
    await symlink(join(dir, 'w'), join(dir, 'w', 'n', 'm', 'loop'));
    const f = await file('w', 'n', 'm', 'f.log');
    await waitFor(() => `add of ${f}: ${added.join(', ')}`, () => added.includes(f), 10_000, 20);
    await waitFor('the loop warning', () => s.warns.some((w) => w.path === join(dir, 'w', 'n', 'm', 'loop')), 10_000, 20);
    expect(watcher.size).toBe(3);
    expect(added.some((p) => p.includes('loop'))).toBe(false);
  });
});
