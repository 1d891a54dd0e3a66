/**
 * Reading an aggregator from the outside for the Elasticsearch sink's tests: a sink's lag
 * (the consumer group `sink-<name>`, from /metrics), metric sums, and every record of a
 * topic through GET /v1/topics/{t}/partitions/{p}/records.
 */
import { httpJson } from './procs.js';
import type { SinkReport } from '../../aggregator/sinks/runner.js';

/**
 * Sum of the samples of one metric whose labels include `labels`. Only that metric's lines are
 * parsed (prom-client prints an idle event-loop gauge as "Nan", which a strict parser refuses).
 */
export async function metricSum(aggUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${aggUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have[l[1]!] = l[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Records between the sink's committed offsets and the ends of its topics' partitions. */
export function sinkLag(aggUrl: string, sink: string): Promise<number> {
  return metricSum(aggUrl, 'logship_aggregator_consumer_lag_records', { group: `sink-${sink}` });
}

/** One sink as GET /v1/sinks reports it: the server's own type. */
export type SinkView = SinkReport;

export async function sinkView(aggUrl: string, name: string): Promise<SinkView | undefined> {
  const all = await httpJson<{ sinks: SinkView[] }>(`${aggUrl}/v1/sinks`);
  return all.sinks.find((s) => s.name === name);
}

export interface TopicRecord {
  offset: number;
  timestamp: string;
  host: string;
  source: string;
  source_offset: number;
  message: string;
  [k: string]: unknown;
}

/** Calls onRecord for every record of every partition of a topic; returns how many there were. */
export async function forEachRecord(aggUrl: string, topic: string, onRecord: (r: TopicRecord, partition: number) => void): Promise<number> {
  const t = await httpJson<{ topics: Array<{ name: string; partitions: Array<{ partition: number; first_offset: number; next_offset: number }> }> }>(`${aggUrl}/v1/topics`);
  const parts = t.topics.find((x) => x.name === topic)?.partitions ?? [];
  let n = 0;
  for (const p of parts) {
    let offset = p.first_offset;
    while (offset < p.next_offset) {
      const page = await httpJson<{ next_offset: number; records: TopicRecord[] }>(
        `${aggUrl}/v1/topics/${encodeURIComponent(topic)}/partitions/${p.partition}/records?offset=${offset}&max_bytes=${8 << 20}`,
      );
      for (const r of page.records) onRecord(r, p.partition);
      n += page.records.length;
      if (page.next_offset <= offset) throw new Error(`records of ${topic}/${p.partition} did not advance at offset ${offset}`);
      offset = page.next_offset;
    }
  }
  return n;
}
