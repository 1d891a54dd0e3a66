/**
 * Consumer-group offsets: <data_dir>/groups/<group>.json, each replaced
 * atomically on commit ({"offsets": {"<topic>": {"<partition>": next offset}}}).
 * A committed offset is the next record the group will read.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../../lib/log/index.js';
import { topicNameProblem } from './partitioner.js';

export type GroupOffsets = Record<string, Record<string, number>>;

export class GroupStore {
  #dir: string;
  #groups = new Map<string, GroupOffsets>();
  #writes = new Map<string, Promise<void>>();

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'groups');
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    for (const f of await readdir(this.#dir)) {
      if (!f.endsWith('.json')) continue;
      const name = f.slice(0, -5);
      const data = await readFileIfExists(join(this.#dir, f));
      if (data) this.#groups.set(name, (JSON.parse(data.toString('utf8')) as { offsets: GroupOffsets }).offsets);
    }
  }

  static nameProblem(name: string): string | undefined {
    return topicNameProblem(name)?.replace('topic name', 'group name');
  }

  get(group: string): GroupOffsets {
    return this.#groups.get(group) ?? {};
  }

  all(): Map<string, GroupOffsets> {
    return this.#groups;
  }

  /** Merges and persists; resolves once the file is durably replaced. Commits of one group are serialized. */
  commit(group: string, offsets: GroupOffsets): Promise<GroupOffsets> {
    const cur = structuredClone(this.get(group));
    for (const [topic, parts] of Object.entries(offsets)) {
      cur[topic] ??= {};
      for (const [p, o] of Object.entries(parts)) cur[topic]![p] = o;
    }
    this.#groups.set(group, cur);
    const prev = this.#writes.get(group) ?? Promise.resolve();
    const next = prev.then(() => writeFileAtomic(join(this.#dir, `${group}.json`), JSON.stringify({ offsets: cur })));
    this.#writes.set(group, next.catch(() => undefined));
    return next.then(() => cur);
  }
}
