/**
 * One topic-partition on JetStream: one stream (headers.ts has the message
 * format and the offset mapping).
 *
 * What this aggregator knows of the stream:
 *  - the tail (last sequence, next offset, running max timestamp), refreshed
 *    from the stream's info when a read, long-poll or listing needs it;
 *  - the producer state folded from the headers of every message up to
 *    #prodSeq (loaded from the KV snapshot, snapshot.ts, plus a scan of what
 *    came after it), brought up to the tail before any append.
 *
 * Appends are serialized per partition and optimistic: each message says
 * Nats-Expected-Last-Sequence = the sequence this aggregator believes is last,
 * and carries offsets computed from that belief. If another aggregator wrote
 * in between, JetStream refuses (err 10071); we scan what it wrote (folding
 * producer state: a batch it stored is now a duplicate here) and try again.
 * So two aggregators racing on one partition can never both store a batch,
 * at any distance in time, and the duplicate window (Nats-Msg-Id) only makes
 * quick retries cheap. A publish whose answer was lost (timeout) is resolved
 * the same way: scan, then decide.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamPublishOptions, StoredMsg } from 'nats';
import { LogshipError, OffsetOutOfRangeError } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/obs/logger.js';
import { decodeStoredMeta, encodeStoredMeta, type StoredMeta } from '../stored-meta.js';
import { applyProducer, type ProducerMap } from '../producer-state.js';
import type { IngestItem, IngestResult, PartitionHandle, PlainItem, StoredBatch } from '../types.js';
import { buildHeaders, parseHeaders, H_MSG_ID } from './headers.js';
import type { JsConnection } from './connection.js';
import type { ProducerSnapshot } from './snapshot.js';

const PLAIN_PRODUCER = '';
/** JetStream's "wrong last sequence" API error code. */
const WRONG_LAST_SEQ = 10071;
const NO_MESSAGE = 10037;
/** Messages fetched at once when scanning or reading. */
const FETCH_PARALLEL = 16;
/** offset -> sequence entries remembered (reads that continue where the last ended hit it). */
const INDEX_MAX = 4096;
const POLL_MS = 100;
const APPEND_ATTEMPTS = 6;

interface Entry {
  meta: StoredMeta;
  payload: Buffer;
  lines: number;
  timestamp: number;
  msgId: string;
}

export interface JsPartitionOptions {
  conn: JsConnection;
  topic: string;
  partition: number;
  stream: string;
  logger: Logger;
  /** An append was acknowledged by the stream's quorum after this long (the append-latency histogram). */
  onAppended?: (topic: string, seconds: number) => void;
}

export class JsPartition implements PartitionHandle {
  readonly topic: string;
  readonly partition: number;
  readonly stream: string;
  #conn: JsConnection;
  #logger: Logger;
  // tail
  #lastSeq = 0;
  #next = 0;
  #maxTs = Number.MIN_SAFE_INTEGER;
  // front
  #firstSeq = 1;
  #first = 0;
  #bytes = 0;
  #messages = 0;
  // producer state through #prodSeq
  #producers: ProducerMap = new Map();
  #prodSeq = 0;
  #prodNext = 0;
  #prodMaxTs = Number.MIN_SAFE_INTEGER;
  #dirtySince = 0;
  #serial: Promise<unknown> = Promise.resolve();
  #index = new Map<number, number>();
  #waiters = new Set<{ offset: number; done: (v: boolean) => void }>();
  #poll: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #closed = false;
  /** messages retention removed since the last report (applyRetention) */
  #reportedFirstSeq = 1;

  constructor(o: JsPartitionOptions) {
    this.topic = o.topic;
    this.partition = o.partition;
    this.stream = o.stream;
    this.#conn = o.conn;
    this.#logger = o.logger;
    this.#onAppended = o.onAppended;
  }

  #onAppended: ((topic: string, seconds: number) => void) | undefined;

  get firstOffset(): number {
    return this.#first;
  }
  get nextOffset(): number {
    return this.#next;
  }
  get bytes(): number {
    return this.#bytes;
  }

