/** ConsumerTransport over the aggregator's HTTP API (what `logship read` uses). */
import { ApiClient, type RecordsResponse, type TopicsResponse } from '../client/http.js';
import type { StoredRecord } from '../storage/record-decoder.js';
import type { ConsumerTransport, FetchFrom, FetchResult, PartitionRange } from './transport.js';

const enc = encodeURIComponent;

export class HttpTransport implements ConsumerTransport {
  readonly api: ApiClient;

  /** extra query parameters for record fetches (e.g. parse=1) */
  readonly #recordQuery: string;

  constructor(url: string, token?: string, opts: { parse?: boolean } = {}) {
    this.api = new ApiClient(url, token);
    this.#recordQuery = opts.parse ? '&parse=1' : '';
  }

  async topics(): Promise<TopicsResponse['topics']> {
    return (await this.api.get<TopicsResponse>('/v1/topics')).topics;
  }

  async partitions(topic: string): Promise<PartitionRange[] | undefined> {
    return (await this.topics()).find((t) => t.name === topic)?.partitions;
  }

  async committed(group: string, topic: string): Promise<Map<number, number>> {
    const r = await this.api.get<{ offsets: Record<string, Record<string, number>> }>(`/v1/groups/${enc(group)}/offsets`);
    const parts = r.offsets[topic] ?? {};
    return new Map(Object.entries(parts).map(([p, o]) => [Number(p), o]));
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    await this.api.post(`/v1/groups/${enc(group)}/offsets`, { offsets: { [topic]: { [partition]: offset } } });
  }

  async fetch(topic: string, partition: number, from: FetchFrom, opts: { maxBytes: number; waitMs: number; signal?: AbortSignal }): Promise<FetchResult> {
    const q = typeof from === 'number' ? `offset=${from}` : `since=${enc(from.since)}`;
    const r = await this.api.get<RecordsResponse>(
      `/v1/topics/${enc(topic)}/partitions/${partition}/records?${q}&max_bytes=${opts.maxBytes}${opts.waitMs > 0 ? `&wait_ms=${opts.waitMs}` : ''}${this.#recordQuery}`,
      opts.signal,
    );
    return { records: r.records as unknown as StoredRecord[], next: r.next_offset, highWatermark: r.high_watermark };
  }
}
