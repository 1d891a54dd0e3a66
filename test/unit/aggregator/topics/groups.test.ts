/** GroupStore against a real temp dir: commit, merge, persistence, serialized writes, hostile files. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GroupStore, toJson, type GroupOffsets } from '../../../../aggregator/topics/groups.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-groups-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const offsets = (o: Record<string, Record<number, number>>): GroupOffsets => new Map(Object.entries(o).map(([t, p]) => [t, new Map(Object.entries(p).map(([k, v]) => [Number(k), v]))]));
const plain = (g: GroupOffsets) => JSON.parse(JSON.stringify(toJson(g)));

async function reopen(): Promise<GroupStore> {
  const s = new GroupStore(dir);
  await s.open();
  return s;
}

describe('GroupStore', () => {
  it('a commit is durable: the file holds it when commit resolves, and a new store reads it back', async () => {
    const s = await reopen();
    await s.commit('fast', offsets({ logs: { 0: 10, 1: 7 } }));
    expect(JSON.parse(await readFile(join(dir, 'groups', 'fast.json'), 'utf8'))).toEqual({ version: 1, offsets: { logs: { 0: 10, 1: 7 } } });
    expect(plain((await reopen()).get('fast'))).toEqual({ logs: { 0: 10, 1: 7 } });
  });

  it('merges commits per partition and per topic; a later commit of a partition replaces it (also backwards: a reset)', async () => {
    const s = await reopen();
    await s.commit('g', offsets({ logs: { 0: 10 } }));
    await s.commit('g', offsets({ logs: { 1: 4 }, metrics: { 0: 2 } }));
    expect(plain(await s.commit('g', offsets({ logs: { 0: 3 } })))).toEqual({ logs: { 0: 3, 1: 4 }, metrics: { 0: 2 } });
    expect(plain((await reopen()).get('g'))).toEqual({ logs: { 0: 3, 1: 4 }, metrics: { 0: 2 } });
  });

  it('groups are independent, and get() of an unknown group is empty', async () => {
    const s = await reopen();
    await s.commit('a', offsets({ logs: { 0: 1 } }));
    await s.commit('b', offsets({ logs: { 0: 99 } }));
    expect(plain(s.get('a'))).toEqual({ logs: { 0: 1 } });
    expect(plain(s.get('b'))).toEqual({ logs: { 0: 99 } });
    expect(s.get('nobody').size).toBe(0);
    expect([...s.all().keys()].sort()).toEqual(['a', 'b']);
  });

  it('concurrent commits of one group are written in order: the file ends with the last one', async () => {
    const s = await reopen();
    const all = Array.from({ length: 50 }, (_, i) => s.commit('g', offsets({ logs: { 0: i } })));
    const results = await Promise.all(all);
    expect(results.map((r) => r.get('logs')!.get(0))).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(JSON.parse(await readFile(join(dir, 'groups', 'g.json'), 'utf8'))).toEqual({ version: 1, offsets: { logs: { 0: 49 } } });
    // no temp files left behind by the atomic replacement
    expect(await readdir(join(dir, 'groups'))).toEqual(['g.json']);
  });

  it('names like __proto__ and constructor are just names in the JSON output', async () => {
    const s = await reopen();
    const got = await s.commit('constructor', offsets({ __proto__x: { 0: 1 }, constructor: { 2: 5 } }));
    const json = toJson(got);
    expect(Object.getPrototypeOf(json)).toBeNull();
    expect(Object.keys(json).sort()).toEqual(['__proto__x', 'constructor']);
    expect(plain((await reopen()).get('constructor'))).toEqual({ __proto__x: { 0: 1 }, constructor: { 2: 5 } });
  });

  it('a damaged or foreign offsets file never stops the store: the group starts empty and an error is logged; bad entries are skipped', async () => {
    const groups = join(dir, 'groups');
    await mkdir(groups, { recursive: true });
    await writeFile(join(groups, 'torn.json'), '{"offsets": {"logs": {"0": 1');
    await writeFile(join(groups, 'shape.json'), '[1, 2, 3]');
    await writeFile(join(groups, 'mixed.json'), JSON.stringify({ offsets: { logs: { 0: 5, '01': 6, '-1': 7, '1e3': 8, 2: -1, 3: 1.5, 4: '9', 5: 2 ** 53, 6: 12 }, 'bad topic!': { 0: 1 }, metrics: 'nope' } }));
    await writeFile(join(groups, 'bad name!.json'), JSON.stringify({ offsets: { logs: { 0: 1 } } }));
    await writeFile(join(groups, 'notes.txt'), 'not a group');
    const errors: Array<{ group: string; msg: string }> = [];
    const s = new GroupStore(dir, pino({ level: 'error' }, { write: (l: string) => void errors.push(JSON.parse(l)) }));
    await s.open();
    expect([...s.all().keys()].sort()).toEqual(['mixed']);
    expect(plain(s.get('mixed'))).toEqual({ logs: { 0: 5, 6: 12 } });
    expect(errors.map((e) => e.group).sort()).toEqual(['shape', 'torn']);
    expect(errors.every((e) => /unreadable/.test(e.msg))).toBe(true);
    // and a commit to a damaged group replaces the file with a good one
    await s.commit('torn', offsets({ logs: { 0: 3 } }));
    expect(plain((await reopen()).get('torn'))).toEqual({ logs: { 0: 3 } });
  });

  it('group names follow the topic name rule', () => {
    expect(GroupStore.nameProblem('fast.consumer-1_a')).toBeUndefined();
    expect(GroupStore.nameProblem('../etc')).toMatch(/group name/);
    expect(GroupStore.nameProblem('..')).toMatch(/group name/);
    expect(GroupStore.nameProblem('')).toMatch(/group name/);
    expect(GroupStore.nameProblem('x'.repeat(201))).toMatch(/group name/);
  });
});
