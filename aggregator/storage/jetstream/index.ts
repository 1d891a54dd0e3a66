/**
 * Storage on a NATS JetStream cluster (`storage: {type: jetstream}`): every
 * aggregator pointed at the same servers and stream_prefix sees the same
 * topics, offsets, producer state and consumer-group offsets, so aggregators
 * are interchangeable behind the agents' `urls`.
 *
 * Layout in JetStream (names from `stream_prefix`, default "logship"):
 *   stream <prefix>_<topic token>_P<n>   one per topic-partition (headers.ts)
 *   KV <prefix>-topics                   key = topic token, value {"version":1,"partitions":N}:
 *                                        fixes the partition count at creation (kv create is atomic)
 *   KV <prefix>-producers                producer snapshots per stream (snapshot.ts)
 *   KV <prefix>-groups                   consumer-group offsets (groups.ts)
 *   KV <prefix>-health                   one key every aggregator writes each second: the heartbeat
 *
 * Retention: `retention` is the stream's max_age and `retention_bytes` its
 * max_bytes, enforced by JetStream itself; applyRetention() only reports what
 * it removed (whole messages, so never part of a batch).
 */
import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type KV, type StreamConfig } from 'nats';
import { LogshipError } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/obs/logger.js';
import { topicNameProblem } from '../../../lib/config/names.js';
import type { PartitionStats, RetentionReport, Storage, TopicHandle, TopicSettings } from '../types.js';
import type { JetStreamStorageConfig } from './config.js';
import { HEARTBEAT_TIMEOUT_MS, JsConnection } from './connection.js';
import { streamName, tokenTopic, topicToken } from './headers.js';
import { JsPartition } from './partition.js';
import { encodeSnapshot, readSnapshot } from './snapshot.js';

export type { JetStreamStorageConfig } from './config.js';

export interface JsTopic extends TopicHandle {
  partitions: JsPartition[];
}

export interface JetStreamStorageOptions {
  config: JetStreamStorageConfig;
  settingsFor: (topic: string) => TopicSettings;
  logger: Logger;
  /** Largest partition count a stored topic may claim. */
  maxPartitions?: number;
  /** Producer snapshot interval while the state changes (default 10 s; also at close). */
  snapshotIntervalMs?: number;
  /** An append was acknowledged by the quorum after this long (seconds): the append-latency histogram. */
  onAppended?: (topic: string, seconds: number) => void;
  /** Called when `available` changes (readiness). */
  onAvailability?: () => void;
}

/** The largest max_bytes we give JetStream: it reserves max_bytes per stream against the servers' store. */
const UNLIMITED_BYTES = 2 ** 40;
const REFRESH_MS = 1000;
/** Listings share one refresh this young. */
const STATS_MS = 200;

export class JetStreamStorage implements Storage {
  #o: JetStreamStorageOptions;
  #cfg: JetStreamStorageConfig;
  #conn: JsConnection | undefined;
  #topicsKv!: KV;
  #producersKv!: KV;
  #groupsKv!: KV;
  #known = new Set<string>();
  #topics = new Map<string, JsTopic>();
  #opening = new Map<string, Promise<JsTopic>>();
  #refreshedAt = new Map<string, number>();
  #snapTimer: NodeJS.Timeout | undefined;
  #statsAt = 0;
  #statsRun: Promise<void> | undefined;
  #closed = false;

  constructor(o: JetStreamStorageOptions) {
    this.#o = o;
    this.#cfg = o.config;
  }

  get connection(): JsConnection {
    if (!this.#conn) throw new LogshipError('LSH_ERR_UNAVAILABLE', 'JetStream storage is not open');
    return this.#conn;
  }

  /** The consumer-group offsets bucket (groups.ts). */
  get groupsKv(): KV {
    return this.#groupsKv;
  }

  /** Whether JetStream can take appends now (readiness). */
  get available(): boolean {
    return this.#conn?.available ?? false;
  }

  get problem(): string | undefined {
    return this.#conn ? this.#conn.problem : 'not connected';
  }

  async open(): Promise<void> {
    this.#conn = await JsConnection.open(this.#cfg, this.#o.logger, () => this.#o.onAvailability?.());
    const p = this.#cfg.stream_prefix;
    try {
      // No direct get: a follower could answer a read with a value older than our own last write.
      const kvOpts = { replicas: this.#cfg.replicas, storage: StorageType.File, history: 1, timeout: this.#cfg.request_timeout, allow_direct: false };
      const js = this.#conn.js;
      this.#topicsKv = await js.views.kv(`${p}-topics`, kvOpts);
      this.#producersKv = await js.views.kv(`${p}-producers`, kvOpts);
      this.#groupsKv = await js.views.kv(`${p}-groups`, kvOpts);
      // Availability is checked by a write that needs a quorum: one key, history 1, so it stays tiny.
      const health = await js.views.kv(`${p}-health`, kvOpts);
      const conn = this.#conn;
      conn.setHeartbeat(() => conn.js.publish(`$KV.${p}-health.beat`, Buffer.from(String(Date.now())), { timeout: HEARTBEAT_TIMEOUT_MS }));
      void health;
      await this.#learnTopics();
    } catch (err) {
      await this.#conn.close();
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `storage.jetstream: cannot open the logship buckets: ${(err as Error).message}`, { cause: err });
    }
    this.#snapTimer = setInterval(() => void this.#snapshotAll(), this.#o.snapshotIntervalMs ?? 10_000);
    this.#snapTimer.unref();
  }

  async #learnTopics(): Promise<void> {
    for await (const k of await this.#topicsKv.keys()) {
      const name = tokenTopic(k);
      if (!topicNameProblem(name)) this.#known.add(name);
    }
  }

