/**
 * Sends the buffer to the aggregator, oldest first, one request in flight so
 * per-partition order and the producer sequence stay simple. Retries forever
 * with capped, jittered exponential backoff; fails over across
 * aggregator.urls in order and goes back to the first after a success.
 * A batch the aggregator rejects as malformed (400/413) is isolated, saved
 * under <data_dir>/rejected/ (payload plus a JSON description), counted and
 * logged at error, then skipped, so one bad batch never wedges a host. It is
 * never dropped unsaved: when saving fails it stays in the buffer and is
 * tried again. The URL that worked is kept until it fails (sticky failover).
 *
 * Payload memory: each read from the buffer hands the forwarder a reference on the batches' payloads
 * (agent/buffer/payload-slabs.ts). It gives them back after it is done with the batches (delivered,
 * set aside, dropped by drop_oldest, or at shutdown) and only when every request made with them has
 * closed: an answer can arrive before node wrote the whole body, and a failed request's socket may
 * still hold queued writes until it is closed. A request that never closes keeps its slab (never reused early).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StreamPoster } from './stream-post.js';
import { HttpPoster } from './http-post.js';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../lib/obs/logger.js';
import { BATCHES_CONTENT_TYPE, CODEC_ZSTD, encodeRequest, type WireBatch } from '../../lib/protocol/batches.js';
import type { BufferedBatch, DiskBuffer } from '../buffer/disk-buffer.js';
import { redactCredentials } from '../status/redact.js';
import { isoTime } from '../../lib/util/utc-time.js';

export interface ForwarderOptions {
  urls: string[];
  token?: string;
  tls?: { ca_file?: string; cert_file?: string; key_file?: string };
  requestTimeout: number;
  maxBackoff: number;
  maxRequestBytes: number;
  producer: string;
  epoch: number;
  host: string;
  buffer: DiskBuffer;
  dataDir: string;
  logger: Logger;
  onAcked: (next: number, batches: BufferedBatch[]) => Promise<void> | void;
  onRetry: (reason: string) => void;
  onRejected: (batches: number, lines: number) => void;
  /** bytes of the inputs' files not yet read into the buffer, reported to the aggregator (X-Logship-Agent-Status) */
  lagBytes?: () => number;
  /** 'post': POST /v1/batches only (aggregator.transport); the batch stream otherwise */
  transport?: 'stream' | 'post';
  /** how long a short request waits for the next appends in all (LINGER_MS unless set; tests widen it) */
  lingerMs?: number;
  /** how long it waits for each next append (LINGER_GAP_MS unless set; tests widen it) */
  lingerGapMs?: number;
}

const IDLE_WAIT_MS = 10_000;
/** lag_bytes walks every tailer: computed at most this often, not per request (a busy agent with many files sends many). */
const LAG_REFRESH_MS = 1_000;
/**
 * A request with less than MIN_FILL_BYTES of payload waits for the next appends before it goes,
 * up to LINGER_GAP_MS for each and LINGER_MS in all: while the pipeline streams (an append every
 * few ms), requests gather about a MiB or two of payload instead of one batch each; a lone append
 * (a slow writer, the live tail) waits LINGER_GAP_MS at most, as before. Every request costs the
 * agent's HTTP client and the aggregator a round trip, a request parse and a group-commit fsync:
 * with 2 MiB / 10 ms / 40 ms instead of 512 KiB / 10 ms, file-to-aggregator sent 74-118 requests
 * per GiB instead of 250-262, and agent + aggregator CPU, taken relative to the agent's zstd CPU
 * in the same run (the VM's speed varied by a third between runs), fell by 4-13 % (3 pairs, issue 17).
 */
const MIN_FILL_BYTES = 2 << 20;
const LINGER_MS = 40;
const LINGER_GAP_MS = 10;

