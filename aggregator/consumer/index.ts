/**
 * A Consumer reads one topic for one consumer group (or none), every
 * partition concurrently with order kept within each:
 *
 *   committed offset (or the start position) -> clamp to first_offset ->
 *   fetch -> decode -> deliver -> commit -> repeat
 *
 * (with a sink's own decode, the next fetch + decode is read ahead during
 * deliver; deliveries and commits stay one at a time, in order)
 *
 * The cursor is committed only after deliver() resolves, so a crash between
 * the two delivers again (at least once; sinks make it exactly once with
 * deterministic ids). When retention deleted what the cursor points at, the
 * consumer says so (onGap) and continues at the new first offset. Failures
 * are retried with capped exponential backoff (retry: false: the first one
 * ends run() with that error, which `logship read` wants). stop() ends every
 * loop, long-polls included. The transport decides where the log is: in
 * process (sinks) or over HTTP (`logship read`).
 */
import { LogshipError } from '../../lib/errors.js';
import type { BatchDecoder, StoredRecord } from '../storage/record-decoder.js';
import type { ConsumerTransport, FetchFrom, FetchResult, PartitionRange } from './transport.js';

export type { ConsumerTransport } from './transport.js';

export type StartAt = 'beginning' | 'end' | { offset: number } | { since: string };

export interface Delivery {
  topic: string;
  partition: number;
  /** empty when `decoded` is set */
  records: StoredRecord[];
  /** what ConsumerOptions.decode made of the stored batches, instead of records (in-process transports only) */
  decoded?: unknown;
}

export interface ConsumerOptions {
  transport: ConsumerTransport;
  topic: string;
  /** Commits after each delivery and resumes from the committed offsets; none: nothing is committed. */
  group?: string;
  /** Only these partitions; default all. */
  partitions?: number[];
  /** Where a partition without a committed offset starts; default 'beginning'. */
  startAt?: StartAt;
  /** Keep waiting for new records (long-poll); false: stop at the end of the log as of start. */
  follow: boolean;
  /**
   * Takes the records (in offset order within the partition). Resolving with
   * a number n < records.length: only the first n were taken; the cursor
   * stops before record n and the partition's loop ends.
   */
  deliver: (d: Delivery) => Promise<number | void>;
  /**
   * The sink's own decoding of stored batches (e.g. straight into request
   * bodies on the payload workers): deliver() then gets `decoded` instead of
   * records, and must take all of them (resolve with nothing). Transports
   * that cannot (HTTP) deliver records as usual.
   */
  decode?: BatchDecoder;
  /** Retention deleted offsets `from..to-1` before they were read; the consumer goes on at `to`. */
  onGap?: (partition: number, from: number, to: number) => void;
  /** A failure about to be retried after `delayMs`. */
  onRetry?: (err: unknown, delayMs: number) => void;
  /** Retry failures with backoff (default true); false: run() rejects with the first failure. */
  retry?: boolean;
  maxBytes?: number;
  /** Long-poll wait per fetch when following; default 10 s. */
  waitMs?: number;
  /** Backoff bounds; default 100 ms .. 30 s. */
  backoffMs?: { min: number; max: number };
  signal?: AbortSignal;
  /** How often to look again for a topic that does not exist yet (when retrying); default 1 s. */
  topicPollMs?: number;
}

export class Consumer {
  #o: ConsumerOptions;
  #ac = new AbortController();
  #run: Promise<void> | undefined;
  /** partition -> [cursor, next_offset last seen] */
  #pos = new Map<number, { cursor: number; end: number }>();