  count(): number {
    return this.#known.size;
  }
  has(name: string): boolean {
    return this.#known.has(name);
  }
  names(): string[] {
    return [...this.#known].sort((a, b) => a.localeCompare(b));
  }
  get(name: string): JsTopic | undefined {
    return this.#topics.get(name);
  }
  list(): JsTopic[] {
    return [...this.#topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
  stats(name: string): PartitionStats[] | undefined {
    const t = this.#topics.get(name);
    return t?.partitions.map((p) => ({ partition: p.partition, first_offset: p.firstOffset, next_offset: p.nextOffset, bytes: p.bytes }));
  }

  async acquire(name: string, create: boolean): Promise<JsTopic | undefined> {
    const problem = topicNameProblem(name);
    if (problem) throw new LogshipError('LSH_ERR_BAD_REQUEST', problem);
    const open = this.#topics.get(name);
    if (open) {
      // Offsets may have moved through another aggregator: refresh now and then (not on every request).
      if (Date.now() - (this.#refreshedAt.get(name) ?? 0) > REFRESH_MS) {
        this.#refreshedAt.set(name, Date.now());
        await Promise.all(open.partitions.map((p) => p.refresh().catch(() => undefined)));
      }
      return open;
    }
    let p = this.#opening.get(name);
    if (!p) {
      p = this.#openTopic(name, create).finally(() => this.#opening.delete(name));
      this.#opening.set(name, p);
    }
    const t = await p.catch((err: unknown) => {
      if (err instanceof NotStored) return undefined;
      throw err;
    });
    return t;
  }

  release(_name: string): void {
    // Topics stay open: a JetStream partition holds no descriptors, only a little memory.
  }

  async withTopic<T>(name: string, create: boolean, fn: (t: JsTopic | undefined) => Promise<T> | T): Promise<T> {
    const t = await this.acquire(name, create);
    try {
      return await fn(t);
    } finally {
      if (t) this.release(name);
    }
  }

  async #openTopic(name: string, create: boolean): Promise<JsTopic> {
    if (this.#closed) throw new LogshipError('LSH_ERR_CLOSED', 'storage is closed');
    const conn = this.connection;
    conn.check();
    const key = topicToken(name);
    const settings = { ...this.#o.settingsFor(name) };
    const max = this.#o.maxPartitions ?? 1024;
    let partitions: number;
    try {
      let e = await this.#topicsKv.get(key);
      if (!e || e.operation !== 'PUT') {
        if (!create) throw new NotStored();
        const value = Buffer.from(JSON.stringify({ version: 1, partitions: settings.partitions, created: new Date().toISOString() }));
        try {
          await this.#topicsKv.create(key, value);
          e = null;
          partitions = settings.partitions;
        } catch (err) {
          // Another aggregator created it first: take its partition count.
          if (!/wrong last sequence|exists/i.test((err as Error).message)) throw err;
          e = await this.#topicsKv.get(key);
          partitions = parsePartitions(e?.value, max, name);
        }
      } else partitions = parsePartitions(e.value, max, name);
    } catch (err) {
      if (err instanceof NotStored || err instanceof LogshipError) throw err;
      throw conn.failure(err, `topic ${name}`);
    }
    if (partitions !== settings.partitions) {
      this.#o.logger.warn({ topic: name, stored: partitions, configured: settings.partitions }, 'topic keeps its partition count from creation; changing it would reorder streams');
      settings.partitions = partitions;
    }
    this.#known.add(name);
    const parts: JsPartition[] = [];
    for (let i = 0; i < partitions; i++) {
      const stream = streamName(this.#cfg.stream_prefix, name, i);
      try {
        await this.#ensureStream(stream, settings);
        const p = new JsPartition({ conn, topic: name, partition: i, stream, logger: this.#o.logger, ...(this.#o.onAppended ? { onAppended: this.#o.onAppended } : {}) });
        await p.open(await readSnapshot(this.#producersKv, stream, this.#o.logger));
        parts.push(p);
      } catch (err) {
        await Promise.allSettled(parts.map((x) => x.close()));
        throw conn.failure(err, `open ${stream}`);
      }
    }
    const topic: JsTopic = { name, settings, partitions: parts };
    this.#topics.set(name, topic);
    this.#refreshedAt.set(name, Date.now());
    return topic;
  }

  async #ensureStream(name: string, s: TopicSettings): Promise<void> {
    const cfg: Partial<StreamConfig> = {
      name,
      subjects: [name],
      storage: StorageType.File,
      num_replicas: this.#cfg.replicas,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(s.retention),
      max_bytes: s.retention_bytes >= UNLIMITED_BYTES ? -1 : s.retention_bytes,
      duplicate_window: nanos(Math.min(this.#cfg.duplicate_window, s.retention)),
    };
    try {
      await this.connection.jsm.streams.info(name);
      return;
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
    }
    try {
      await this.connection.jsm.streams.add(cfg);
    } catch (err) {
      const msg = (err as Error).message;
      // Created by another aggregator in the meantime.
      if (/already in use|exists/i.test(msg)) return;
      if (/insufficient|no suitable peers/i.test(msg)) {
        throw new LogshipError(
          'LSH_ERR_UNAVAILABLE',
          `cannot create stream ${name} (${this.#cfg.replicas} replicas, max_bytes ${cfg.max_bytes}): ${msg}. JetStream reserves max_bytes (the topic's retention_bytes) on each replica for every partition: lower retention_bytes, or give the servers more jetstream max_file_store, or fewer replicas than nodes are missing`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Learns topics other aggregators created and refreshes the offsets of open topics (at most every STATS_MS). */
  refreshStats(): Promise<void> {
    if (Date.now() - this.#statsAt < STATS_MS && this.#statsRun) return this.#statsRun;
    this.#statsAt = Date.now();
    this.#statsRun = (async () => {
      if (!this.#conn?.available) return;
      await this.#learnTopics();
      await Promise.all(this.list().flatMap((t) => t.partitions.map((p) => p.refresh().catch(() => undefined))));
    })();
    return this.#statsRun;
  }

  async applyRetention(): Promise<RetentionReport> {
    let segmentsDeleted = 0;
    let bytesDeleted = 0;
    const partitions: RetentionReport['partitions'] = [];
    if (this.#conn && !this.#conn.available) return { segmentsDeleted, bytesDeleted, partitions };
    await this.#learnTopics().catch(() => undefined);
    for (const t of this.list()) {
      for (const p of t.partitions) {
        try {
          await p.refresh();
        } catch (err) {
          this.#o.logger.warn({ topic: t.name, partition: p.partition, err }, 'retention report skipped a partition that could not be read');
          continue;
        }
        const r = p.takeRetained();
        if (r.messages > 0) partitions.push({ topic: t.name, partition: p.partition, first_offset: p.firstOffset, segments: r.messages });
        segmentsDeleted += r.messages;
        bytesDeleted += r.bytes;
      }
    }
    return { segmentsDeleted, bytesDeleted, partitions };
  }

  async #snapshotAll(): Promise<void> {
    if (!this.#conn?.available) return;
    for (const t of this.#topics.values()) {
      for (const p of t.partitions) {
        const s = p.snapshotState();
        if (!s) continue;
        await this.#producersKv.put(p.stream, encodeSnapshot(s)).catch((err: unknown) => {
          this.#o.logger.warn({ stream: p.stream, err: (err as Error).message }, 'could not write the producer snapshot; the next open scans more of the stream');
        });
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#snapTimer);
    await Promise.allSettled([...this.#opening.values()]);
    for (const t of this.#topics.values()) await Promise.all(t.partitions.map((p) => p.close()));
    await this.#snapshotAll().catch(() => undefined);
    this.#topics.clear();
    await this.#conn?.close();
  }
}

class NotStored extends Error {}

function parsePartitions(v: Uint8Array | undefined, max: number, topic: string): number {
  let n: unknown;
  try {
    n = (JSON.parse(Buffer.from(v ?? []).toString('utf8')) as { partitions?: unknown }).partitions;
  } catch {
    n = undefined;
  }
  if (!Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > max) {
    throw new LogshipError('LSH_ERR_CORRUPT', `topic "${topic}": its entry in the topics bucket does not hold a partition count from 1 to ${max}; fix or delete the key`);
  }
  return n as number;
}
