/**
 * Consumer-group offsets in the JetStream KV bucket `<prefix>-groups`, so a
 * group committed through one aggregator resumes through any other:
 * key = the group name (topicToken: `_` -> `__`, `.` -> `_d`), value =
 * {"version": 1, "offsets": {"<topic>": {"<partition>": next offset}}}, the
 * same shape as the local groups/<group>.json.
 *
 * The synchronous reads of GroupStore (get, all) are answered from a cache
 * that a KV watch keeps current with every aggregator's commits. A commit
 * merges into the bucket's current value with compare-and-set on the key's
 * revision (retried on a conflict), so two aggregators committing different
 * partitions of one group never lose each other's offsets.
 */
import { KvWatchInclude, type KV, type KvEntry, type QueuedIterator } from 'nats';
import type { Logger } from '../../../lib/obs/logger.js';
import { LogshipError } from '../../../lib/errors.js';
import { GroupStore, toJson, type GroupOffsets } from '../../topics/groups.js';
import { topicNameProblem } from '../../../lib/config/names.js';
import { tokenTopic, topicToken } from './headers.js';

const MAX_VALUE_BYTES = 4 << 20;
const CAS_ATTEMPTS = 10;

export class KvGroupStore extends GroupStore {
  #kv: () => KV;
  #logger: Logger;
  #cache = new Map<string, GroupOffsets>();
  #watch: QueuedIterator<KvEntry> | undefined;
  #serial = new Map<string, Promise<unknown>>();

  /** `kv` is read at open (the storage opens the bucket first). */
  constructor(kv: () => KV, logger: Logger) {
    super('/nonexistent-jetstream-groups', logger);
    this.#kv = kv;
    this.#logger = logger;
  }

  override async open(): Promise<void> {
    const kv = this.#kv();
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      if (e) this.#apply(e);
    }
    this.#watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of this.#watch!) this.#apply(e);
    })().catch((err: unknown) => this.#logger.warn({ err }, 'consumer-group watch ended; offsets committed through other aggregators are seen at their next commit here'));
  }

  #apply(e: KvEntry): void {
    const group = tokenTopic(e.key);
    if (GroupStore.nameProblem(group)) return;
    if (e.operation !== 'PUT') {
      this.#cache.delete(group);
      return;
    }
    const parsed = decodeGroup(e.value);
    if (typeof parsed === 'string') {
      this.#logger.error({ group, reason: parsed }, 'consumer-group offsets in the KV bucket are unreadable; the group reads as having no committed offsets');
      return;
    }
    this.#cache.set(group, parsed);
  }

  override get(group: string): GroupOffsets {
    return this.#cache.get(group) ?? new Map();
  }

  override all(): Map<string, GroupOffsets> {
    return this.#cache;
  }

  override commit(group: string, offsets: GroupOffsets): Promise<GroupOffsets> {
    const prev = this.#serial.get(group) ?? Promise.resolve();
    const next = prev.then(() => this.#commit(group, offsets));
    this.#serial.set(group, next.catch(() => undefined));
    return next;
  }

  async #commit(group: string, offsets: GroupOffsets): Promise<GroupOffsets> {
    const kv = this.#kv();
    const key = topicToken(group);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const e = await kv.get(key);
      const cur: GroupOffsets = new Map();
      const base = e && e.operation === 'PUT' ? decodeGroup(e.value) : new Map();
      if (typeof base !== 'string') for (const [t, parts] of base) cur.set(t, new Map(parts));
      for (const [topic, parts] of offsets) {
        let c = cur.get(topic);
        if (!c) cur.set(topic, (c = new Map()));
        for (const [p, o] of parts) c.set(p, o);
      }
      const value = Buffer.from(JSON.stringify({ version: 1, offsets: toJson(cur) }));
      try {
        if (e) await kv.update(key, value, e.revision);
        else await kv.create(key, value);
        this.#cache.set(group, cur);
        return cur;
      } catch (err) {
        if (!/wrong last sequence|exists/i.test((err as Error).message)) {
          throw new LogshipError('LSH_ERR_UNAVAILABLE', `cannot commit offsets of group ${group} to JetStream: ${(err as Error).message}`, { cause: err });
        }
      }
    }
    throw new LogshipError('LSH_ERR_UNAVAILABLE', `offsets of group ${group} kept changing under concurrent commits; retry`);
  }

  async close(): Promise<void> {
    this.#watch?.stop();
  }
}

function decodeGroup(v: Uint8Array): GroupOffsets | string {
  if (v.length > MAX_VALUE_BYTES) return `value is ${v.length} bytes`;
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(v).toString('utf8'));
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const offsets = (o as { offsets?: unknown })?.offsets;
  if (typeof offsets !== 'object' || offsets === null || Array.isArray(offsets)) return 'offsets is not an object';
  const out: GroupOffsets = new Map();
  for (const topic of Object.keys(offsets)) {
    const parts = (offsets as Record<string, unknown>)[topic];
    if (topicNameProblem(topic) || typeof parts !== 'object' || parts === null || Array.isArray(parts)) continue;
    const m = new Map<number, number>();
    for (const key of Object.keys(parts)) {
      const val = (parts as Record<string, unknown>)[key];
      if (/^(0|[1-9]\d{0,9})$/.test(key) && Number.isSafeInteger(val) && (val as number) >= 0) m.set(Number(key), val as number);
    }
    out.set(topic, m);
  }
  return out;
}