  constructor(opts: ConsumerOptions) {
    this.#o = opts;
    opts.signal?.addEventListener('abort', () => this.#ac.abort(), { once: true });
    if (opts.signal?.aborted) this.#ac.abort();
  }

  get stopped(): boolean {
    return this.#ac.signal.aborted;
  }

  /** Records between each partition's cursor and its next_offset as of the last fetch (0 where caught up). */
  lag(): Map<number, number> {
    return new Map([...this.#pos].map(([p, x]) => [p, Math.max(0, x.end - x.cursor)]));
  }

  /** Resolves when every partition's loop ended (end of log without follow, stop(), or a delivery that took fewer records). */
  run(): Promise<void> {
    this.#run ??= this.#start();
    return this.#run;
  }

  /** Ends every loop (a long-poll in flight is aborted; a delivery in flight is still committed); idempotent. */
  async stop(): Promise<void> {
    this.abort();
    await this.#run?.catch(() => undefined);
  }

  /** stop() without waiting: for deliver() itself (e.g. `read --max` reached). */
  abort(): void {
    this.#ac.abort();
  }

  async #start(): Promise<void> {
    const o = this.#o;
    let all: PartitionRange[] | undefined;
    for (;;) {
      const found = await this.#withRetry(async () => ({ all: await o.transport.partitions(o.topic) }));
      if (!found) return; // stopped
      all = found.all;
      if (all) break;
      // A topic that does not exist yet: fail fast, or (sinks) wait for its first record to create it.
      if (o.retry === false) throw new LogshipError('LSH_ERR_NOT_FOUND', `no topic "${o.topic}"`);
      await this.#sleep(o.topicPollMs ?? 1_000);
    }
    const parts = o.partitions ? all.filter((p) => o.partitions!.includes(p.partition)) : all;
    const committed = o.group ? await this.#withRetry(() => o.transport.committed(o.group!, o.topic)) : new Map<number, number>();
    if (committed === undefined) return;
    await Promise.all(parts.map((p) => this.#loop(p, committed.get(p.partition))));
  }

  #first(p: PartitionRange, committed: number | undefined): FetchFrom {
    // A committed offset that retention has since deleted resumes at the first stored record.
    if (committed !== undefined) return Math.max(committed, p.first_offset);
    const s = this.#o.startAt ?? 'beginning';
    if (s === 'beginning') return p.first_offset;
    if (s === 'end') return p.next_offset;
    if ('offset' in s) return Math.max(s.offset, p.first_offset);
    return { since: s.since };
  }

  async #loop(p: PartitionRange, committed: number | undefined): Promise<void> {
    const o = this.#o;
    const signal = this.#ac.signal;
    const end = p.next_offset;
    let from = this.#first(p, committed);
    const pos = { cursor: typeof from === 'number' ? from : p.first_offset, end };
    this.#pos.set(p.partition, pos);
    let failures = 0;
    const fetch = (at: FetchFrom): Promise<FetchResult> =>
      o.transport.fetch(o.topic, p.partition, at, { maxBytes: o.maxBytes ?? 1 << 20, waitMs: o.follow ? (o.waitMs ?? 10_000) : 0, signal, decode: o.decode });
    // With a sink's own decoding (request bodies built on the payload workers), the next
    // fetch and decode run while this one is delivered, so the workers are not idle while
    // the sink waits for its answer. Only reading goes ahead: deliveries and commits stay
    // one at a time, in offset order; a read-ahead for any other offset is dropped.
    let ahead: { at: number; result: Promise<FetchResult> } | undefined;
    while (!signal.aborted) {
      try {
        const a = ahead;
        ahead = undefined;
        const r = a !== undefined && a.at === from ? await a.result : await fetch(from);
        if (signal.aborted) return;
        let upTo = r.next;
        let last = false;
        const count = r.decoded ? r.decoded.count : r.records.length;
        if (r.decoded !== undefined && count > 0 && (o.follow || r.next < end)) {
          const result = fetch(r.next);
          result.catch(() => undefined); // awaited (and its failure handled) only if used
          ahead = { at: r.next, result };
        }
        if (count > 0) {
          const taken = await o.deliver(r.decoded ? { topic: o.topic, partition: p.partition, records: r.records, decoded: r.decoded.value } : { topic: o.topic, partition: p.partition, records: r.records });
          if (typeof taken === 'number' && taken < r.records.length) {
            upTo = r.records[taken]!.offset;
            last = true;
          }
        }
        const moved = typeof from !== 'number' || upTo !== from;
        if (o.group && moved) await o.transport.commit(o.group, o.topic, p.partition, upTo);
        from = upTo;
        pos.cursor = upTo;
        pos.end = Math.max(r.highWatermark, upTo);
        failures = 0;
        if (last) return;
        // No records but progress: stored batches that could not be used were stepped over; read on.
        if (!o.follow && ((count === 0 && !moved) || r.next >= end)) return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof LogshipError && err.code === 'LSH_ERR_OFFSET_OUT_OF_RANGE' && typeof from === 'number') {
          // Retention deleted what we were about to read (we fell behind it): go on at the new start, and say so.
          const now = (await o.transport.partitions(o.topic).catch(() => undefined))?.find((x) => x.partition === p.partition);
          if (now && now.first_offset > from) {
            o.onGap?.(p.partition, from, now.first_offset);
            from = now.first_offset;
            continue;
          }
        }
        if (o.retry === false) throw err;
        await this.#backoff(err, ++failures);
      }
    }
  }

  /** Runs fn until it succeeds; undefined once stopped. */
  async #withRetry<T>(fn: () => Promise<T>): Promise<T | undefined> {
    for (let failures = 1; !this.#ac.signal.aborted; failures++) {
      try {
        return await fn();
      } catch (err) {
        if (this.#o.retry === false || this.#ac.signal.aborted) throw err;
        await this.#backoff(err, failures);
      }
    }
    return undefined;
  }

  async #backoff(err: unknown, failures: number): Promise<void> {
    const { min, max } = this.#o.backoffMs ?? { min: 100, max: 30_000 };
    const delay = Math.min(max, min * 2 ** Math.min(failures - 1, 20));
    this.#o.onRetry?.(err, delay);
    await this.#sleep(delay);
  }

  /** Sleeps, or less when stopped. */
  #sleep(delay: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, delay);
      const signal = this.#ac.signal;
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
