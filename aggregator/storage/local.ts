/**
 * Embedded storage: <data_dir>/topics/<topic>/<partition>/ segment logs.
 * <data_dir>/topics/<topic>/topic.json fixes the partition count at creation
 * (written atomically); a later config change of the count is logged, not
 * applied, because it would move streams between partitions and break order.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, type FsSeam } from '../../lib/log/index.js';
import { readStateFile, writeStateFile, type StateKind } from '../../lib/state/state-file.js';
import type { Logger } from '../../lib/obs/logger.js';
import { LogshipError } from '../../lib/errors.js';
import { Partition, type PartitionEvents } from './partition.js';
import { topicNameProblem } from '../../lib/config/names.js';
import { DescriptorBudget } from './descriptors.js';

import type { PartitionStats, RetentionReport, Storage, TopicHandle, TopicSettings } from './types.js';

export type { PartitionStats, TopicSettings } from './types.js';

/** An open topic; its partitions are the concrete local ones (tests reach them), a TopicHandle to everyone else. */
export interface Topic extends TopicHandle {
  name: string;
  settings: TopicSettings;
  partitions: Partition[];
}

export interface LocalStorageOptions {
  dataDir: string;
  settingsFor: (topic: string) => TopicSettings;
  logger: Logger;
  fsync?: boolean;
  /** The fs seam for every partition's log and producer snapshot; default realFs. */
  io?: FsSeam;
  /** Producer snapshot interval while ingest goes on (default 30 s; also written at each roll and close). */
  snapshotIntervalMs?: number;
  events?: PartitionEvents;
  /** Largest partition count a topic.json may claim (limits.max_partitions_per_topic). */
  maxPartitions?: number;
  /** Descriptors available for partitions; default: from the soft ulimit -n. */
  budget?: DescriptorBudget;
}

/** The option table's ceiling for `partitions`. */
const MAX_PARTITIONS = 1024;

/**
 * topic.json ({"version": 1, "partitions": N, "created": ISO time}; files from
 * before the version field read as version 1) is ours, but read as untrusted
 * through lib/state/state-file.ts: a partition count out of range would open
 * that many logs.
 */
function topicMetaKind(max: number): StateKind<{ partitions: number }> {
  return {
    what: 'topic settings file',
    version: 1,
    remedy: 'restore it from a backup, or write {"partitions": N} with the partition directories the topic has; until then the topic cannot be opened (others are unaffected)',
    decode(v, at) {
      const n = v.partitions;
      if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > max) at.fail('partitions', `partitions must be an integer from 1 to ${max}, got ${JSON.stringify(n)?.slice(0, 40)}`);
      return { partitions: n as number };
    },
  };
}

/**
 * Topics are known from their directories and opened on use: at start as many
 * as the descriptor budget holds (so recovery runs before listening), the rest
 * when a request needs them, closing the least recently used idle topics to
 * make room. The number of topics on disk never keeps the aggregator from
 * starting, and it never opens more descriptors than `ulimit -n` allows.
 */
export class LocalStorage implements Storage {
  #opts: LocalStorageOptions;
  /** every topic on disk or being created, open or not */
  #known = new Set<string>();
  #topics = new Map<string, Topic>();
  #opening = new Map<string, Promise<Topic>>();
  #closingTopics = new Map<string, Promise<void>>();
  #users = new Map<string, number>();
  #lastUsed = new Map<string, number>();
  /** offsets of closed topics as of their close, for listings */
  #stats = new Map<string, PartitionStats[]>();
  #dir: string;
  #openPartitions = 0;
  #closed = false;
  readonly budget: DescriptorBudget;

  constructor(opts: LocalStorageOptions) {
    this.#opts = opts;
    this.#dir = join(opts.dataDir, 'topics');
    this.budget = opts.budget ?? new DescriptorBudget();
  }

  /** Partitions open now (each holds about FDS_PER_PARTITION descriptors). */
  get openPartitions(): number {
    return this.#openPartitions;
  }

