/**
 * The batch stream: POST /v1/batches's requests and answers as frames on one connection that was
 * upgraded from HTTP once, so that a request costs the aggregator its checks and storage but not
 * node:http's parsing, request and response objects (issue 17: with 10,000 agents each sending a
 * small batch a second, node:http alone took 50-60 us of the ~70 us a request the two cores allow).
 *
 * Handshake (RFC 9110 section 7.8): `GET /v1/batches` with `Connection: Upgrade`,
 * `Upgrade: logship-batches/1` and the same token as POST /v1/batches (the `ingest` scope). Any
 * refusal (401, 403, 404, 400, 503) is a plain HTTP answer with the usual JSON error and the
 * connection closed; success is `101 Switching Protocols`, then frames both ways:
 *
 *   agent -> aggregator: u32 BE n, then n bytes: u16 BE s, s bytes of agent status (what the
 *     x-logship-agent-status header carries), then a POST /v1/batches body (n - 2 - s bytes)
 *   aggregator -> agent: u32 BE n, then n bytes: u16 BE HTTP status, then the JSON answer POST
 *     /v1/batches would have given (acks, or {"error":{"type","reason"}})
 *
 * Frames are answered one at a time, in order; a refused frame (400, 403, 409, 413, 507...) is
 * answered and the stream goes on. A frame longer than limits.max_body_bytes allows, a frame not
 * complete within FRAME_DEADLINE_MS of its first byte, a stream idle for IDLE_MS, or an aggregator
 * shutting down ends the connection (after the frame in flight is answered); the agent opens a
 * new one. What a client sends without reading the answers is bounded: reading stops while
 * MAX_UNSENT_BYTES of answers wait to be sent.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError, noteRefusal, toHttpError } from './http-util.js';
import type { AggregatorMetrics } from '../metrics.js';
import { BATCH_STREAM_PROTOCOL } from '../../lib/protocol/batches.js';

export const BATCH_STREAM_PATH = '/v1/batches';
/** The agent status a frame may carry (the header's own bound in the agents table is smaller). */
export const MAX_FRAME_STATUS_BYTES = 4096;
/** A frame begun must be complete within this (node:http's requestTimeout for a whole request). */
export const FRAME_DEADLINE_MS = 120_000;
/** A stream with no frame for this long is closed (node:http's keepAliveTimeout for a kept-alive connection). */
export const IDLE_MS = 65_000;
/** Answers waiting for the client to read them, past which this stream stops reading frames. */
const MAX_UNSENT_BYTES = 1 << 20;
/** How long close() lets frames in flight finish before cutting their connections. */
const CLOSE_GRACE_MS = 5_000;
const ROUTE = 'batches_stream';

export interface BatchStreamHost {
  metrics: AggregatorMetrics;
  logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  auth: { check(req: IncomingMessage): unknown; requireScope(req: IncomingMessage, scope: 'ingest'): void };
  isReady(): boolean;
  maxBodyBytes: number;
  /**
   * One frame's request: check, store, and resolve with the answer's JSON once every batch is
   * durable; throw as POST /v1/batches does (an HttpError or LogshipError becomes the answer).
   * `principal` is the upgrade request: its token is the stream's.
   */
  store(body: Buffer, principal: IncomingMessage, agentStatus: string): Promise<string>;
  /** FRAME_DEADLINE_MS and IDLE_MS unless given (tests shorten them) */
  timeouts?: { frameMs: number; idleMs: number };
}

/** The bytes of a frame holding `json` with `status`. */
export function answerFrame(status: number, json: string): Buffer {
  const n = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(6 + n);
  out.writeUInt32BE(2 + n, 0);
  out.writeUInt16BE(status, 4);
  out.write(json, 6, 'utf8');
  return out;
}

const errorJson = (e: HttpError): string => JSON.stringify({ error: { type: e.type, reason: e.reason } });

/** The batch streams of one listener: `server.on('upgrade', streams.upgrade)`. */
export class BatchStreams {
  #conns = new Set<StreamConn>();
  #closing = false;
  #counted = new Map<number, { inc(): void }>();

  constructor(private readonly host: BatchStreamHost) {}

  count(status: number): void {
    let c = this.#counted.get(status);
    if (!c) this.#counted.set(status, (c = this.host.metrics.requests.labels({ route: ROUTE, status: String(status) })));
    c.inc();
  }

