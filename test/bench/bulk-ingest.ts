/**
 * Scenario bulk-ingest: Elasticsearch `_bulk` into `logship aggregator` (a
 * real process, fsync on, loopback, no tokens). 20 concurrent clients
 * (BENCH_BULK_CLIENTS), each with one request in flight, send gzip bodies of
 * 1,000 Filebeat-like documents (ECS fields, host.name, a distinct
 * @timestamp per document) until N documents are acknowledged (default
 * 1,000,000; BENCH_BULK_DOCS). Run twice: without _id (auto ids), and with a
 * unique _id on every document (as Vector or Logstash with document_id send
 * them: the idempotence window is on the path). Every answer must say
 * "errors":false and the topic must hold exactly N records at the end.
 * Reports docs/s, the aggregator's CPU seconds per million documents, the
 * event-loop thread's share of them and the rate that share allows (one core).
 *
 *   BENCH_BULK_DOCS=2000000 npm run bench -- bulk-ingest
 *   BENCH_PROFILE=1 npm run bench -- bulk-ingest     (a .cpuprofile per run in bench-results/)
 *   BENCH_BULK_AB=/path/to/other/dist/bin/logship.js BENCH_BULK_ROUNDS=3 npm run bench -- bulk-ingest
 *     (A/B: this build and the other, interleaved, each case BENCH_BULK_ROUNDS times;
 *     prints each build's median docs/s and CPU s per million docs)
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { gzipSync } from 'node:zlib';
import { rm } from 'node:fs/promises';
import { Pool } from 'undici';
import { freePort, writeYaml } from '../helpers/procs.js';
import { atLeast, envNumber, info, log, progress, scratch, sleep, spawnService, spawnTracked, stopService, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { clkTck, cpuSeconds } from './proc-stats.js';
import { readdirSync, readFileSync } from 'node:fs';

const PER_REQUEST = 1000;
const VARIANTS = 20;

export const bulkIngest: Scenario = {
  name: 'bulk-ingest',
  title: 'Elasticsearch _bulk (gzip, 1,000 docs a request, 20 clients) -> aggregator, fsync on',
  run,
};

function doc(i: number, t0: number): string {
  const ts = new Date(t0 + i * 3).toISOString();
  return JSON.stringify({
    '@timestamp': ts,
    message: `10.0.${(i >> 8) & 255}.${i & 255} - - "GET /api/v1/items/${i % 9973}?page=${i % 17} HTTP/1.1" 200 ${512 + (i % 4096)} "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
    host: { name: `web-${i % 8}` },
    log: { file: { path: '/var/log/nginx/access.log' }, offset: i * 180 },
    input: { type: 'filestream' },
    agent: { type: 'filebeat', version: '8.17.0', name: `web-${i % 8}` },
    ecs: { version: '8.0.0' },
  });
}

/** VARIANTS gzip bodies; with ids, the ids of request r, variant v are unique per (r, k) via a prefix the sender adds. */
function bodies(withIds: boolean): Array<(req: number) => Buffer> {
  const t0 = Date.parse('2026-12-01T12:00:00.000Z');
  const out: Array<(req: number) => Buffer> = [];
  for (let v = 0; v < VARIANTS; v++) {
    const docs: string[] = [];
    for (let k = 0; k < PER_REQUEST; k++) docs.push(doc(v * PER_REQUEST + k, t0));
    if (!withIds) {
      const gz = gzipSync(docs.map((d) => `{"create":{"_index":"filebeat-bench"}}\n${d}\n`).join(''));
      out.push(() => gz);
    } else {
      // ids differ per request: built per request (the build is the client's cost, outside the aggregator's CPU)
      out.push((req) => gzipSync(docs.map((d, k) => `{"create":{"_index":"vector-bench","_id":"r${req}-${k}"}}\n${d}\n`).join('')));
    }
  }
  return out;
}

let runs = 0;

/** CPU seconds per thread of the process (tid -> s). */
function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
        out.set(Number(tid), (Number(rest[11]) + Number(rest[12])) / clkTck());
      } catch {
        /* gone */
      }
    }
  } catch {
    /* gone */
  }
  return out;
}

/** CPU seconds of the process's main thread (the event loop): /proc/PID/task/PID/stat. */
function mainThreadCpu(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clkTck();
  } catch {
    return 0;
  }
}

