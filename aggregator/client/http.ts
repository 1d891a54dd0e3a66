/** Small JSON client for the aggregator API, used by `logship read` and `logship topics`. */
import { request } from 'undici';
import { LogshipError } from '../../lib/errors.js';

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#call<T>('GET', path, undefined, signal);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('POST', path, JSON.stringify(body));
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: string, signal?: AbortSignal): Promise<T> {
    const url = new URL(path, this.baseUrl);
    let res;
    try {
      res = await request(url, {
        method,
        body,
        signal,
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
      });
    } catch (err) {
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `cannot reach ${url.origin}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let reason = text;
      let type = '';
      try {
        ({ reason, type } = (JSON.parse(text) as { error: { reason: string; type: string } }).error);
      } catch {
        /* keep text */
      }
      const code =
        res.statusCode === 401 || res.statusCode === 403
          ? 'LSH_ERR_AUTH'
          : res.statusCode === 404
            ? 'LSH_ERR_NOT_FOUND'
            : type === 'offset_out_of_range'
              ? 'LSH_ERR_OFFSET_OUT_OF_RANGE'
              : 'LSH_ERR_BAD_REQUEST';
      throw new LogshipError(code, `${method} ${url.pathname}: HTTP ${res.statusCode}: ${reason}`);
    }
    return JSON.parse(text) as T;
  }
}

export interface TopicsResponse {
  topics: Array<{ name: string; partitions: Array<{ partition: number; first_offset: number; next_offset: number; bytes: number }> }>;
}

export interface RecordsResponse {
  topic: string;
  partition: number;
  first_offset: number;
  high_watermark: number;
  next_offset: number;
  records: Array<Record<string, unknown> & { offset: number; message: string }>;
}