class SendError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Forwarder {
  #o: ForwarderOptions;
  #http: StreamPoster | HttpPoster;
  #urlIndex = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #failures = 0;
  #wake: (() => void) | undefined;
  lastError: string | undefined;
  lastSuccess = 0;
  lastAttempt = 0;
  reachable: boolean | undefined;
  #lag = 0;
  #lagAt = -Infinity;

  constructor(o: ForwarderOptions) {
    this.#o = o;
    const tls = o.tls
      ? {
          ...(o.tls.ca_file ? { ca: readFileSync(o.tls.ca_file) } : {}),
          ...(o.tls.cert_file ? { cert: readFileSync(o.tls.cert_file) } : {}),
          ...(o.tls.key_file ? { key: readFileSync(o.tls.key_file) } : {}),
        }
      : undefined;
    this.#http =
      o.transport === 'post'
        ? new HttpPoster({ keepAliveMs: 30_000, tls })
        : new StreamPoster({
            keepAliveMs: 30_000,
            onFallback: (origin, why) =>
              o.logger.warn({ url: redactCredentials(origin), answer: redactCredentials(why) }, 'the aggregator does not take the batch stream (an older version, or a proxy without upgrades); sending POST /v1/batches, and trying the stream again in 10 minutes'),
            tls,
          });
  }

