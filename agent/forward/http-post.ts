/**
 * The forwarder's HTTP client: one POST at a time over keep-alive
 * connections, on node's own http/https modules.
 *
 * Why not undici: the agent runs on every host, and loading undici costs the
 * process ~20 MiB resident before the first request (its module graph, the
 * llhttp WebAssembly parser and the compiler memory to build it); node:http's
 * parser is native code already in the binary. Measured on 1 MiB POSTs to a
 * local server (300 requests, one process each): peak RSS 53 MiB with
 * node:http against 94-101 MiB with undici, and about half the CPU per request.
 *
 * A request that fails on a kept-alive socket the server had already closed
 * (ECONNRESET, EPIPE, "socket hang up" before any answer) is tried once more on
 * a new connection: the aggregator deduplicates by producer and sequence, so a
 * repeated POST /v1/batches never stores anything twice.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';

export interface PostOptions {
  /** no answer (headers or body bytes) for this long fails the request */
  timeoutMs: number;
  signal?: AbortSignal;
  headers: OutgoingHttpHeaders;
  /**
   * Called with each request made (a retry on a new connection makes a second one): the promise
   * resolves on the request's 'close', the last thing node does with it. Until then node may still
   * write the body's bytes (an answer can come before the whole body went out; a destroyed socket
   * may hold queued writes until it is closed), so body memory that is reused must wait for it.
   */
  onRequest?: (closed: Promise<void>) => void;
}

export interface PostAnswer {
  status: number;
  /** the answer's body as text, at most MAX_ANSWER_BYTES of it */
  text: string;
}

/** The aggregator answers POST /v1/batches with a short JSON document; more is cut (memory stays bounded). */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** Keeps the first MAX_ANSWER_BYTES of an answer's body as it is read; the text, once it has ended. */
export function keepAnswer(res: IncomingMessage): () => string {
  const chunks: Buffer[] = [];
  let kept = 0;
  res.on('data', (c: Buffer) => {
    if (kept >= MAX_ANSWER_BYTES) return;
    const part = c.byteLength > MAX_ANSWER_BYTES - kept ? c.subarray(0, MAX_ANSWER_BYTES - kept) : c;
    chunks.push(part);
    kept += part.byteLength;
  });
  return () => Buffer.concat(chunks, kept).toString('utf8');
}
/** Errors of a reused connection the server had closed: the request is tried once more on a new one. */
export const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * node:https (with tls and its secure contexts) is loaded on the first https
 * URL only: an agent that sends over plain http never loads it, which keeps
 * its resident memory ~0.3-1 MiB lower for its whole life (issue 17).
 */
let httpsModule: Promise<typeof import('node:https')> | undefined;
export const loadHttps = (): Promise<typeof import('node:https')> => (httpsModule ??= import('node:https'));

export class HttpPoster {
  #http: HttpAgent | undefined;
  #https: HttpsAgent | undefined;
  #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined;
  #keepAliveMs: number;

  constructor(opts: { keepAliveMs: number; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer } }) {
    this.#keepAliveMs = opts.keepAliveMs;
    this.#tls = opts.tls;
  }

  #agent(https: typeof import('node:https') | undefined): HttpAgent {
    // `timeout` closes a kept-alive socket idle this long (the aggregator keeps its own open longer).
    const common = { keepAlive: true, maxSockets: 4, maxFreeSockets: 4, timeout: this.#keepAliveMs };
    if (https) return (this.#https ??= new https.Agent({ ...common, ...this.#tls }));
    return (this.#http ??= new HttpAgent(common));
  }

  /** `body` is written as its parts in one go (corked: one writev), never joined into a copy first. */
  async post(url: URL, body: readonly Buffer[], o: PostOptions): Promise<PostAnswer> {
    try {
      return await this.#once(url, body, o);
    } catch (err) {
      const e = err as Error & { code?: string; reused?: boolean };
      if (!e.reused || o.signal?.aborted || !(RETRYABLE.has(e.code ?? '') || e.message === 'socket hang up')) throw err;
      return this.#once(url, body, o);
    }
  }

  async #once(url: URL, body: readonly Buffer[], o: PostOptions): Promise<PostAnswer> {
    const https = url.protocol === 'https:' ? await loadHttps() : undefined;
    return new Promise<PostAnswer>((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const fail = (err: Error & { reused?: boolean }) => {
        if (settled) return;
        settled = true;
        err.reused = req?.reusedSocket === true;
        req?.destroy();
        reject(err);
      };
      const options = {
        method: 'POST',
        agent: this.#agent(https),
        headers: { ...o.headers, 'content-length': body.reduce((n, b) => n + b.byteLength, 0) },
        ...(o.signal ? { signal: o.signal } : {}),
      };
      req = (https ? https.request : httpRequest)(url, options, (res: IncomingMessage) => {
        const text = keepAnswer(res);
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, text: text() });
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(new Error('the aggregator closed the connection mid-answer'));
        });
      });
      if (o.onRequest) {
        const r = req;
        o.onRequest(new Promise<void>((done) => r.once('close', () => done())));
      }
      req.setTimeout(o.timeoutMs, () => fail(new Error(`no answer from the aggregator within ${o.timeoutMs} ms`)));
      req.on('error', fail);
      req.cork();
      for (const b of body) req.write(b);
      req.uncork();
      req.end();
    });
  }

  close(): void {
    this.#http?.destroy();
    this.#https?.destroy();
  }
}
