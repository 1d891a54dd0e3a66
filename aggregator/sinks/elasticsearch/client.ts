/**
 * HTTP to Elasticsearch / OpenSearch over undici: one Pool per URL, the
 * auth header, TLS, and failover (a URL that failed is left for the next one,
 * round the list). Credentials live only in the header map built here; they
 * are never part of an error message or a log field.
 */
import { Pool, type Dispatcher } from 'undici';
import { readFileSync } from 'node:fs';
import { LogshipError } from '../../../lib/errors.js';
import { readSecretFile, SecretFileError, trimAsciiSpace } from '../../../lib/config/secrets.js';
import type { ElasticsearchSinkConfig } from './config.js';

export interface EsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** the URL that answered (for messages) */
  url: string;
}

export interface EsRequest {
  method: 'GET' | 'PUT' | 'POST' | 'HEAD';
  path: string;
  body?: Buffer | string;
  headers?: Record<string, string>;
}

/** Largest response body read (a _bulk answer for batch_max_docs items is far smaller). */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

export class EsClient {
  #urls: URL[];
  #pools: Pool[];
  #current = 0;
  #headers: Record<string, string>;
  #timeout: number;

  constructor(cfg: ElasticsearchSinkConfig, connections: number) {
    this.#urls = cfg.urls.map((u) => new URL(u));
    this.#timeout = cfg.request_timeout;
    this.#headers = { 'user-agent': 'logship', ...authHeader(cfg) };
    const tls = cfg.tls;
    const connect = tls
      ? {
          ca: tls.ca_file ? readPem(tls.ca_file, 'tls.ca_file') : undefined,
          cert: tls.cert_file ? readPem(tls.cert_file, 'tls.cert_file') : undefined,
          key: tls.key_file ? readPem(tls.key_file, 'tls.key_file') : undefined,
          rejectUnauthorized: tls.verify,
        }
      : undefined;
    this.#pools = this.#urls.map(
      (u) => new Pool(u.origin, { connections, pipelining: 1, headersTimeout: this.#timeout, bodyTimeout: this.#timeout, keepAliveTimeout: 30_000, connect }),
    );
  }

  get urls(): string[] {
    return this.#urls.map((u) => u.origin + (u.pathname === '/' ? '' : u.pathname));
  }

  /** The URL requests go to now. */
  get current(): string {
    return this.urls[this.#current]!;
  }

  /** Moves the next requests to the following URL (after a connection failure, a 5xx or a 429 from this one). */
  failover(from: string): void {
    if (this.#urls.length > 1 && this.current === from) this.#current = (this.#current + 1) % this.#urls.length;
  }

  /** One request to the current URL (or URL number `index`). Network failures reject; any HTTP status resolves. */
  async request(r: EsRequest, index = this.#current): Promise<EsResponse> {
    const base = this.#urls[index]!;
    const prefix = base.pathname.endsWith('/') ? base.pathname.slice(0, -1) : base.pathname;
    const url = this.urls[index]!;
    const res = await this.#pools[index]!.request({
      method: r.method as Dispatcher.HttpMethod,
      path: prefix + r.path,
      headers: { ...this.#headers, ...r.headers },
      body: r.body,
      headersTimeout: this.#timeout,
      bodyTimeout: this.#timeout,
    });
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > MAX_RESPONSE_BYTES) {
        res.body.destroy();
        throw new Error(`${url} answered more than ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(c);
    }
    return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), url };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#pools.map((p) => p.close()));
  }

  destroy(): void {
    for (const p of this.#pools) void p.destroy().catch(() => undefined);
  }
}

function authHeader(cfg: ElasticsearchSinkConfig): Record<string, string> {
  const apiKey = cfg.api_key ?? (cfg.api_key_file ? secret(cfg.api_key_file, 'api_key_file') : undefined);
  if (apiKey !== undefined) {
    // Elasticsearch hands out the key both as id:key and as the base64 "encoded" form; send the encoded one.
    const encoded = apiKey.includes(':') ? Buffer.from(apiKey).toString('base64') : apiKey;
    return { authorization: `ApiKey ${encoded}` };
  }
  const user = cfg.username ?? (cfg.username_file ? secret(cfg.username_file, 'username_file') : undefined);
  const pass = cfg.password ?? (cfg.password_file ? secret(cfg.password_file, 'password_file') : undefined);
  if (user !== undefined && pass !== undefined) return { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
  return {};
}

function secret(path: string, key: string): string {
  try {
    const s = trimAsciiSpace(readSecretFile(path)).toString('utf8');
    if (s === '') throw new SecretFileError(path, 'is empty');
    if (/[\r\n]/.test(s)) throw new SecretFileError(path, 'holds more than one line');
    return s;
  } catch (err) {
    throw new LogshipError('LSH_ERR_CONFIG', `elasticsearch sink: ${key}: ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new LogshipError('LSH_ERR_CONFIG', `elasticsearch sink: ${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
