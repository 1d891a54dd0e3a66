/**
 * The forwarder's requests over the aggregator's batch stream (aggregator/server/batch-stream.ts):
 * one connection upgraded from HTTP once (`GET /v1/batches`, `Upgrade: logship-batches/1`, the
 * token), then each request is a frame and each answer a frame, one at a time. The aggregator then
 * spends no node:http parsing and request objects per request: with 10,000 agents each sending a
 * small batch a second, that took it from ~110 to ~85 us of CPU a request and from a congested
 * steady state (ack p99 ~1.7 s) to a flowing one (issue 17, fleet-fan-in).
 *
 * Answers are what POST /v1/batches answers (status and JSON), so the forwarder cannot tell the two
 * apart. An aggregator (or a proxy in front of it) that does not take the upgrade answers the
 * handshake with an ordinary HTTP status (an older aggregator: 400 for GET /v1/batches); then
 * requests to that origin go as POSTs (HttpPoster) for FALLBACK_MS before the stream is tried again.
 * A refusal that POST would get too (401, 403, 429, 503, 507) is that request's answer.
 *
 * A request that fails on a stream opened for an earlier request (the aggregator closed it while
 * idle, or restarted) is tried once more on a new one, as HttpPoster does for a kept-alive socket:
 * the aggregator deduplicates by producer and sequence, so a repeated frame never stores anything
 * twice.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { BATCH_STREAM_PROTOCOL } from '../../lib/protocol/batches.js';
import { HttpPoster, keepAnswer, loadHttps, MAX_ANSWER_BYTES, RETRYABLE, type PostAnswer, type PostOptions } from './http-post.js';

/** After a handshake the aggregator did not take, POSTs for this long before the stream is tried again. */
export const FALLBACK_MS = 10 * 60_000;
/**
 * Handshake answers that are this request's answer: refusals POST /v1/batches would get too (the
 * token, the aggregator not ready, a full disk). Any other answer that is not the upgrade, a 2xx
 * above all (a server that took the GET for something else), means "no batch stream here": the
 * request goes as a POST, never counted as delivered on the handshake's word.
 */
const REFUSALS = new Set([401, 403, 429, 503, 507]);
/**
 * The longest answer frame taken: acks run ~70 bytes a batch, and a request of tiny batches may hold
 * tens of thousands; a longer length means the stream is not what we think.
 */
const MAX_ANSWER_FRAME = 64 << 20;
/** The agent status is carried in a u16-sized field (the aggregator takes at most 4 KiB). */
const MAX_STATUS_BYTES = 4096;

/** What opening a stream gave: the stream, the refusal that is the request's answer, or "use POST". */
const FALLBACK = Symbol('fallback');
type Opened = BatchStream | PostAnswer | typeof FALLBACK;

interface Waiter {
  resolve: (a: PostAnswer) => void;
  reject: (e: Error) => void;
}

/** One upgraded connection: frames out, answer frames in, one request at a time. */
class BatchStream {
  /** the answer frame's length and status field, as they arrive */
  #hdr = Buffer.alloc(6);
  #hdrHave = 0;
  /** bytes of the current answer's JSON still to come; -1 between answers */
  #left = -1;
  #status = 0;
  #kept: Buffer[] = [];
  #keptLen = 0;
  #waiter: Waiter | undefined;
  #dead: Error | undefined;
  #idle: NodeJS.Timeout | undefined;
  /** requests answered on it: a failure after the first means the stream was reused (retry once) */
  used = 0;

