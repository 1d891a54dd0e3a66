/** Discovery on a real directory tree: glob bases, include/exclude, pruning, the reconcile scan and the inotify watcher. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MatchWatcher as FSWatcher } from '../../../../../agent/inputs/file/discovery.js';
import { createMatcher, globBase, scanMatches, watchMatches } from '../../../../../agent/inputs/file/discovery.js';
import { waitFor } from '../../../../helpers/procs.js';

let dir: string;
let watcher: FSWatcher | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-disc-'));
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function touch(...parts: string[]): Promise<string> {
  const p = join(dir, ...parts);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, 'x\n');
  return p;
}

describe('globBase', () => {
  it('is the directory before the first wildcard', () => {
    expect(globBase('/var/log/*.log')).toBe('/var/log');
    expect(globBase('/var/log/**/*.log')).toBe('/var/log');
    expect(globBase('/srv/{a,b}/app/*.log')).toBe('/srv');
    expect(globBase('/srv/app?/x.log')).toBe('/srv');
    expect(globBase('/var/log/syslog')).toBe('/var/log');
    expect(globBase('logs/*.log')).toBe('logs');
    expect(globBase('*.log')).toBe('.');
    expect(globBase('/*.log')).toBe('/');
  });
});

describe('createMatcher', () => {
  it('matches includes minus excludes; a slash-less exclude applies to the base name; dot files count', () => {
    const m = createMatcher([`${dir}/**/*.log`], ['*.gz.log', `${dir}/skip/**`]);
    expect(m.matches(`${dir}/a.log`)).toBe(true);
    expect(m.matches(`${dir}/deep/er/b.log`)).toBe(true);
    expect(m.matches(`${dir}/.hidden.log`)).toBe(true);
    expect(m.matches(`${dir}/a.txt`)).toBe(false);
    expect(m.matches(`${dir}/deep/old.gz.log`)).toBe(false);
    expect(m.matches(`${dir}/skip/c.log`)).toBe(false);
    expect(m.matches(`/elsewhere/a.log`)).toBe(false);
    expect(m.bases).toEqual([dir]);
  });

  it('prunes directories that cannot hold a match: fixed depth without **, anything below a ** base, parents of a base', () => {
    const m = createMatcher(['apps/*/logs/*.log'], []);
    expect(m.mayContain('apps')).toBe(true);
    expect(m.mayContain('apps/web')).toBe(true);
    expect(m.mayContain('apps/web/logs')).toBe(true);
    expect(m.mayContain('apps/web/logs/old')).toBe(false);
    const abs = createMatcher([`${dir}/apps/*.log`], []);
    expect(abs.mayContain(`${dir}/apps/sub`)).toBe(false);
    expect(abs.mayContain(dir)).toBe(true); // a parent of the base
    expect(abs.mayContain(`${dir}-other`)).toBe(false);
    // an absolute glob with a wildcard directory (its first segment is '' before the leading '/')
    const w = createMatcher([`${dir}/srv/*/logs/*.log`], []);
    expect(w.mayContain(`${dir}/srv/web`)).toBe(true);
    expect(w.mayContain(`${dir}/srv/web/logs`)).toBe(true);
    expect(w.mayContain(`${dir}/srv/web/logs/old`)).toBe(false);
    const r = createMatcher([`${dir}/r/**/*.log`], []);
    expect(r.mayContain(`${dir}/r/a/b/c/d`)).toBe(true);
    expect(r.mayContain(`${dir}/q`)).toBe(false);
  });
});

describe('scanMatches', () => {
  it('finds every matching regular file and symlink to a file, skips what does not match, dangling links and links to directories', async () => {
    const a = await touch('logs', 'a.log');
    const b = await touch('logs', 'sub', 'b.log');
    await touch('logs', 'a.txt');
    await touch('logs', 'sub', 'c.gz.log');
    await touch('other', 'x.log');
    await symlink(a, join(dir, 'logs', 'link.log'));
    await symlink(join(dir, 'nowhere.log'), join(dir, 'logs', 'dangling.log'));
    await symlink(join(dir, 'logs', 'sub'), join(dir, 'logs', 'dir.log'));
    const m = createMatcher([`${dir}/logs/**/*.log`], ['*.gz.log']);
    expect((await scanMatches(m)).sort()).toEqual([a, join(dir, 'logs', 'link.log'), b].sort());
  });

  it('finds files under an absolute glob with a wildcard directory (/srv/*/logs/*.log)', async () => {
    const a = await touch('srv', 'web', 'logs', 'a.log');
    const b = await touch('srv', 'api', 'logs', 'b.log');
    await touch('srv', 'api', 'logs', 'old', 'c.log');
    await touch('srv', 'api', 'other', 'd.log');
    const m = createMatcher([`${dir}/srv/*/logs/*.log`], []);
    expect((await scanMatches(m)).sort()).toEqual([a, b].sort());
  });

  it('stops at the limit and does not fail on a base that does not exist', async () => {
    for (let i = 0; i < 20; i++) await touch('many', `${i}.log`);
    const m = createMatcher([`${dir}/many/*.log`, `${dir}/missing/*.log`], []);
    expect(await scanMatches(m, 5)).toHaveLength(5);
    expect(await scanMatches(m)).toHaveLength(20);
  });
});

describe('watchMatches', () => {
  it('reports add, change and unlink of matching files only, also in a directory created later under a ** glob', async () => {
    await mkdir(join(dir, 'w'));
    const events: string[] = [];
    const errors: unknown[] = [];
    const m = createMatcher([`${dir}/w/**/*.log`], []);
    watcher = watchMatches(m, {
      add: (p) => events.push(`add ${p}`),
      change: (p) => events.push(`change ${p}`),
      unlink: (p) => events.push(`unlink ${p}`),
      error: (e) => errors.push(e),
    });
    await new Promise<void>((r) => watcher!.once('ready', () => r()));
    const a = join(dir, 'w', 'a.log');
    await writeFile(a, 'one\n');
    await writeFile(join(dir, 'w', 'a.txt'), 'ignored\n');
    await waitFor(() => `add of a.log; events: ${events.join(', ')}`, () => events.includes(`add ${a}`), 10_000, 20);
    await appendFile(a, 'two\n');
    await waitFor(() => `change of a.log; events: ${events.join(', ')}`, () => events.includes(`change ${a}`), 10_000, 20);
    await mkdir(join(dir, 'w', 'later', 'deeper'), { recursive: true });
    const n = join(dir, 'w', 'later', 'deeper', 'n.log');
    await writeFile(n, 'x\n');
    await waitFor(() => `add of a file in a new directory; events: ${events.join(', ')}`, () => events.includes(`add ${n}`), 10_000, 20);
    await unlink(a);
    await waitFor(() => `unlink of a.log; events: ${events.join(', ')}`, () => events.includes(`unlink ${a}`), 10_000, 20);
    expect(events.filter((e) => e.includes('a.txt'))).toEqual([]);
    expect(errors).toEqual([]);
  });
});
