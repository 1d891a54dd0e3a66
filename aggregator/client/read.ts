/**
 * `logship read`: prints records of a topic, all partitions concurrently with
 * order kept within each. Without --follow it stops at the end of the log.
 * Start position: --offset N, --since TIME, --from-beginning; with --group the
 * group's committed offset wins, and each printed page is committed.
 * Default: from the beginning (or, with --follow, from the end).
 */
import { ApiClient, type RecordsResponse, type TopicsResponse } from './http.js';
import { LogshipError } from '../../lib/errors.js';

export interface ReadOptions {
  url: string;
  token?: string;
  topic: string;
  partition?: number;
  fromBeginning: boolean;
  offset?: number;
  since?: string;
  follow: boolean;
  group?: string;
  format: 'raw' | 'json';
  max?: number;
  write: (s: string) => boolean | void;
  signal?: AbortSignal;
}

export async function readCommand(o: ReadOptions): Promise<number> {
  const api = new ApiClient(o.url, o.token);
  const { topics } = await api.get<TopicsResponse>('/v1/topics');
  const topic = topics.find((t) => t.name === o.topic);
  if (!topic) throw new LogshipError('LSH_ERR_NOT_FOUND', `no topic "${o.topic}" at ${o.url}; topics: ${topics.map((t) => t.name).join(', ') || '(none)'}`);
  const parts = o.partition === undefined ? topic.partitions : topic.partitions.filter((p) => p.partition === o.partition);
  if (parts.length === 0) throw new LogshipError('LSH_ERR_NOT_FOUND', `topic "${o.topic}" has no partition ${o.partition}`);
  const committed = o.group ? (await api.get<{ offsets: Record<string, Record<string, number>> }>(`/v1/groups/${encodeURIComponent(o.group)}/offsets`)).offsets[o.topic] ?? {} : {};
  let printed = 0;
  const enc = encodeURIComponent;
  const done = () => o.max !== undefined && printed >= o.max;

  await Promise.all(
    parts.map(async (p) => {
      // A committed offset that retention has since deleted resumes at the first stored record.
      const c = committed[String(p.partition)];
      let offset: number | undefined = c === undefined ? undefined : Math.max(c, p.first_offset);
      let query = '';
      if (offset === undefined) {
        if (o.offset !== undefined) offset = Math.max(o.offset, p.first_offset);
        else if (o.since) query = `since=${enc(o.since)}`;
        else if (o.fromBeginning || !o.follow) offset = p.first_offset;
        else offset = p.next_offset;
      }
      const end = p.next_offset;
      for (;;) {
        if (done() || o.signal?.aborted) return;
        const q: string = query || `offset=${offset}`;
        query = '';
        const r: RecordsResponse | 'skipped' | undefined = await api.get<RecordsResponse>(
          `/v1/topics/${enc(o.topic)}/partitions/${p.partition}/records?${q}&max_bytes=1048576${o.follow ? '&wait_ms=10000' : ''}`,
          o.signal,
        ).catch(async (err) => {
          if (o.signal?.aborted) return undefined;
          // Retention deleted what we were about to read (we fell behind it): go on at the new start, and say so.
          if (err instanceof LogshipError && err.code === 'LSH_ERR_OFFSET_OUT_OF_RANGE' && offset !== undefined) {
            const now = (await api.get<TopicsResponse>('/v1/topics')).topics.find((t) => t.name === o.topic)?.partitions.find((x) => x.partition === p.partition);
            if (now && now.first_offset > offset) {
              process.stderr.write(`logship read: ${o.topic}/${p.partition}: offsets ${offset}..${now.first_offset - 1} were deleted by retention before they were read; continuing at ${now.first_offset}\n`);
              offset = now.first_offset;
              return 'skipped' as const;
            }
          }
          throw err;
        });
        if (r === 'skipped') continue;
        if (!r) return;
        let upTo = r.next_offset;
        for (const rec of r.records) {
          if (done()) {
            // --max stopped mid-page: commit only what was printed.
            upTo = rec.offset;
            break;
          }
          printed++;
          o.write(o.format === 'raw' ? `${rec.message}\n` : JSON.stringify({ topic: o.topic, partition: p.partition, ...rec }) + '\n');
        }
        const moved = upTo !== offset;
        offset = upTo;
        if (o.group && moved) await api.post(`/v1/groups/${enc(o.group)}/offsets`, { offsets: { [o.topic]: { [p.partition]: offset } } });
        // No records but progress: the aggregator stepped over batches it could not use; read on.
        if (!o.follow && ((r.records.length === 0 && !moved) || r.next_offset >= end)) return;
      }
    }),
  );
  return 0;
}
