/**
 * Consumer-group offsets: <data_dir>/groups/<group>.json, each replaced
 * atomically on commit ({"offsets": {"<topic>": {"<partition>": next offset}}}).
 * A committed offset is the next record the group will read.
 *
 * Topic, group and partition keys come from clients: every map here is a Map
 * or a null-prototype object (JSON output), never a plain object, so keys like
 * "__proto__" or "constructor" are just names.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readStateFile, writeStateFile, type StateKind } from '../../lib/state/state-file.js';
import type { Logger } from '../../lib/obs/logger.js';
import { topicNameProblem } from '../../lib/config/names.js';

/** topic -> partition (canonical decimal) -> next offset */
export type GroupOffsets = Map<string, Map<number, number>>;

export class GroupStore {
  #dir: string;
  #groups = new Map<string, GroupOffsets>();
  #writes = new Map<string, Promise<void>>();
  #logger: Logger | undefined;

  constructor(dataDir: string, logger?: Logger) {
    this.#dir = join(dataDir, 'groups');
    this.#logger = logger;
  }

  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(this.#dir)) {
      if (!f.endsWith('.json')) continue;
      const name = f.slice(0, -5);
      if (GroupStore.nameProblem(name)) continue;
      // A file we did not write (or a damaged one) must not keep the aggregator from starting.
      try {
        const offsets = await readStateFile(join(this.#dir, f), GROUP_KIND);
        if (offsets) this.#groups.set(name, offsets);
      } catch (err) {
        this.#logger?.error({ group: name, file: join(this.#dir, f), reason: (err as Error).message }, 'consumer-group offsets file is unreadable; the group starts with no committed offsets');
      }
    }
  }

  static nameProblem(name: string): string | undefined {
    return topicNameProblem(name)?.replace('topic name', 'group name');
  }

  get(group: string): GroupOffsets {
    return this.#groups.get(group) ?? new Map();
  }

  all(): Map<string, GroupOffsets> {
    return this.#groups;
  }

  /** Merges and persists; resolves once the file is durably replaced. Commits of one group are serialized. */
  commit(group: string, offsets: GroupOffsets): Promise<GroupOffsets> {
    const cur: GroupOffsets = new Map();
    for (const [t, parts] of this.get(group)) cur.set(t, new Map(parts));
    for (const [topic, parts] of offsets) {
      let c = cur.get(topic);
      if (!c) cur.set(topic, (c = new Map()));
      for (const [p, o] of parts) c.set(p, o);
    }
    this.#groups.set(group, cur);
    const prev = this.#writes.get(group) ?? Promise.resolve();
    const next = prev.then(() => writeStateFile(join(this.#dir, `${group}.json`), GROUP_KIND, { offsets: toJson(cur) }));
    this.#writes.set(group, next.catch(() => undefined));
    return next.then(() => cur);
  }
}

/** The JSON shape of a group's offsets, as null-prototype objects. */
export function toJson(offsets: GroupOffsets): Record<string, Record<string, number>> {
  const out = Object.create(null) as Record<string, Record<string, number>>;
  for (const [t, parts] of offsets) {
    const o = Object.create(null) as Record<string, number>;
    for (const [p, v] of [...parts].sort((a, b) => a[0] - b[0])) o[String(p)] = v;
    out[t] = o;
  }
  return out;
}

/**
 * A group's file through lib/state/state-file.ts (size cap, version; files
 * from before the version field read as version 1). `offsets` must be an
 * object; entries that are not a valid topic, canonical partition and offset
 * are skipped one by one, so one bad key does not lose a group's other offsets.
 */
const GROUP_KIND: StateKind<GroupOffsets> = {
  what: 'consumer-group offsets file',
  version: 1,
  remedy: 'the group starts with no committed offsets (readers start at first_offset); commit offsets again or delete the file',
  decode(v, at) {
    const offsets = at.obj(v.offsets, 'offsets');
    const out: GroupOffsets = new Map();
    for (const topic of Object.keys(offsets)) {
      const parts = offsets[topic];
      if (topicNameProblem(topic) || !isObject(parts)) continue;
      const m = new Map<number, number>();
      for (const key of Object.keys(parts)) {
        const val = parts[key];
        if (/^(0|[1-9]\d{0,9})$/.test(key) && Number.isSafeInteger(val) && (val as number) >= 0) m.set(Number(key), val as number);
      }
      out.set(topic, m);
    }
    return out;
  },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