  /**
   * Learns every topic on disk and opens (recovers) those the descriptor
   * budget holds; the others open on first use. A topic that cannot be opened
   * (damaged topic.json, I/O errors) is logged and tried again on its next use:
   * it never keeps the aggregator from starting.
   */
  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const names = (await readdir(this.#dir)).filter((n) => !topicNameProblem(n)).sort();
    for (const n of names) this.#known.add(n);
    let deferred = 0;
    for (const name of names) {
      if (deferred > 0 || this.budget.problem(this.#openPartitions, this.#opts.settingsFor(name).partitions)) {
        deferred++;
        continue;
      }
      try {
        await this.topic(name, true);
      } catch (err) {
        if (err instanceof LogshipError && err.code === 'LSH_ERR_UNAVAILABLE') deferred++;
        else this.#opts.logger.error({ topic: name, err }, 'cannot open a topic found on disk; it is tried again when a request needs it');
      }
    }
    if (deferred > 0) {
      this.#opts.logger.warn(
        { topics: names.length, deferred, ulimit_n: this.budget.limit, partitions_that_fit: this.budget.partitions },
        'more topics on disk than the descriptor budget holds open: the rest are opened (and recovered) when first used, closing idle ones',
      );
    }
  }

  /** Topics on disk or being created. */
  count(): number {
    return this.#known.size;
  }

  has(name: string): boolean {
    return this.#known.has(name);
  }

  /** Every known topic name, sorted. */
  names(): string[] {
    return [...this.#known].sort((a, b) => a.localeCompare(b));
  }

  /** The topic if it is open now (hot paths and gauges); closed topics need acquire(). */
  get(name: string): Topic | undefined {
    return this.#topics.get(name);
  }

  /** Open topics. */
  list(): Topic[] {
    return [...this.#topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Offsets per partition: live for an open topic, as of its close otherwise (undefined: never opened). */
  stats(name: string): PartitionStats[] | undefined {
    const t = this.#topics.get(name);
    return t ? statsOf(t) : this.#stats.get(name);
  }

  /**
   * The topic, opened (or created, with `create`) if needed and kept open
   * until release(): eviction never closes a topic in use.
   */
  async acquire(name: string, create: boolean): Promise<Topic | undefined> {
    if (!create && !this.#known.has(name)) return undefined;
    this.#users.set(name, (this.#users.get(name) ?? 0) + 1);
    try {
      const t = await this.topic(name, true);
      this.#lastUsed.set(name, Date.now());
      return t;
    } catch (err) {
      this.release(name);
      throw err;
    }
  }

  /** acquire() of a topic that is open now, without a promise; undefined when it is not open. */
  acquireOpen(name: string): Topic | undefined {
    const t = this.#topics.get(name);
    if (!t) return undefined;
    this.#users.set(name, (this.#users.get(name) ?? 0) + 1);
    this.#lastUsed.set(name, Date.now());
    return t;
  }

  release(name: string): void {
    const n = (this.#users.get(name) ?? 1) - 1;
    if (n <= 0) this.#users.delete(name);
    else this.#users.set(name, n);
    this.#lastUsed.set(name, Date.now());
  }

  async withTopic<T>(name: string, create: boolean, fn: (t: Topic | undefined) => Promise<T> | T): Promise<T> {
    const t = await this.acquire(name, create);
    if (!t) return fn(undefined);
    try {
      return await fn(t);
    } finally {
      this.release(name);
    }
  }

  /** The topic, opened or created on first use with the configured (or default) settings. */
  async topic(name: string, create: boolean): Promise<Topic | undefined> {
    const t = this.#topics.get(name);
    if (t) return t;
    if (!create && !this.#known.has(name)) return undefined;
    const problem = topicNameProblem(name);
    if (problem) throw new LogshipError('LSH_ERR_BAD_REQUEST', problem);
    let p = this.#opening.get(name);
    if (!p) {
      // Counted at once (limits.max_topics), forgotten again if it never reached the disk.
      const fresh = !this.#known.has(name);
      this.#known.add(name);
      p = this.#openTopic(name)
        .catch(async (err: unknown) => {
          if (fresh && !(await readFileIfExists(join(this.#dir, name, 'topic.json'), this.#opts.io).catch(() => undefined))) this.#known.delete(name);
          throw err;
        })
        .finally(() => this.#opening.delete(name));
      this.#opening.set(name, p);
    }
    return p;
  }

  /** Closes least recently used idle topics until `need` more partitions fit; false if they cannot. */
  async #makeRoom(need: number, forName: string): Promise<boolean> {
    while (this.budget.problem(this.#openPartitions, need)) {
      let victim: Topic | undefined;
      for (const t of this.#topics.values()) {
        if (t.name === forName || (this.#users.get(t.name) ?? 0) > 0) continue;
        if (!victim || (this.#lastUsed.get(t.name) ?? 0) < (this.#lastUsed.get(victim.name) ?? 0)) victim = t;
      }
      if (!victim) return false;
      await this.#closeTopic(victim);
    }
    return true;
  }

  async #closeTopic(t: Topic): Promise<void> {
    this.#topics.delete(t.name);
    this.#stats.set(t.name, statsOf(t));
    const closing = Promise.allSettled(t.partitions.map((p) => p.close())).then(() => {
      this.#openPartitions -= t.partitions.length;
      this.#closingTopics.delete(t.name);
    });
    this.#closingTopics.set(t.name, closing);
    await closing;
  }

  async #openTopic(name: string): Promise<Topic> {
    if (this.#closed) throw new LogshipError('LSH_ERR_CLOSED', 'storage is closed');
    // Never two writers on one directory: wait for an eviction of this topic to finish.
    await this.#closingTopics.get(name);
    const dir = join(this.#dir, name);
    const settings = { ...this.#opts.settingsFor(name) };
    // Before anything is created: a refused topic leaves no directory behind.
    if (!(await this.#makeRoom(settings.partitions, name))) {
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `topic "${name}": ${this.budget.problem(this.#openPartitions, settings.partitions)}`);
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const metaPath = join(dir, 'topic.json');
    const kind = topicMetaKind(this.#opts.maxPartitions ?? MAX_PARTITIONS);
    const stored = await readStateFile(metaPath, kind, this.#opts.io);
    if (stored) {
      if (stored.partitions !== settings.partitions) {
        this.#opts.logger.warn(
          { topic: name, stored: stored.partitions, configured: settings.partitions },
          'topic keeps its partition count from creation; changing it would reorder streams',
        );
      }
      settings.partitions = stored.partitions;
    } else {
      await writeStateFile(metaPath, kind, { partitions: settings.partitions, created: new Date().toISOString() }, this.#opts.io);
    }
    if (!(await this.#makeRoom(settings.partitions, name))) {
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `topic "${name}": ${this.budget.problem(this.#openPartitions, settings.partitions)}`);
    }
    this.#openPartitions += settings.partitions;
    const partitions: Partition[] = [];
    try {
      for (let i = 0; i < settings.partitions; i++) {
        partitions.push(
          await Partition.open({
            dir: join(dir, String(i)),
            topic: name,
            partition: i,
            segmentBytes: settings.segment_bytes,
            segmentMs: settings.segment_ms,
            fsync: this.#opts.fsync ?? true,
            logger: this.#opts.logger,
            io: this.#opts.io,
            snapshotIntervalMs: this.#opts.snapshotIntervalMs,
            events: this.#opts.events,
          }),
        );
      }
    } catch (err) {
      // A later attempt opens these directories again: never leave a second writer behind.
      await Promise.allSettled(partitions.map((p) => p.close()));
      this.#openPartitions -= settings.partitions;
      throw err;
    }
    const topic = { name, settings, partitions };
    this.#topics.set(name, topic);
    this.#stats.delete(name);
    if (!this.#lastUsed.has(name)) this.#lastUsed.set(name, Date.now());
    return topic;
  }

  /**
   * Deletes whole sealed segments older than `retention` or beyond
   * `retention_bytes`, per partition. Runs beside ingest: the log only drops
   * segments from the front and never waits for (or blocks) the writer.
   */
  async applyRetention(): Promise<RetentionReport> {
    let segmentsDeleted = 0;
    let bytesDeleted = 0;
    const partitions: RetentionReport['partitions'] = [];
    // Closed topics are opened for it (evicting idle ones), so retention holds for every topic on disk.
    for (const name of this.names()) {
      if (this.#closed) break;
      await this.withTopic(name, false, async (t) => {
        for (const p of t?.partitions ?? []) {
          const r = await p.log.applyRetention({ maxAgeMs: t!.settings.retention, maxBytes: t!.settings.retention_bytes });
          if (r.segmentsDeleted > 0) partitions.push({ topic: t!.name, partition: p.partition, first_offset: p.log.firstOffset, segments: r.segmentsDeleted });
          segmentsDeleted += r.segmentsDeleted;
          bytesDeleted += r.bytesDeleted;
        }
      }).catch((err: unknown) => this.#opts.logger.warn({ topic: name, err }, 'retention skipped a topic that could not be opened; it is tried again at the next run'));
    }
    return { segmentsDeleted, bytesDeleted, partitions };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#opening.values(), ...this.#closingTopics.values()]);
    for (const t of this.#topics.values()) await Promise.all(t.partitions.map((p) => p.close()));
    this.#topics.clear();
    this.#openPartitions = 0;
  }
}

function statsOf(t: Topic): PartitionStats[] {
  return t.partitions.map((p) => ({ partition: p.partition, first_offset: p.log.firstOffset, next_offset: p.log.nextOffset, bytes: p.log.sizeBytes }));
}