  constructor(
    readonly origin: string,
    private readonly socket: Duplex,
    head: Buffer,
    private readonly idleMs: number,
  ) {
    socket.on('data', (d: Buffer) => this.#data(d));
    socket.on('error', (err: Error) => this.#die(err));
    socket.on('close', () => this.#die(new Error('the aggregator closed the batch stream')));
    socket.on('end', () => this.#die(new Error('the aggregator ended the batch stream')));
    (socket as Duplex & { setNoDelay?(on: boolean): void }).setNoDelay?.(true);
    if (head.length > 0) this.#data(head);
    this.#armIdle();
  }

  get alive(): boolean {
    return this.#dead === undefined;
  }

  /** Sends one frame; resolves with its answer. Rejects when the stream fails first (it is then dead). */
  send(status: string, body: readonly Buffer[], o: PostOptions): Promise<PostAnswer> {
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#waiter) return Promise.reject(new Error('a request is already in flight on this batch stream'));
    clearTimeout(this.#idle);
    const st = Buffer.from(status.length > MAX_STATUS_BYTES ? status.slice(0, MAX_STATUS_BYTES) : status, 'latin1');
    let n = 2 + st.length;
    for (const b of body) n += b.byteLength;
    const head = Buffer.allocUnsafe(6);
    head.writeUInt32BE(n, 0);
    head.writeUInt16BE(st.length, 4);
    return new Promise<PostAnswer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => this.destroy(new Error('the request was aborted'));
      const settle = () => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        this.#waiter = undefined;
        this.#armIdle();
      };
      this.#waiter = {
        resolve: (a) => {
          settle();
          this.used++;
          resolve(a);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      };
      timer = setTimeout(() => this.destroy(new Error(`no answer from the aggregator within ${o.timeoutMs} ms`)), o.timeoutMs);
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      // The body's memory may be reused once node no longer holds it: when the last write is done
      // (flushed, or failed because the stream was destroyed).
      const written = new Promise<void>((done) => {
        this.socket.cork();
        this.socket.write(head);
        if (st.length > 0) this.socket.write(st);
        for (let i = 0; i < body.length; i++) this.socket.write(body[i]!, i === body.length - 1 ? () => done() : undefined);
        if (body.length === 0) done();
        this.socket.uncork();
      });
      o.onRequest?.(written);
    });
  }

  destroy(err: Error): void {
    this.#die(err);
    this.socket.destroy();
  }

  #armIdle(): void {
    clearTimeout(this.#idle);
    if (this.#dead) return;
    // Closed from this side first (the aggregator waits longer), so a request never meets a stream being closed there.
    this.#idle = setTimeout(() => this.destroy(new Error('idle batch stream closed')), this.idleMs);
    this.#idle.unref();
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = err;
    clearTimeout(this.#idle);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(err);
  }

  /**
   * Answer frames as they arrive, in any cut: the status, the first MAX_ANSWER_BYTES of the JSON kept
   * (as HttpPoster keeps; the forwarder reads only an error's reason), the rest skipped.
   */
  #data(d: Buffer): void {
    let off = 0;
    while (off < d.length && !this.#dead) {
      if (this.#left < 0) {
        const take = Math.min(6 - this.#hdrHave, d.length - off);
        d.copy(this.#hdr, this.#hdrHave, off, off + take);
        this.#hdrHave += take;
        off += take;
        if (this.#hdrHave < 6) return;
        this.#hdrHave = 0;
        const n = this.#hdr.readUInt32BE(0);
        if (n < 2 || n > MAX_ANSWER_FRAME) return this.destroy(new Error(`the aggregator sent a batch stream answer of ${n} bytes; expected 2 to ${MAX_ANSWER_FRAME}`));
        if (!this.#waiter) return this.destroy(new Error('the aggregator sent an answer no request was waiting for'));
        this.#status = this.#hdr.readUInt16BE(4);
        this.#left = n - 2;
        this.#kept = [];
        this.#keptLen = 0;
      }
      const take = Math.min(this.#left, d.length - off);
      if (this.#keptLen < MAX_ANSWER_BYTES && take > 0) {
        const part = d.subarray(off, off + Math.min(take, MAX_ANSWER_BYTES - this.#keptLen));
        this.#kept.push(part);
        this.#keptLen += part.length;
      }
      off += take;
      this.#left -= take;
      if (this.#left === 0) {
        this.#left = -1;
        const text = Buffer.concat(this.#kept, this.#keptLen).toString('utf8');
        this.#kept = [];
        this.#waiter?.resolve({ status: this.#status, text });
      }
    }
  }
}

export class StreamPoster {
  #stream: BatchStream | undefined;
  #opening: Promise<Opened> | undefined;
  /** origin -> until when requests there go as POSTs */
  #fallback = new Map<string, number>();
  #post: HttpPoster;
  #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined;
  #keepAliveMs: number;
  #onFallback: (origin: string, why: string) => void;

  constructor(opts: { keepAliveMs: number; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }; onFallback?: (origin: string, why: string) => void }) {
    this.#keepAliveMs = opts.keepAliveMs;
    this.#tls = opts.tls;
    this.#post = new HttpPoster(opts);
    this.#onFallback = opts.onFallback ?? (() => undefined);
  }

  /**
   * As HttpPoster.post: `url` is the aggregator's /v1/batches, `o.headers` carry authorization and
   * x-logship-agent-status (the frame carries the status; the token went with the handshake).
   */
  async post(url: URL, body: readonly Buffer[], o: PostOptions): Promise<PostAnswer> {
    const until = this.#fallback.get(url.origin);
    if (until !== undefined) {
      if (performance.now() < until) return this.#post.post(url, body, o);
      this.#fallback.delete(url.origin);
    }
    const status = String(o.headers['x-logship-agent-status'] ?? '');
    const s = await this.#streamFor(url, o);
    if (s === FALLBACK) return this.#post.post(url, body, o);
    if (!(s instanceof BatchStream)) return s;
    try {
      return await s.send(status, body, o);
    } catch (err) {
      const e = err as Error & { code?: string };
      // A stream that had answered before failed before this answer: closed while idle, or the aggregator restarted.
      if (s.used === 0 || o.signal?.aborted || !(RETRYABLE.has(e.code ?? '') || /closed|ended/.test(e.message))) throw err;
      const again = await this.#streamFor(url, o);
      if (again === FALLBACK) return this.#post.post(url, body, o);
      if (!(again instanceof BatchStream)) return again;
      return again.send(status, body, o);
    }
  }

  /** The open stream to url's origin, or a new one; a handshake the aggregator refused is answered as the request's answer. */
  async #streamFor(url: URL, o: PostOptions): Promise<Opened> {
    if (this.#stream?.alive && this.#stream.origin === url.origin) return this.#stream;
    if (this.#stream) {
      this.#stream.destroy(new Error('batch stream replaced'));
      this.#stream = undefined;
    }
    const opened = await (this.#opening ??= this.#open(url, o).finally(() => (this.#opening = undefined)));
    if (opened instanceof BatchStream) this.#stream = opened;
    return opened;
  }

  async #open(url: URL, o: PostOptions): Promise<Opened> {
    const https = url.protocol === 'https:' ? await loadHttps() : undefined;
    return new Promise<Opened>((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        req?.destroy();
        reject(err);
      };
      const headers: Record<string, string> = { connection: 'Upgrade', upgrade: BATCH_STREAM_PROTOCOL };
      const auth = o.headers.authorization;
      if (typeof auth === 'string') headers.authorization = auth;
      const options = { method: 'GET', agent: false as const, headers, ...(https ? (this.#tls ?? {}) : {}), ...(o.signal ? { signal: o.signal } : {}) };
      req = (https ? https.request : httpRequest)(url, options);
      req.setTimeout(o.timeoutMs, () => fail(new Error(`no answer to the batch stream handshake within ${o.timeoutMs} ms`)));
      req.on('error', fail);
      req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (settled) return void socket.destroy();
        settled = true;
        req!.setTimeout(0);
        const proto = String(res.headers.upgrade ?? '').toLowerCase();
        if (res.statusCode !== 101 || proto !== BATCH_STREAM_PROTOCOL) {
          socket.destroy();
          return reject(new Error(`the aggregator switched to "${proto.slice(0, 100)}" instead of ${BATCH_STREAM_PROTOCOL}`));
        }
        resolve(new BatchStream(url.origin, socket, head, this.#keepAliveMs));
      });
      req.on('response', (res: IncomingMessage) => {
        // Not upgraded: an ordinary answer, read whole (bounded).
        const answer = keepAnswer(res);
        res.on('error', fail);
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const status = res.statusCode ?? 0;
          const text = answer();
          if (REFUSALS.has(status)) return resolve({ status, text });
          this.#fallback.set(url.origin, performance.now() + FALLBACK_MS);
          this.#onFallback(url.origin, `HTTP ${status}: ${text.slice(0, 300)}`);
          resolve(FALLBACK);
        });
      });
      req.end();
    });
  }

  close(): void {
    this.#stream?.destroy(new Error('closed'));
    this.#stream = undefined;
    this.#post.close();
  }
}