interface RunResult {
  seconds: number;
  cpu: number;
  /** of which the event-loop thread */
  mainCpu: number;
  docs: number;
  stored: number;
  requests: number;
  gzipBytesPerDoc: number;
}

async function runOnce(dir: string, withIds: boolean, docs: number, clients: number, profileDir: string | undefined, cli?: string): Promise<RunResult> {
  const port = await freePort();
  const name = `${withIds ? 'with-ids' : 'no-ids'}-${++runs}`;
  const cfgPath = await writeYaml(join(dir, `${name}.yaml`), { listen: `127.0.0.1:${port}`, data_dir: join(dir, `data-${name}`), topics: { default: { partitions: 4 } } });
  const args = ['aggregator', '--config', cfgPath, '--log-level', 'warn'];
  const agg = cli ? spawnTracked(`aggregator B (${name})`, process.execPath, [cli, ...args], { LOGSHIP_LOG_PRETTY: '0' }) : spawnService(`aggregator (${name})`, args, { profileDir });
  const topic = withIds ? 'vector-bench' : 'filebeat-bench';
  const dataDir = join(dir, `data-${name}`);
  const url = `http://127.0.0.1:${port}`;
  const pool = new Pool(url, { connections: clients, pipelining: 1 });
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (agg.child.exitCode !== null || i > 600) throw new Error(`aggregator did not get ready:\n${agg.output().slice(-3000)}`);
      await sleep(50);
    }
    const make = bodies(withIds);
    const requests = Math.ceil(docs / PER_REQUEST);
    // Bodies with ids are built ahead (client cost, not timed).
    const prebuilt = withIds ? Array.from({ length: requests }, (_, r) => make[r % VARIANTS]!(r)) : undefined;
    let gzBytes = 0;
    let next = 0;
    let acked = 0;
    const cpu0 = cpuSeconds(agg.pid) ?? 0;
    const main0 = mainThreadCpu(agg.pid);
    const threads0 = threadCpu(agg.pid);
    const t0 = performance.now();
    const pr = progress(() => `bulk-ingest (${name}): ${acked} / ${requests * PER_REQUEST} documents acknowledged`);
    try {
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (;;) {
            const r = next++;
            if (r >= requests) return;
            const body = prebuilt ? prebuilt[r]! : make[r % VARIANTS]!(r);
            gzBytes += body.length;
            const res = await pool.request({ path: '/_bulk', method: 'POST', headers: { 'content-type': 'application/json; charset=UTF-8', 'content-encoding': 'gzip' }, body });
            const text = await res.body.text();
            if (res.statusCode !== 200 || !text.includes('"errors":false')) throw new Error(`request ${r}: HTTP ${res.statusCode}: ${text.slice(0, 400)}`);
            acked += PER_REQUEST;
          }
        }),
      );
    } finally {
      pr.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (cpuSeconds(agg.pid) ?? 0) - cpu0;
    const mainCpu = mainThreadCpu(agg.pid) - main0;
    // Where the rest went, by thread (the event loop first; payload workers and the libuv pool are not named apart).
    const threads = [...threadCpu(agg.pid)].map(([tid, s]) => [tid, s - (threads0.get(tid) ?? 0)] as const).filter(([, s]) => s >= 0.05);
    threads.sort((a, b) => (a[0] === agg.pid ? -1 : b[0] === agg.pid ? 1 : b[1] - a[1]));
    log(`${name}: CPU s by thread: ${threads.map(([tid, s]) => `${tid === agg.pid ? 'main' : tid} ${s.toFixed(2)}`).join(', ')}`);
    const topics = (await (await fetch(`${url}/v1/topics`)).json()) as { topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }> };
    const stored = topics.topics.find((t) => t.name === topic)?.partitions.reduce((s, p) => s + p.next_offset - p.first_offset, 0) ?? 0;
    return { seconds, cpu, mainCpu, docs: acked, stored, requests, gzipBytesPerDoc: gzBytes / acked };
  } finally {
    await pool.close();
    await stopService(agg);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** A/B: this build against another logship.js, interleaved, `rounds` times per case; medians. */
async function runAB(dir: string, other: string, docs: number, clients: number, rounds: number): Promise<ScenarioResult> {
  const rows = [];
  const raw: Record<string, unknown> = { docs, clients, rounds, other, loadavgBefore: loadavg() };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const withIds of [false, true]) {
    const tag = withIds ? 'unique _id' : 'no _id';
    const got: Record<'A' | 'B', { rate: number[]; cpu: number[]; main: number[] }> = { A: { rate: [], cpu: [], main: [] }, B: { rate: [], cpu: [], main: [] } };
    for (let k = 0; k < rounds; k++) {
      for (const side of k % 2 ? (['B', 'A'] as const) : (['A', 'B'] as const)) {
        const r = await runOnce(dir, withIds, docs, clients, undefined, side === 'B' ? other : undefined);
        if (r.stored !== r.docs) throw new Error(`${tag} (${side}): ${r.docs} documents acknowledged but ${r.stored} stored`);
        got[side].rate.push(r.docs / r.seconds);
        got[side].cpu.push((r.cpu / r.docs) * 1e6);
        got[side].main.push((r.mainCpu / r.docs) * 1e6);
        log(`${tag} ${side}: ${Math.round(r.docs / r.seconds)} docs/s, ${((r.cpu / r.docs) * 1e6).toFixed(2)} CPU s per million docs (event loop ${((r.mainCpu / r.docs) * 1e6).toFixed(2)}); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
      }
    }
    for (const side of ['A', 'B'] as const) {
      rows.push(info(`docs/s (${tag}, ${side === 'A' ? 'this build' : 'B'})`, median(got[side].rate), 'docs/s', 0));
      rows.push(info(`aggregator CPU per million docs (${tag}, ${side === 'A' ? 'this build' : 'B'})`, median(got[side].cpu), 's', 2));
      rows.push(info(`  of which the event loop (${tag}, ${side === 'A' ? 'this build' : 'B'})`, median(got[side].main), 's', 2));
    }
    raw[tag] = got;
  }
  raw.loadavgAfter = loadavg();
  return { scenario: 'bulk-ingest', seconds: 0, rows, notes: [`A/B against ${other}, ${rounds} rounds, interleaved; medians. Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`], raw };
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const docs = Math.round(envNumber('BENCH_BULK_DOCS', 1_000_000));
  const clients = Math.round(envNumber('BENCH_BULK_CLIENTS', 20));
  const tmp = await scratch('bulk-ingest');
  const other = process.env.BENCH_BULK_AB;
  if (other) {
    try {
      return await runAB(tmp.dir, other, docs, clients, Math.round(envNumber('BENCH_BULK_ROUNDS', 3)));
    } finally {
      await tmp.cleanup();
    }
  }
  const rows = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = { docs, clients, loadavgBefore: loadavg() };
  try {
    for (const withIds of [false, true]) {
      const r = await runOnce(tmp.dir, withIds, docs, clients, o.profile ? o.resultsDir : undefined);
      const tag = withIds ? 'unique _id' : 'no _id';
      const rate = r.docs / r.seconds;
      log(`${tag}: ${r.docs} docs in ${r.seconds.toFixed(2)} s = ${Math.round(rate)} docs/s; aggregator CPU ${r.cpu.toFixed(2)} s (event loop ${r.mainCpu.toFixed(2)} s); stored ${r.stored}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
      if (r.stored !== r.docs) throw new Error(`${tag}: ${r.docs} documents acknowledged but ${r.stored} stored`);
      rows.push(withIds ? info(`docs/s (${tag})`, rate, 'docs/s', 0) : atLeast(`docs/s (${tag})`, rate, 100_000, 'docs/s', 0));
      rows.push(info(`aggregator CPU per million docs (${tag})`, (r.cpu / r.docs) * 1e6, 's', 2));
      // The event loop is one core: at X s per million docs it cannot pass 1e6 / X docs/s.
      rows.push(info(`  of which the event loop (${tag})`, (r.mainCpu / r.docs) * 1e6, 's', 2));
      rows.push(info(`  event-loop bound (${tag})`, r.docs / r.mainCpu, 'docs/s', 0));
      rows.push(info(`gzip bytes per doc (${tag})`, r.gzipBytesPerDoc, 'B', 1));
      raw[tag] = { ...r, loadavgAfter: loadavg() };
    }
    notes.push(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (the machine is shared: figures are not bounds)`);
    return { scenario: 'bulk-ingest', seconds: 0, rows, notes, raw };
  } finally {
    await tmp.cleanup();
  }
}
