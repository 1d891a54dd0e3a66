/** ConsumerTransport inside the aggregator: storage, the group store and the record decoder, no HTTP. */
import { LogshipError } from '../../lib/errors.js';
import type { GroupStore } from '../topics/groups.js';
import type { RecordDecoder } from '../storage/record-decoder.js';
import type { Storage } from '../storage/types.js';
import type { ConsumerTransport, FetchFrom, FetchOptions, FetchResult, PartitionRange } from './transport.js';

export class LocalTransport implements ConsumerTransport {
  #storage: Storage;
  #groups: GroupStore;
  #decoder: RecordDecoder;

  constructor(o: { storage: Storage; groups: GroupStore; decoder: RecordDecoder }) {
    this.#storage = o.storage;
    this.#groups = o.groups;
    this.#decoder = o.decoder;
  }

  partitions(topic: string): Promise<PartitionRange[] | undefined> {
    return this.#storage.withTopic(topic, false, (t) => t?.partitions.map((p) => ({ partition: p.partition, first_offset: p.firstOffset, next_offset: p.nextOffset })));
  }

  async committed(group: string, topic: string): Promise<Map<number, number>> {
    return new Map(this.#groups.get(group).get(topic) ?? []);
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    await this.#groups.commit(group, new Map([[topic, new Map([[partition, offset]])]]));
  }

  fetch(topic: string, partition: number, from: FetchFrom, opts: FetchOptions): Promise<FetchResult> {
    // Held open (never evicted) for the whole fetch, long-poll included.
    return this.#storage.withTopic(topic, false, async (t) => {
      const p = t?.partitions[partition];
      if (!p) throw new LogshipError('LSH_ERR_NOT_FOUND', `no partition ${partition} of topic "${topic}"`);
      let offset: number;
      if (typeof from === 'number') offset = from;
      else {
        const ts = /^\d{1,16}$/.test(from.since) ? Number(from.since) : Date.parse(from.since);
        if (!Number.isFinite(ts)) throw new LogshipError('LSH_ERR_BAD_REQUEST', `since must be ms since epoch or an ISO 8601 time, got "${from.since.slice(0, 60)}"`);
        offset = await p.offsetForTimestamp(ts);
      }
      if (offset === p.nextOffset && opts.waitMs > 0) await p.waitForData(offset, opts.waitMs, opts.signal);
      return { ...(await this.#decoder.read(p, offset, opts.maxBytes, opts.decode)), highWatermark: p.nextOffset };
    });
  }
}
