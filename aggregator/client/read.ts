/**
 * `logship read`: prints records of a topic, all partitions concurrently with
 * order kept within each. Without --follow it stops at the end of the log.
 * Start position: --offset N, --since TIME, --from-beginning; with --group the
 * group's committed offset wins, and each printed page is committed.
 * Default: from the beginning (or, with --follow, from the end).
 *
 * The loop is the aggregator's Consumer (aggregator/consumer/) over HTTP: the
 * same cursor, clamping, retention-gap and commit logic the sinks use.
 */
import { LogshipError } from '../../lib/errors.js';
import { Consumer, type StartAt } from '../consumer/index.js';
import { HttpTransport } from '../consumer/http-transport.js';

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
  /** documents from the topic's pipeline (parse=1): raw prints each document, json each record with its document */
  parse?: boolean;
  max?: number;
  write: (s: string) => boolean | void;
  signal?: AbortSignal;
}

export async function readCommand(o: ReadOptions): Promise<number> {
  const transport = new HttpTransport(o.url, o.token, { parse: o.parse === true });
  const topics = await transport.topics();
  const topic = topics.find((t) => t.name === o.topic);
  if (!topic) throw new LogshipError('LSH_ERR_NOT_FOUND', `no topic "${o.topic}" at ${o.url}; topics: ${topics.map((t) => t.name).join(', ') || '(none)'}`);
  if (o.partition !== undefined && !topic.partitions.some((p) => p.partition === o.partition)) {
    throw new LogshipError('LSH_ERR_NOT_FOUND', `topic "${o.topic}" has no partition ${o.partition}`);
  }
  const startAt: StartAt =
    o.offset !== undefined ? { offset: o.offset } : o.since ? { since: o.since } : o.fromBeginning || !o.follow ? 'beginning' : 'end';
  let printed = 0;
  const consumer: Consumer = new Consumer({
    transport,
    topic: o.topic,
    group: o.group,
    partitions: o.partition === undefined ? undefined : [o.partition],
    startAt,
    follow: o.follow,
    retry: false,
    signal: o.signal,
    deliver: async ({ partition, records }) => {
      let taken = 0;
      for (const rec of records) {
        // --max reached mid-page: only what was printed is taken (and committed).
        if (o.max !== undefined && printed >= o.max) break;
        printed++;
        taken++;
        if (o.parse && o.format === 'raw') {
          // a record a drop or sample step leaves out has document null: nothing to print
          const doc = (rec as { document?: unknown }).document;
          if (doc !== null && doc !== undefined) o.write(JSON.stringify(doc) + '\n');
        } else o.write(o.format === 'raw' ? `${rec.message}\n` : JSON.stringify({ topic: o.topic, partition, ...rec }) + '\n');
      }
      if (o.max !== undefined && printed >= o.max) consumer.abort();
      return taken;
    },
    onGap: (partition, from, to) =>
      process.stderr.write(`logship read: ${o.topic}/${partition}: offsets ${from}..${to - 1} were deleted by retention before they were read; continuing at ${to}\n`),
  });
  await consumer.run();
  return 0;
}
