/**
 * The aggregator's small state files go through lib/state/state-file.ts:
 * files written by the previous version (no `version` field) still read, and
 * a damaged one gives an error naming the file and what to do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStorage } from '../../../../aggregator/storage/local.js';
import { GroupStore } from '../../../../aggregator/topics/groups.js';
import { readSnapshot } from '../../../../aggregator/storage/producer-state.js';
import { realFs } from '../../../../lib/log/index.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir } from '../../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function dir(): Promise<string> {
  const t = await tempDir('logship-state-');
  cleanups.push(t.cleanup);
  return t.dir;
}

const settings = { partitions: 2, retention: 86_400_000, retention_bytes: 2 ** 40, segment_bytes: 1 << 20, segment_ms: 86_400_000 };

describe('aggregator state files', () => {
  it('topic.json: the previous format reads; new files carry a version; a damaged one names the file and what to do', async () => {
    const d = await dir();
    await mkdir(join(d, 'topics', 'old'), { recursive: true });
    await writeFile(join(d, 'topics', 'old', 'topic.json'), '{"partitions":3,"created":"2026-01-01T00:00:00.000Z"}');
    await mkdir(join(d, 'topics', 'torn'), { recursive: true });
    await writeFile(join(d, 'topics', 'torn', 'topic.json'), '{"partit');
    const s = new LocalStorage({ dataDir: d, settingsFor: () => settings, logger: silentLogger(), fsync: false });
    await s.open();
    cleanups.push(() => s.close());
    expect((await s.withTopic('old', false, (t) => t!.partitions.length))).toBe(3);
    await s.withTopic('fresh', true, () => undefined);
    expect(JSON.parse(await readFile(join(d, 'topics', 'fresh', 'topic.json'), 'utf8'))).toMatchObject({ version: 1, partitions: 2 });
    const err = await s.acquire('torn', false).catch((e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ code: 'LSH_ERR_CORRUPT' });
    expect((err as Error).message).toContain(join(d, 'topics', 'torn', 'topic.json'));
    expect((err as Error).message).toMatch(/not JSON.*What to do: restore it from a backup/);
  });

  it('groups: the previous format reads; commits write a version', async () => {
    const d = await dir();
    await mkdir(join(d, 'groups'), { recursive: true });
    await writeFile(join(d, 'groups', 'old.json'), '{"offsets":{"app":{"0":7,"1":9}}}');
    const g = new GroupStore(d);
    await g.open();
    expect(g.get('old').get('app')).toEqual(new Map([[0, 7], [1, 9]]));
    await g.commit('old', new Map([['app', new Map([[0, 8]])]]));
    expect(JSON.parse(await readFile(join(d, 'groups', 'old.json'), 'utf8'))).toEqual({ version: 1, offsets: { app: { 0: 8, 1: 9 } } });
  });

  it('producers.json: version 1 reads; a bad field is a problem naming the file and the field, never a throw', async () => {
    const d = await dir();
    await writeFile(join(d, 'producers.json'), JSON.stringify({ version: 1, offset: 4, written: 'x', producers: { 'a/1': { epoch: 2, seq: 3 }, __proto__x: { epoch: 1, seq: -1 } } }));
    expect(await readSnapshot(d, realFs)).toEqual({ offset: 4, producers: new Map([['a/1', { epoch: 2, seq: 3 }], ['__proto__x', { epoch: 1, seq: -1 }]]) });
    await writeFile(join(d, 'producers.json'), JSON.stringify({ version: 1, offset: 4, producers: { 'a/1': { epoch: 2, seq: 'x' } } }));
    const r = (await readSnapshot(d, realFs)) as { problem: string };
    expect(r.problem).toContain(join(d, 'producers.json'));
    expect(r.problem).toMatch(/producers\."a\/1"\.seq: expected an integer/);
  });
});