  /** Loads the tail and the producer state (snapshot + scan of the rest). */
  async open(snap: ProducerSnapshot | undefined): Promise<void> {
    await this.#refreshInfo();
    if (snap && snap.seq <= this.#lastSeq) {
      this.#producers = snap.producers;
      this.#prodSeq = snap.seq;
      this.#prodNext = snap.next;
      this.#prodMaxTs = snap.maxTs;
      if (snap.seq < this.#firstSeq - 1) this.#logger.warn({ stream: this.stream, snapshot_seq: snap.seq, first_seq: this.#firstSeq }, 'retention removed messages the producer snapshot does not cover; their producers may re-store a batch sent again');
    } else if (snap) {
      this.#logger.warn({ stream: this.stream, snapshot_seq: snap.seq, last_seq: this.#lastSeq }, 'producer snapshot is ahead of the stream (stream recreated?); rebuilding producer state from the stream');
    }
    if (this.#lastSeq > 0 && this.#messages === 0 && this.#prodSeq < this.#lastSeq) {
      this.#logger.error({ stream: this.stream, last_seq: this.#lastSeq }, 'every message aged out and no producer snapshot covers the tail: offsets continue from the snapshot');
    }
    await this.#catchUp();
    this.#reportedFirstSeq = this.#firstSeq;
  }

  /** Stats for listings and applyRetention. */
  get info(): { firstSeq: number; lastSeq: number; messages: number } {
    return { firstSeq: this.#firstSeq, lastSeq: this.#lastSeq, messages: this.#messages };
  }

  lastSeq(producer: string): number {
    return this.#producers.get(producer)?.seq ?? -1;
  }

  /** The producer state to snapshot, or undefined when nothing changed since the last one. */
  snapshotState(): ProducerSnapshot | undefined {
    if (this.#dirtySince === 0) return undefined;
    this.#dirtySince = 0;
    const producers: ProducerMap = new Map();
    for (const [k, v] of this.#producers) producers.set(k, { epoch: v.epoch, seq: v.seq });
    return { seq: this.#prodSeq, next: this.#prodNext, maxTs: this.#prodMaxTs, producers };
  }

  append(items: IngestItem[]): Promise<IngestResult[]> {
    return this.#serialize(async () => {
      const entries = items.map((it) => ({ ...it, msgId: `${it.meta.producer}:${it.meta.epoch}:${it.meta.seq}` }));
      return this.#timed(() => this.#appendLoop(entries, true));
    });
  }

  appendPlain(items: PlainItem[]): Promise<number[]> {
    if (items.length === 0) return Promise.resolve([]);
    return this.#serialize(async () => {
      const entries = items.map((it) => ({ ...it, meta: { ...it.meta, producer: PLAIN_PRODUCER, epoch: 0, seq: 0 }, msgId: `plain:${randomUUID()}` }));
      const r = await this.#timed(() => this.#appendLoop(entries, false));
      return r.map((x) => x.offset);
    });
  }

  async #timed<T>(fn: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    this.#onAppended?.(this.topic, Number(process.hrtime.bigint() - t0) / 1e9);
    return r;
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  async #appendLoop(entries: Entry[], idempotent: boolean): Promise<IngestResult[]> {
    if (this.#closed) throw new LogshipError('LSH_ERR_CLOSED', 'storage is closed');
    this.#conn.check();
    const results: Array<IngestResult | undefined> = new Array(entries.length);
    let pending = entries.map((_, i) => i);
    let lastErr: unknown;
    for (let attempt = 0; attempt < APPEND_ATTEMPTS && pending.length > 0; attempt++) {
      if (this.#prodSeq < this.#lastSeq) await this.#catchUp();
      // Decide against the producer state, claiming as we go (a batch re-sent within one call is a duplicate).
      const fresh: number[] = [];
      const claims: ProducerMap = new Map();
      for (const i of pending) {
        const e = entries[i]!;
        if (!idempotent) {
          fresh.push(i);
          continue;
        }
        const st = claims.get(e.meta.producer) ?? this.#producers.get(e.meta.producer);
        if (st && e.meta.epoch < st.epoch) {
          throw new LogshipError('LSH_ERR_SEQUENCE', `producer ${e.meta.producer} epoch ${e.meta.epoch} is stale: epoch ${st.epoch} has written since (another agent process with the same data dir?)`);
        }
        if (st && e.meta.seq <= st.seq) {
          if (e.meta.epoch > st.epoch) {
            // A newer incarnation re-sending only what is stored still fences the older one.
            applyProducer(this.#producers, e.meta.producer, e.meta.epoch, -1);
            this.#dirtySince ||= Date.now();
          }
          results[i] = { offset: -1, duplicate: true };
          continue;
        }
        claims.set(e.meta.producer, { epoch: e.meta.epoch, seq: e.meta.seq });
        fresh.push(i);
      }
      if (fresh.length === 0) {
        pending = [];
        break;
      }
      // Offsets follow the producer state's view of the tail (it has folded every message up to base).
      const base = this.#prodSeq;
      let offset = this.#prodNext;
      let maxTs = this.#prodMaxTs;
      const offsets: number[] = [];
      const publishing = fresh.map((i, j) => {
        const e = entries[i]!;
        maxTs = Math.max(maxTs, e.timestamp);
        const h = buildHeaders({ offset, count: e.lines, timestamp: e.timestamp, maxTs, meta: encodeStoredMeta(e.meta), msgId: e.msgId });
        offsets.push(offset);
        offset += e.lines;
        const opts: Partial<JetStreamPublishOptions> = { headers: h, msgID: e.msgId, expect: { lastSequence: base + j }, timeout: this.#conn.timeoutMs };
        return this.#conn.js.publish(this.stream, e.payload, opts);
      });
      const acks = await Promise.allSettled(publishing);
      let stop = false;
      for (let j = 0; j < fresh.length && !stop; j++) {
        const a = acks[j]!;
        const e = entries[fresh[j]!]!;
        if (a.status === 'fulfilled' && !a.value.duplicate && a.value.seq === base + j + 1 && this.#prodSeq === base + j) {
          this.#foldProducer(a.value.seq, offsets[j]!, e.lines, e.timestamp, e.meta);
          this.#foldTail(a.value.seq, offsets[j]!, e.lines, e.timestamp);
          this.#bytes += e.payload.length;
          this.#messages++;
          results[fresh[j]!] = { offset: offsets[j]!, duplicate: false };
          continue;
        }
        stop = true;
        if (a.status === 'rejected') {
          const err = a.reason as { api_error?: { err_code?: number } };
          if (err.api_error?.err_code !== WRONG_LAST_SEQ) lastErr = this.#conn.failure(a.reason, `append to ${this.stream}`);
        }
      }
      if (acks.some((a) => a.status === 'fulfilled')) this.#conn.succeeded();
      pending = pending.filter((i) => results[i] === undefined);
      if (pending.length === 0) break;
      // Someone else wrote, or an answer was lost: learn what the stream holds now, then decide again.
      const stored = new Map<string, number>();
      try {
        await this.#refreshInfo();
        await this.#catchUp(stored);
      } catch (err) {
        throw this.#conn.failure(err, `read back ${this.stream}`);
      }
      for (const i of pending) {
        const at = stored.get(entries[i]!.msgId);
        if (at !== undefined) results[i] = idempotent ? { offset: -1, duplicate: true } : { offset: at, duplicate: false };
      }
      pending = pending.filter((i) => results[i] === undefined);
      if (lastErr instanceof LogshipError && lastErr.code === 'LSH_ERR_UNAVAILABLE' && pending.length > 0) throw lastErr;
    }
    if (pending.length > 0) {
      if (lastErr) throw lastErr;
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `${this.stream}: appends kept racing with another writer; retry`);
    }
    this.#wake();
    return results as IngestResult[];
  }

  /** Moves the known tail forward to message `seq` (records at..at+count-1); never backwards. */
  #foldTail(seq: number, at: number, count: number, maxTs: number): void {
    this.#remember(at, seq);
    this.#remember(at + count, seq + 1);
    if (seq <= this.#lastSeq) return;
    this.#lastSeq = seq;
    this.#next = at + count;
    this.#maxTs = Math.max(this.#maxTs, maxTs);
  }

  /** Folds message `seq` into the producer state (called in sequence order only). */
  #foldProducer(seq: number, at: number, count: number, maxTs: number, meta: StoredMeta): void {
    this.#prodSeq = seq;
    this.#prodNext = at + count;
    this.#prodMaxTs = Math.max(this.#prodMaxTs, maxTs);
    if (meta.producer !== PLAIN_PRODUCER) {
      applyProducer(this.#producers, meta.producer, meta.epoch, meta.seq);
      this.#dirtySince ||= Date.now();
    }
  }

  #remember(offset: number, seq: number): void {
    if (this.#index.size >= INDEX_MAX) this.#index.delete(this.#index.keys().next().value!);
    this.#index.set(offset, seq);
  }

  /** Folds every message after #prodSeq up to the stream's last sequence; `stored` collects msg ids -> offsets. */
  async #catchUp(stored?: Map<string, number>): Promise<void> {
    const to = await this.#streamLastSeq();
    let from = Math.max(this.#prodSeq + 1, this.#firstSeq);
    while (from <= to) {
      const n = Math.min(FETCH_PARALLEL, to - from + 1);
      const msgs = await Promise.all(Array.from({ length: n }, (_, k) => this.#get(from + k)));
      for (const m of msgs) {
        if (!m) continue; // removed by retention while we scanned
        const h = parseHeaders(m.header, `stream ${this.stream} seq ${m.seq}`);
        if (this.#prodSeq === m.seq - 1 && this.#prodSeq > 0 && h.offset !== this.#prodNext) {
          this.#logger.error({ stream: this.stream, seq: m.seq, header_offset: h.offset, expected: this.#prodNext }, 'stored offsets are not dense: was the stream written by something other than logship?');
        }
        this.#foldProducer(m.seq, h.offset, h.count, h.maxTs, decodeStoredMeta(h.meta));
        this.#foldTail(m.seq, h.offset, h.count, h.maxTs);
        stored?.set(h.msgId, h.offset);
      }
      from += n;
    }
    if (to > this.#prodSeq) this.#prodSeq = to; // the tail was deleted under us; nothing left to fold
    if (this.#lastSeq < this.#prodSeq) {
      this.#lastSeq = this.#prodSeq;
      this.#next = this.#prodNext;
    }
  }

  async #streamLastSeq(): Promise<number> {
    const si = await this.#conn.jsm.streams.info(this.stream);
    this.#applyState(si.state);
    return si.state.last_seq;
  }

  #applyState(s: { first_seq: number; last_seq: number; bytes: number; messages: number }): void {
    this.#bytes = s.bytes;
    this.#messages = s.messages;
    this.#firstSeq = s.messages === 0 ? s.last_seq + 1 : s.first_seq;
  }

  /** The message, or undefined when there is none at `seq` (deleted by retention). */
  async #get(seq: number): Promise<StoredMsg | undefined> {
    try {
      return await this.#conn.jsm.streams.getMessage(this.stream, { seq });
    } catch (err) {
      if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === NO_MESSAGE || /no message found/i.test((err as Error).message)) return undefined;
      throw this.#conn.failure(err, `read ${this.stream}`);
    }
  }

  /** Stream info -> front, bytes; a tail moved by another aggregator is learned from its last message. */
  async #refreshInfo(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const si = await this.#conn.jsm.streams.info(this.stream);
        this.#applyState(si.state);
        if (si.state.last_seq > this.#lastSeq && si.state.messages > 0) {
          const m = await this.#get(si.state.last_seq);
          if (m) {
            const h = parseHeaders(m.header, `stream ${this.stream} seq ${m.seq}`);
            this.#foldTail(m.seq, h.offset, h.count, h.maxTs);
          }
        }
        if (this.#messages === 0) this.#first = this.#next;
        else {
          const cached = [...this.#index].find(([, s]) => s === this.#firstSeq);
          if (cached) this.#first = cached[0];
          else {
            const m = await this.#get(this.#firstSeq);
            if (m) {
              const h = parseHeaders(m.header, `stream ${this.stream} seq ${m.seq}`);
              this.#first = h.offset;
              this.#remember(h.offset, m.seq);
            }
          }
        }
        this.#conn.succeeded();
        this.#wake();
      } catch (err) {
        throw this.#conn.failure(err, `info of ${this.stream}`);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Refreshes the stream's state (another aggregator may have written or retention may have run). */
  refresh(): Promise<void> {
    return this.#refreshInfo();
  }

  /** Messages retention removed since the last call (whole messages: a batch is never split). */
  takeRetained(): { messages: number; bytes: number } {
    const gone = Math.max(0, this.#firstSeq - this.#reportedFirstSeq);
    this.#reportedFirstSeq = this.#firstSeq;
    const avg = this.#messages > 0 ? this.#bytes / this.#messages : 0;
    return { messages: gone, bytes: Math.round(gone * avg) };
  }

  async read(offset: number, maxBytes: number): Promise<StoredBatch[]> {
    if (offset < this.#first || offset >= this.#next) await this.#refreshInfo();
    if (offset < this.#first || offset > this.#next) throw new OffsetOutOfRangeError(offset, this.#first, this.#next);
    if (offset === this.#next) return [];
    let seq = await this.#seqFor(offset);
    const last = this.#lastSeq;
    const out: StoredBatch[] = [];
    let bytes = 0;
    while (seq <= last && (out.length === 0 || bytes < maxBytes)) {
      const avg = this.#messages > 0 ? Math.max(1, this.#bytes / this.#messages) : 1024;
      const n = Math.max(1, Math.min(FETCH_PARALLEL, last - seq + 1, Math.ceil((maxBytes - bytes) / avg)));
      const msgs = await Promise.all(Array.from({ length: n }, (_, k) => this.#get(seq + k)));
      for (const m of msgs) {
        if (!m) {
          if (out.length === 0) {
            await this.#refreshInfo();
            throw new OffsetOutOfRangeError(offset, this.#first, this.#next);
          }
          return out;
        }
        const h = parseHeaders(m.header, `stream ${this.stream} seq ${m.seq}`);
        const payload = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        if (out.length > 0 && bytes + payload.length > maxBytes) return out;
        out.push({ baseOffset: h.offset, count: h.count, timestamp: h.timestamp, meta: h.meta, payload });
        bytes += payload.length;
        this.#remember(h.offset + h.count, m.seq + 1);
      }
      seq += n;
    }
    return out;
  }

  /** The sequence of the message holding `offset` (first <= offset < next): the index, else a binary search over headers. */
  async #seqFor(offset: number): Promise<number> {
    const hit = this.#index.get(offset);
    if (hit !== undefined) return hit;
    let lo = this.#firstSeq;
    let hi = this.#lastSeq;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const m = await this.#get(mid);
      if (!m) {
        lo = mid; // deleted under us: everything below is gone too
        continue;
      }
      const h = parseHeaders(m.header, `stream ${this.stream} seq ${m.seq}`);
      if (h.offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async offsetForTimestamp(ts: number): Promise<number> {
    await this.#refreshInfo();
    if (this.#messages === 0 || this.#maxTs < ts) return this.#next;
    let lo = this.#firstSeq;
    let hi = this.#lastSeq;
    let off = this.#next;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await this.#get(mid);
      if (!m) {
        lo = mid + 1;
        continue;
      }
      const h = parseHeaders(m.header, `stream ${this.stream} seq ${m.seq}`);
      if (h.maxTs >= ts) {
        off = h.offset;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    return off;
  }

  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#next > offset) return Promise.resolve(true);
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        offset,
        done: (v: boolean) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.#waiters.delete(w);
          resolve(v);
        },
      };
      const onAbort = () => w.done(false);
      const timer = setTimeout(() => w.done(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(w);
      this.#startPoll();
    });
  }

  /** While someone long-polls, the stream's info is polled so appends through other aggregators wake them. */
  #startPoll(): void {
    if (this.#poll || this.#closed) return;
    const tick = () => {
      this.#poll = undefined;
      if (this.#waiters.size === 0 || this.#closed) return;
      this.#refreshInfo()
        .catch(() => undefined)
        .finally(() => {
          if (this.#waiters.size > 0 && !this.#closed) this.#poll = setTimeout(tick, POLL_MS);
        });
    };
    this.#poll = setTimeout(tick, POLL_MS);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) if (this.#next > w.offset) w.done(true);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#poll);
    for (const w of [...this.#waiters]) w.done(false);
    await this.#serial;
  }
}

export { H_MSG_ID };