  get currentUrl(): string {
    return this.#o.urls[this.#urlIndex]!;
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const buf = this.#o.buffer;
    while (this.#running) {
      const from = buf.ackedOffset;
      if (from >= buf.log.nextOffset) {
        const idle = new AbortController();
        this.#wake = () => idle.abort();
        // An append wakes it at once; the timeout is only a safety net, long so an idle agent sleeps.
        await buf.log.waitForData(from, IDLE_WAIT_MS, idle.signal);
        this.#wake = undefined;
        continue;
      }
      let batches: BufferedBatch[];
      try {
        batches = await buf.read(from, this.#o.maxRequestBytes);
      } catch (err) {
        this.#o.logger.error({ err, offset: from }, 'cannot read the agent buffer; retrying');
        await this.#sleep(1_000);
        continue;
      }
      if (batches.length === 0) {
        await this.#sleep(100);
        continue;
      }
      // #fill never throws; it gives back the references of any list it replaces.
      if (this.#failures === 0) batches = await this.#fill(batches, from);
      // Every request made with these batches: their payloads go back to the buffer only once each
      // of them is closed (node can no longer write the bytes), never on the answer alone.
      const requests: Array<Promise<void>> = [];
      try {
        await this.#deliver(batches, requests);
      } finally {
        if (requests.length === 0) buf.release(batches);
        else void Promise.all(requests).then(() => buf.release(batches));
      }
    }
  }

  /**
   * A short request holding everything there is waits for the next appends: each at most
   * LINGER_GAP_MS after the one before, all of them within LINGER_MS.
   */
  async #fill(batches: BufferedBatch[], from: number): Promise<BufferedBatch[]> {
    const buf = this.#o.buffer;
    const until = performance.now() + (this.#o.lingerMs ?? LINGER_MS);
    const gap = this.#o.lingerGapMs ?? LINGER_GAP_MS;
    for (;;) {
      let bytes = 0;
      for (const b of batches) bytes += b.payload.length;
      const next = batches[batches.length - 1]!.offset + 1;
      const left = until - performance.now();
      if (bytes >= MIN_FILL_BYTES || bytes >= this.#o.maxRequestBytes || next < buf.log.nextOffset || left <= 0 || !this.#running) return batches;
      if (!(await buf.log.waitForData(next, Math.min(left, gap), this.#abort.signal))) return batches;
      // The log wakes waiters before the buffer has taken the new batches into its in-memory recent list.
      await new Promise((r) => setImmediate(r));
      try {
        const more = await buf.read(from, this.#o.maxRequestBytes);
        if (more.length <= batches.length || more[0]!.offset !== batches[0]!.offset) {
          buf.release(more);
          return batches;
        }
        // Nothing was sent with the shorter list: its references go back, `more` holds its own.
        buf.release(batches);
        batches = more;
      } catch {
        return batches;
      }
    }
  }

  /** @param requests collects every request made (see #run) */
  async #deliver(batches: BufferedBatch[], requests: Array<Promise<void>>): Promise<void> {
    while (this.#running) {
      try {
        await this.#send(batches, requests);
        await this.#acked(batches);
        return;
      } catch (err) {
        const status = err instanceof SendError ? err.status : 0;
        if ((status === 400 || status === 413) && this.#running) {
          if (batches.length === 1) return this.#reject(batches[0]!, (err as Error).message);
          for (const b of batches) {
            await this.#deliver([b], requests);
            // The cursor is "everything below next": never move on past a batch that is neither
            // delivered nor saved (acknowledging a later one would skip it). The loop reads it again.
            if (this.#o.buffer.ackedOffset <= b.offset) return;
          }
          return;
        }
        if (!this.#running) return;
        this.#failed(err as Error, status);
        await this.#sleep(this.#backoff());
        // drop_oldest may have dropped (and acknowledged past) what we hold: read again from the cursor.
        if (batches[0]!.offset < this.#o.buffer.ackedOffset) return;
      }
    }
  }

  /** Moves the cursor past `batches`; `delivered` are the ones the aggregator stored (a set-aside batch moves the cursor but is not counted as sent). */
  async #acked(batches: BufferedBatch[], delivered: BufferedBatch[] = batches): Promise<void> {
    const next = batches[batches.length - 1]!.offset + 1;
    if (this.#failures > 0) this.#o.logger.info({ url: redactCredentials(this.currentUrl), after_failures: this.#failures }, 'aggregator reachable again; draining the backlog');
    this.#failures = 0;
    this.reachable = true;
    this.lastError = undefined;
    this.lastSuccess = Date.now();
    // Moves the cursor in memory at once; ack.json is written behind (at most once a second), never
    // awaited here: a kill -9 before it only makes the next start re-send what the aggregator deduplicates.
    void this.#o.buffer.ack(next);
    await this.#o.onAcked(next, delivered);
  }

  async #send(batches: BufferedBatch[], requests: Array<Promise<void>>): Promise<void> {
    const wire: WireBatch[] = batches.map((b) => ({
      topic: b.meta.topic,
      source: b.meta.source,
      seq: b.offset,
      sourceOffset: b.meta.start,
      lines: b.meta.lines,
      timestamp: b.timestamp,
      codec: b.meta.codec,
      flags: b.meta.flags,
      rawLength: b.meta.rawLength,
      payload: b.payload,
      // computed once at buffer append for batches still in memory; encodeRequest computes the others'
      crc: b.crc,
    }));
    // Sent as its parts (the buffered payloads themselves), not joined into a request-sized copy.
    const body = encodeRequest({ producer: this.#o.producer, epoch: this.#o.epoch, host: this.#o.host, batches: wire });
    const url = new URL('/v1/batches', this.currentUrl);
    const buf = this.#o.buffer;
    this.lastAttempt = Date.now();
    const res = await this.#http.post(url, body, {
      timeoutMs: this.#o.requestTimeout,
      signal: this.#abort.signal,
      onRequest: (closed) => requests.push(closed),
      headers: {
        'content-type': BATCHES_CONTENT_TYPE,
        ...(this.#o.token ? { authorization: `Bearer ${this.#o.token}` } : {}),
        // What the aggregator's status page shows about this agent (GET /v1/agents).
        'x-logship-agent-status': `buffer_bytes=${buf.sizeBytes};buffer_max_bytes=${buf.maxBytes};unacked_batches=${buf.unackedBatches}${this.#o.lagBytes ? `;lag_bytes=${this.#lagBytes(this.#o.lagBytes)}` : ''}`,
      },
    });
    const text = res.text;
    if (res.status !== 200) {
      let reason = text.slice(0, 500);
      try {
        reason = (JSON.parse(text) as { error: { reason: string } }).error.reason;
      } catch {
        /* not JSON: keep the text */
      }
      throw new SendError(res.status, `HTTP ${res.status}: ${reason}`);
    }
  }

  #lagBytes(compute: () => number): number {
    const now = performance.now();
    if (now - this.#lagAt >= LAG_REFRESH_MS) {
      this.#lag = Math.max(0, Math.round(compute()));
      this.#lagAt = now;
    }
    return this.#lag;
  }

  #failed(err: Error, status: number): void {
    this.#failures++;
    this.reachable = status > 0 && status !== 503;
    this.lastError = `${this.currentUrl}: ${err.message}`;
    this.#o.onRetry(status ? String(status) : 'network');
    const msg = status === 401
      ? 'the aggregator refuses our token: check aggregator.token / token_file against the aggregator auth.tokens'
      : status === 403
        ? 'the aggregator does not allow this write (the token lacks the ingest scope or the topic, or the aggregator refuses a new topic: limits.auto_create_topics / max_topics); the error says which. Data stays in the buffer and is retried'
        : status === 409
        ? 'the aggregator fenced this producer: another agent process uses the same data_dir'
        : 'delivery failed; data stays in the buffer and is retried';
    const level = status === 401 || status === 403 || status === 409 || this.#failures % 20 === 1 ? 'error' : 'warn';
    this.#o.logger[level]({ url: redactCredentials(this.currentUrl), attempt: this.#failures, err: redactCredentials(err.message) }, msg);
    // Fail over to the next URL; after a full round, start again from the first.
    if (this.#o.urls.length > 1) this.#urlIndex = (this.#urlIndex + 1) % this.#o.urls.length;
  }

  #backoff(): number {
    const base = Math.min(this.#o.maxBackoff, 100 * 2 ** Math.min(this.#failures - 1, 16));
    return base / 2 + Math.random() * (base / 2);
  }

  async #reject(b: BufferedBatch, reason: string): Promise<void> {
    const dir = join(this.#o.dataDir, 'rejected');
    const file = join(dir, `${b.offset}.${b.meta.codec === CODEC_ZSTD ? 'zst' : 'bin'}`);
    const about = {
      offset: b.offset,
      reason,
      payload_file: file,
      topic: b.meta.topic,
      source: b.meta.source,
      source_start: b.meta.start,
      source_end: b.meta.end,
      lines: b.meta.lines,
      codec: b.meta.codec === CODEC_ZSTD ? 'zstd' : 'none',
      flags: b.meta.flags,
      raw_length: b.meta.rawLength,
      timestamp: isoTime(b.timestamp),
    };
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(file, b.payload);
      await writeFile(join(dir, `${b.offset}.json`), JSON.stringify(about, null, 2) + '\n');
    } catch (err) {
      // Not saved, so not skipped: it stays unacknowledged and is sent (and refused, and saved) again.
      this.#failures++;
      this.#o.onRetry('reject_unsaved');
      this.#o.logger.error(
        { err, offset: b.offset, source: b.meta.source, lines: b.meta.lines, save_to: file, reason },
        'the aggregator rejected a batch as malformed and saving it under data_dir/rejected failed; it stays in the buffer and is tried again (free space or fix permissions there)',
      );
      await this.#sleep(this.#backoff());
      return;
    }
    this.#o.logger.error(
      { offset: b.offset, source: b.meta.source, lines: b.meta.lines, saved_to: file, reason },
      'the aggregator rejected a batch as malformed; it was saved and skipped. Inspect it and report a bug',
    );
    this.#o.onRejected(1, b.meta.lines);
    await this.#acked([b], []);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Stops after the request in flight (bounded by timeoutMs); unacknowledged data stays buffered. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.#running = false;
    // A request in flight may finish (its ack saves a re-send); past timeoutMs it is aborted.
    const t = setTimeout(() => this.#abort.abort(), timeoutMs);
    this.#wake?.();
    await this.#loop?.catch(() => undefined);
    clearTimeout(t);
    this.#http.close();
  }
}