  /** node:http's 'upgrade' listener. */
  upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    try {
      const raw = req.url ?? '/';
      const qi = raw.indexOf('?');
      const path = qi < 0 ? raw : raw.slice(0, qi);
      this.host.auth.check(req);
      if (this.#closing || !this.host.isReady()) throw new HttpError(503, 'unavailable', 'the aggregator is starting or shutting down; retry');
      if (path !== BATCH_STREAM_PATH) throw new HttpError(404, 'not_found', `no upgrade for ${path.slice(0, 200)}; the batch stream is ${BATCH_STREAM_PATH}`);
      const proto = (req.headers.upgrade ?? '').trim().toLowerCase();
      if (proto !== BATCH_STREAM_PROTOCOL) {
        throw new HttpError(400, 'bad_request', `unsupported upgrade "${proto.slice(0, 100)}"; this aggregator speaks ${BATCH_STREAM_PROTOCOL}`);
      }
      if (req.method !== 'GET') throw new HttpError(400, 'bad_request', `the batch stream is opened with GET, not ${req.method}`);
      this.host.auth.requireScope(req, 'ingest');
    } catch (err) {
      const e = toHttpError(err);
      if (e.status === 400) this.host.metrics.badRequests.inc({ type: e.type });
      this.count(e.status);
      const json = errorJson(e);
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
      );
      return;
    }
    this.count(101);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${BATCH_STREAM_PROTOCOL}\r\n\r\n`);
    const conn = new StreamConn(this, this.host, req, socket, () => this.#conns.delete(conn));
    this.#conns.add(conn);
    conn.start(head);
  };

  /** Stops every stream: frames in flight are answered, then connections end (cut after CLOSE_GRACE_MS). */
  close(): Promise<void> {
    this.#closing = true;
    const all = [...this.#conns].map((c) => c.close());
    return Promise.all(all).then(() => undefined);
  }

  get closing(): boolean {
    return this.#closing;
  }
}

class StreamConn {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #busy = false;
  #ended = false;
  #paused = false;
  #clientEnded = false;
  #deadline: NodeJS.Timeout | undefined;
  #closed: Promise<void>;
  #maxFrame: number;
  #frameMs: number;

  constructor(
    private readonly streams: BatchStreams,
    private readonly host: BatchStreamHost,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    done: () => void,
  ) {
    this.#maxFrame = 2 + MAX_FRAME_STATUS_BYTES + host.maxBodyBytes;
    this.#frameMs = host.timeouts?.frameMs ?? FRAME_DEADLINE_MS;
    this.#closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        clearTimeout(this.#deadline);
        done();
        resolve();
      }),
    );
  }

  start(head: Buffer): void {
    const s = this.socket as Duplex & { setTimeout?(ms: number, cb?: () => void): void; setNoDelay?(on: boolean): void };
    s.setNoDelay?.(true);
    const idleMs = this.host.timeouts?.idleMs ?? IDLE_MS;
    // No bytes either way for IDLE_MS: an idle stream ends; one storing a frame (a slow disk) waits
    // for it, and its clock starts again with the answer's write. A listener of its own: the one
    // setTimeout takes is called once only, and such a stream never idled out afterwards.
    this.socket.on('timeout', () => {
      if (!this.#busy) this.socket.destroy();
    });
    s.setTimeout?.(idleMs);
    this.socket.on('data', (d: Buffer) => this.#data(d));
    this.socket.on('end', () => {
      this.#clientEnded = true;
      this.#pump();
    });
    this.socket.on('drain', () => this.#maybeResume());
    if (head.length > 0) this.#data(head);
  }

  #data(d: Buffer): void {
    if (this.#ended) return;
    this.#chunks.push(d);
    this.#buffered += d.length;
    // Nothing more is read while a whole frame's worth waits behind the one in flight.
    if (this.#buffered > this.#maxFrame + 4 && !this.#paused) this.#pause();
    this.#pump();
  }

  #pause(): void {
    this.#paused = true;
    this.socket.pause();
  }

  #maybeResume(): void {
    if (this.#paused && !this.#ended && this.#buffered <= this.#maxFrame + 4 && this.socket.writableLength <= MAX_UNSENT_BYTES) {
      this.#paused = false;
      this.socket.resume();
    }
  }

  /** The next whole frame from what was read, or undefined (then a deadline runs for a partial one). */
  #take(): Buffer | undefined | 'bad' {
    if (this.#buffered < 4) return this.#buffered > 0 ? this.#waitFor() : undefined;
    const first = this.#chunks[0]!;
    const n = first.length >= 4 ? first.readUInt32BE(0) : this.#join(4).readUInt32BE(0);
    if (n < 2 || n > this.#maxFrame) return 'bad';
    if (this.#buffered < 4 + n) return this.#waitFor();
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    const src = this.#chunks[0]!.length >= 4 + n ? this.#chunks[0]! : this.#join(4 + n);
    // A frame of its own: a copy (its payloads may be moved to a payload worker, so no shared memory).
    const frame = Buffer.allocUnsafe(n);
    src.copy(frame, 0, 4, 4 + n);
    if (src.length === 4 + n) this.#chunks.shift();
    else this.#chunks[0] = src.subarray(4 + n);
    this.#buffered -= 4 + n;
    return frame;
  }

  /** Makes the first chunk at least `n` bytes long (n <= buffered). */
  #join(n: number): Buffer {
    let len = 0;
    let k = 0;
    while (len < n) len += this.#chunks[k++]!.length;
    const joined = Buffer.concat(this.#chunks.slice(0, k), len);
    this.#chunks.splice(0, k, joined);
    return joined;
  }

  #waitFor(): undefined {
    this.#deadline ??= setTimeout(() => {
      this.host.logger.warn({ remote: (this.socket as { remoteAddress?: string }).remoteAddress }, `closed a batch stream: a frame was not complete within ${this.#frameMs} ms`);
      this.socket.destroy();
    }, this.#frameMs);
    return undefined;
  }

  #pump(): void {
    if (this.#busy || this.#ended) return;
    const frame = this.#take();
    if (frame === undefined) {
      this.#maybeResume();
      if (this.streams.closing || this.#clientEnded) this.#finish();
      return;
    }
    if (frame === 'bad') {
      const e = new HttpError(413, 'too_large', `a frame must hold 2 to ${this.#maxFrame} bytes (limits.max_body_bytes plus the agent status); the stream is closed`);
      this.host.metrics.badRequests.inc({ type: e.type });
      this.streams.count(e.status);
      this.#ended = true;
      this.socket.end(answerFrame(e.status, errorJson(e)));
      return;
    }
    this.#busy = true;
    void this.#serve(frame).then(
      () => {
        this.#busy = false;
        if (this.socket.writableLength > MAX_UNSENT_BYTES && !this.#paused) this.#pause();
        this.#pump();
      },
      (err: unknown) => {
        // #serve answers every error it can; this is a bug of ours: say so, and cut this stream only.
        this.host.logger.error({ err }, 'batch stream frame failed');
        this.socket.destroy();
      },
    );
  }

  async #serve(frame: Buffer): Promise<void> {
    let status = 200;
    let json: string;
    try {
      if (this.streams.closing || !this.host.isReady()) throw new HttpError(503, 'unavailable', 'the aggregator is shutting down; retry on a new connection');
      const s = frame.readUInt16BE(0);
      if (s > MAX_FRAME_STATUS_BYTES || 2 + s > frame.length) {
        throw new HttpError(400, 'bad_request', `frame's agent status of ${s} bytes does not fit (at most ${MAX_FRAME_STATUS_BYTES}, and within the frame's ${frame.length - 2})`);
      }
      const agentStatus = s === 0 ? '' : frame.toString('latin1', 2, 2 + s);
      json = await this.host.store(frame.subarray(2 + s), this.req, agentStatus);
    } catch (err) {
      const e = noteRefusal(err, this.host, { route: ROUTE });
      status = e.status;
      json = errorJson(e);
    }
    this.streams.count(status);
    if (this.#ended) return;
    const out = answerFrame(status, json);
    if (status === 503) {
      this.#ended = true;
      this.socket.end(out);
    } else this.socket.write(out);
  }

  /** Nothing more to answer (the client ended its side, or close()): end the connection. */
  #finish(): void {
    if (this.#busy || this.#ended) return;
    this.#ended = true;
    this.socket.end();
  }

  close(): Promise<void> {
    this.#finish();
    const cut = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    cut.unref();
    return this.#closed.finally(() => clearTimeout(cut));
  }
}
