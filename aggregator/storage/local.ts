/**
 * Embedded storage: <data_dir>/topics/<topic>/<partition>/ segment logs.
 * <data_dir>/topics/<topic>/topic.json fixes the partition count at creation
 * (written atomically); a later config change of the count is logged, not
 * applied, because it would move streams between partitions and break order.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic, type FsSeam } from '../../lib/log/index.js';
import type { Logger } from '../../lib/obs/logger.js';
import { LogshipError } from '../../lib/errors.js';
import { Partition, type PartitionEvents } from './partition.js';
import { topicNameProblem } from '../topics/partitioner.js';
import { DescriptorBudget } from './descriptors.js';

export interface TopicSettings {
  partitions: number;
  retention: number;
  retention_bytes: number;
  segment_bytes: number;
  segment_ms: number;
}

export interface Topic {
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

/** topic.json is ours, but read as untrusted: a partition count out of range would open that many logs. */
function parseTopicMeta(data: Buffer, max: number): { partitions: number } | string {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const n = (v as { partitions?: unknown } | null)?.partitions;
  if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > max) return `partitions must be an integer from 1 to ${max}, got ${JSON.stringify(n)}`;
  return { partitions: n as number };
}

export class LocalStorage {
  #opts: LocalStorageOptions;
  #topics = new Map<string, Topic>();
  #opening = new Map<string, Promise<Topic>>();
  #dir: string;
  #openPartitions = 0;
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
   * Opens every topic found on disk (runs recovery for each partition). A
   * topic that cannot be opened (damaged topic.json, out of descriptors) is
   * logged and left closed: it never keeps the aggregator from starting.
   */
  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    for (const name of (await readdir(this.#dir)).sort()) {
      if (topicNameProblem(name)) continue;
      try {
        await this.topic(name, true);
      } catch (err) {
        this.#opts.logger.error({ topic: name, err }, 'cannot open a topic found on disk; it stays unavailable until this is fixed and the aggregator restarts');
      }
    }
  }

  /** Topics open or being created. */
  count(): number {
    return this.#topics.size + this.#opening.size;
  }

  get(name: string): Topic | undefined {
    return this.#topics.get(name);
  }

  list(): Topic[] {
    return [...this.#topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The topic, created on first use with the configured (or default) settings. */
  async topic(name: string, create: boolean): Promise<Topic | undefined> {
    const t = this.#topics.get(name);
    if (t) return t;
    if (!create) return undefined;
    const problem = topicNameProblem(name);
    if (problem) throw new LogshipError('LSH_ERR_BAD_REQUEST', problem);
    let p = this.#opening.get(name);
    if (!p) {
      p = this.#openTopic(name).finally(() => this.#opening.delete(name));
      this.#opening.set(name, p);
    }
    return p;
  }

  async #openTopic(name: string): Promise<Topic> {
    const dir = join(this.#dir, name);
    const settings = { ...this.#opts.settingsFor(name) };
    // Before anything is created: a refused topic leaves no directory behind.
    const early = this.budget.problem(this.#openPartitions, settings.partitions);
    if (early) throw new LogshipError('LSH_ERR_UNAVAILABLE', `topic "${name}": ${early}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const metaPath = join(dir, 'topic.json');
    const existing = await readFileIfExists(metaPath, this.#opts.io);
    if (existing) {
      const stored = parseTopicMeta(existing, this.#opts.maxPartitions ?? MAX_PARTITIONS);
      if (typeof stored === 'string') throw new LogshipError('LSH_ERR_CORRUPT', `${metaPath}: ${stored}`);
      if (stored.partitions !== settings.partitions) {
        this.#opts.logger.warn(
          { topic: name, stored: stored.partitions, configured: settings.partitions },
          'topic keeps its partition count from creation; changing it would reorder streams',
        );
      }
      settings.partitions = stored.partitions;
    } else {
      await writeFileAtomic(metaPath, JSON.stringify({ partitions: settings.partitions, created: new Date().toISOString() }), this.#opts.io);
    }
    const over = this.budget.problem(this.#openPartitions, settings.partitions);
    if (over) throw new LogshipError('LSH_ERR_UNAVAILABLE', `topic "${name}": ${over}`);
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
    return topic;
  }

  /**
   * Deletes whole sealed segments older than `retention` or beyond
   * `retention_bytes`, per partition. Runs beside ingest: the log only drops
   * segments from the front and never waits for (or blocks) the writer.
   */
  async applyRetention(): Promise<{ segmentsDeleted: number; bytesDeleted: number; partitions: Array<{ topic: string; partition: number; first_offset: number; segments: number }> }> {
    let segmentsDeleted = 0;
    let bytesDeleted = 0;
    const partitions: Array<{ topic: string; partition: number; first_offset: number; segments: number }> = [];
    for (const t of this.#topics.values()) {
      for (const p of t.partitions) {
        const r = await p.log.applyRetention({ maxAgeMs: t.settings.retention, maxBytes: t.settings.retention_bytes });
        if (r.segmentsDeleted > 0) partitions.push({ topic: t.name, partition: p.partition, first_offset: p.log.firstOffset, segments: r.segmentsDeleted });
        segmentsDeleted += r.segmentsDeleted;
        bytesDeleted += r.bytesDeleted;
      }
    }
    return { segmentsDeleted, bytesDeleted, partitions };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#opening.values()]);
    for (const t of this.#topics.values()) await Promise.all(t.partitions.map((p) => p.close()));
    this.#topics.clear();
    this.#openPartitions = 0;
  }
}
