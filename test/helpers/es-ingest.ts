/**
 * For the Elasticsearch-compatible ingest acceptance tests (issue 13): a real
 * aggregator process with one token (scopes ingest and read), reading a whole
 * topic back over GET /v1/topics/{t}/partitions/{p}/records, and the small
 * things every es-ingest test repeats (a raw HTTP call that keeps status,
 * headers and body, the aggregator's peak RSS).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, spawnLogship, tempDir, waitFor, writeYaml, type Proc } from './procs.js';

/** 28 visible ASCII bytes: long enough for the aggregator's token rule. */
export const ES_TOKEN = 'es-ingest-token-0123456789ab';

export interface StoredRecord {
  partition: number;
  offset: number;
  timestamp: string;
  host: string;
  source?: string;
  message: string;
  /** the record as the records API served it (structured records carry their fields here) */
  raw: Record<string, unknown>;
}

export interface EsAggregator {
  dir: string;
  port: number;
  url: string;
  token: string;
  proc: Proc;
  /** Restarts the process on the same config and data (after a kill -9, say). */
  restart: () => Promise<void>;
  cleanup: () => Promise<void>;
}

/**
 * Starts `logship aggregator` on 127.0.0.1:<free port> with a fresh data dir and waits for /readyz.
 * `extra` is merged into the config (limits, topics, ...).
 */
export async function startEsAggregator(extra: Record<string, unknown> = {}, prefix = 'logship-es-'): Promise<EsAggregator> {
  const tmp = await tempDir(prefix);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = await writeYaml(join(tmp.dir, 'aggregator.yaml'), {
    listen: `127.0.0.1:${port}`,
    data_dir: join(tmp.dir, 'data'),
    auth: { tokens: [{ name: 'shipper', token: ES_TOKEN, scopes: ['ingest', 'read'] }] },
    topics: { default: { partitions: 2 } },
    ...extra,
  });
  const agg: EsAggregator = {
    dir: tmp.dir,
    port,
    url,
    token: ES_TOKEN,
    proc: undefined as unknown as Proc,
    restart: async () => {
      agg.proc = spawnLogship(['aggregator', '--config', config]);
      await waitFor(() => `aggregator ready\n${agg.proc.output().slice(-3000)}`, async () => (await fetch(`${url}/readyz`)).ok, 30_000);
    },
    cleanup: async () => {
      if (agg.proc && agg.proc.child.exitCode === null && agg.proc.child.signalCode === null) {
        agg.proc.child.kill('SIGKILL');
        await agg.proc.exited;
      }
      await tmp.cleanup();
    },
  };
  await agg.restart();
  return agg;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One HTTP request with undici; the body is read whole and parsed as JSON when it is JSON. */
export async function call(method: string, url: string, o: { body?: string | Buffer | NodeJS.ReadableStream | AsyncIterable<Buffer>; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<RawAnswer> {
  const res = await request(url, {
    method: method as 'GET',
    body: o.body as never,
    headers: o.headers ?? {},
    headersTimeout: o.timeoutMs ?? 60_000,
    bodyTimeout: o.timeoutMs ?? 60_000,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

export function bearer(token = ES_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function basic(token = ES_TOKEN, user = 'logship'): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` };
}

/** Every record of a topic, all partitions, in offset order within each; [] when the topic does not exist. */
export async function readTopic(url: string, topic: string, token = ES_TOKEN): Promise<StoredRecord[]> {
  const t = await call('GET', `${url}/v1/topics`, { headers: bearer(token) });
  if (t.status !== 200) throw new Error(`GET /v1/topics: ${t.status} ${t.text.slice(0, 300)}`);
  const found = (t.json.topics as Array<{ name: string; partitions: Array<{ partition: number; first_offset: number; next_offset: number }> }>).find((x) => x.name === topic);
  if (!found) return [];
  const out: StoredRecord[] = [];
  for (const p of found.partitions) {
    let offset = p.first_offset;
    for (let page = 0; page < 100_000; page++) {
      const r = await call('GET', `${url}/v1/topics/${encodeURIComponent(topic)}/partitions/${p.partition}/records?offset=${offset}&max_bytes=${8 << 20}`, { headers: bearer(token) });
      if (r.status !== 200) throw new Error(`records ${topic}/${p.partition}@${offset}: ${r.status} ${r.text.slice(0, 300)}`);
      for (const x of r.json.records) out.push({ partition: p.partition, offset: x.offset, timestamp: x.timestamp, host: x.host, source: x.source, message: x.message, raw: x });
      if (r.json.next_offset >= r.json.high_watermark || r.json.records.length === 0) break;
      offset = r.json.next_offset;
    }
  }
  return out;
}

/** The number of records a topic holds (sum over partitions of next_offset - first_offset). */
export async function countTopic(url: string, topic: string, token = ES_TOKEN): Promise<number> {
  const t = await call('GET', `${url}/v1/topics`, { headers: bearer(token) });
  if (t.status !== 200) throw new Error(`GET /v1/topics: ${t.status} ${t.text.slice(0, 300)}`);
  const found = (t.json.topics as Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }>).find((x) => x.name === topic);
  return found ? found.partitions.reduce((a, p) => a + p.next_offset - p.first_offset, 0) : 0;
}

/** Peak and current resident set of a process, in bytes, from /proc/<pid>/status (VmHWM, VmRSS). */
export async function memoryOf(pid: number): Promise<{ hwm: number; rss: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/** How often each key occurs; the keys seen more than once. */
export function duplicates<T>(keys: Iterable<T>): T[] {
  const seen = new Map<T, number>();
  for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}
