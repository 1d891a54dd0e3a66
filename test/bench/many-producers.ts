/**
 * Scenario 3, many producers: 200 simulated agents in this one process, each
 * with its own producer id, host, source and HTTP connection, sending small
 * batches (50 nginx lines, zstd) one request at a time, as fast as acks come
 * back, for 20 s. Measures what the aggregator acknowledges: batches/s, MiB/s
 * (uncompressed) and ack latency, and what a batch costs: aggregator CPU per
 * batch (all threads, and its main thread alone: the event loop is one core,
 * so 1 / its cost bounds the rate) and this process's CPU per batch.
 *
 * The producers speak the batch stream, as agents do (BENCH_FANIN_TRANSPORT=http: one POST per
 * request; use it for BENCH_FANIN_AB against a build without the batch stream), through the lean
 * client of agent-conn.ts (as
 * fleet-fan-in does): through undici this process used ~130 us of CPU per
 * request, so at 20,000 batches/s the load generator alone would need more
 * than the machine's two cores. BENCH_PRODUCER_CLIENT=undici uses undici.
 *
 * Knobs: BENCH_PRODUCERS (200), BENCH_PRODUCER_SECONDS (20), BENCH_PRODUCER_LINES (50).
 * A/B: BENCH_FANIN_AB=/path/to/other/dist/bin/logship.js [BENCH_FANIN_ROUNDS=3] runs this
 * build and the other one after the other, interleaved, and prints both sides' medians;
 * BENCH_FANIN_AB=processes=N runs this build against itself with ingest.processes N;
 * BENCH_FANIN_AB=bare runs it against the bare node:http server (BENCH_FANIN_BARE below).
 * BENCH_INGEST_PROCESSES sets this build's ingest.processes (default: the aggregator's own).
 * BENCH_PROFILE=1 (not with A/B): the aggregator under --cpu-prof, its top functions, and its
 * main thread's time split by kind of work (cost-split.ts): HTTP itself against the payload check,
 * decode and routing, storage, metrics, GC, as a share and as us per batch.
 * With ingest processes, "aggregator" CPU is the writer's and every ingest process's together,
 * and the writer's main thread and the ingest processes are printed apart; the binary framing's
 * own cost per batch (ingest-ipc.ts) is measured in this process first.
 * BENCH_FANIN_BARE=1: the same producers against a bare node:http server (bare-server.ts: reads
 * each body, answers a fixed ack; no logship code), the ceiling of node:http and this load
 * generator on this machine; nothing is stored, so rows are figures without a verdict.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { BATCHES_CONTENT_TYPE, CODEC_ZSTD, encodeRequest } from '../../lib/protocol/batches.js';
import { topicCount } from '../helpers/procs.js';
import { AgentConn, fanInTransport } from './agent-conn.js';
import { nginxBatches } from './gen-nginx.js';
import { bareFanIn, benchStack, startBareServer } from './stack.js';
import {
  atLeast,
  atMost,
  envNumber,
  info,
  log,
  MiB,
  percentile,
  progress,
  scratch,
  sleep,
  spawnTracked,
  stopService,
  waitReady,
  type BenchOptions,
  type Row,
  type Scenario,
  type ScenarioResult,
} from './harness.js';
import { clkTck } from './proc-stats.js';
import { TreeWatch } from './proc-tree.js';
import { measureIngestIpc } from './ingest-ipc.js';
import { profilesIn, summarizeDir } from './top-profile.js';
import { COST_BUCKETS, costSplit } from './cost-split.js';

const TOPIC = 'many';
const PAYLOADS = 64;

export const manyProducers: Scenario = {
  name: 'many-producers',
  title: 'many small producers against one aggregator',
  run,
};

/** CPU seconds of a process's main thread (its event loop), from /proc/<pid>/task/<pid>/stat. */
function mainThreadCpu(pid: number): number {
  try {
    const t = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clkTck();
  } catch {
    return NaN;
  }
}

interface RunStats {
  elapsed: number;
  acked: number;
  rawBytes: number;
  errors: number;
  lastError: string;
  /** sorted ack latencies, ms */
  lat: Float64Array;
  aggCpu: number;
  aggMainCpu: number;
  /** ingest processes: all their threads, and their main threads */
  ingestCpu: number;
  ingestMainCpu: number;
  ingestProcesses: number;
  clientCpu: number;
  peakRss: number;
  /** lines stored; NaN against the bare server */
  stored: number;
  /** the aggregator's (the writer's) pid: its profiles are named CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile */
  pid: number;
}

interface RunConfig {
  producers: number;
  seconds: number;
  linesPer: number;
  client: 'lean' | 'undici';
  /** ingest.processes for this build's aggregator (undefined: its default) */
  processes?: number;
  /** the bare node:http server (bare-server.ts) instead of an aggregator */
  bare?: boolean;
}

type Send = (body: Buffer) => Promise<{ status: number; body: string }>;

function leanSender(port: number, onError: (e: Error) => void, stopping: () => boolean): { send: Send; close: () => void } {
  const conn = new AgentConn(port, { error: (_what, err) => onError(err), stopping }, fanInTransport());
  const head = (n: number) => `POST /v1/batches HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: ${BATCHES_CONTENT_TYPE}\r\ncontent-length: ${n}\r\n\r\n`;
  return { send: (body) => conn.request(head(body.length), body), close: () => conn.close() };
}

function undiciSender(url: string): { send: Send; close: () => Promise<void> } {
  const client = new Client(url, { pipelining: 1, keepAliveTimeout: 60_000 });
  return {
    send: async (body) => {
      const res = await client.request({ path: '/v1/batches', method: 'POST', body, headers: { 'content-type': BATCHES_CONTENT_TYPE } });
      return { status: res.statusCode, body: await res.body.text() };
    },
    close: () => client.close().catch(() => undefined),
  };
}

/** One run against a fresh aggregator (this build, or `cli`), in its own directory under `dir`. */
async function runOnce(dir: string, c: RunConfig, label: string, cli?: string, profileDir?: string): Promise<RunStats> {
  const payloads = nginxBatches(99, PAYLOADS, c.linesPer);
  await mkdir(dir, { recursive: true });
  const aggExtra = c.processes === undefined ? {} : { aggregator: { ingest: { processes: c.processes } } };
  const stack = await benchStack(dir, [{ type: 'file', topic: TOPIC, include: ['/nonexistent'] }], aggExtra, profileDir ? { aggregatorDir: profileDir } : undefined);
  let agg;
  if (c.bare) agg = await startBareServer(stack.aggPort, profileDir);
  else if (cli) {
    agg = spawnTracked(`aggregator (${label})`, process.execPath, [cli, 'aggregator', '--config', stack.aggConfig], { LOGSHIP_LOG_PRETTY: '0' });
    await waitReady(`${stack.aggUrl}/readyz`, agg, true);
  } else agg = await stack.startAggregator();
  const aw = new TreeWatch(agg.pid);
  const runId = randomUUID().slice(0, 8);

  let acked = 0;
  let rawBytes = 0;
  let errors = 0;
  let lastError = '';
  const lat: number[] = [];
  let measuring = true;
  const closers: Array<() => unknown> = [];

  const producer = async (i: number): Promise<void> => {
    const s =
      c.client === 'undici'
        ? undiciSender(stack.aggUrl)
        : leanSender(
            stack.aggPort,
            (e) => {
              errors++;
              lastError = e.message;
            },
            () => !measuring,
          );
    closers.push(s.close);
    const id = `bench-${i}/${runId}`;
    const host = `bench-host-${i}`;
    const source = `/var/log/nginx/access-${i}.log`;
    let seq = 0;
    let srcOffset = 0;
    while (measuring) {
      const p = payloads[(i + seq) % PAYLOADS]!;
      const body = Buffer.concat(
        encodeRequest({
          producer: id,
          epoch: 1,
          host,
          batches: [{ topic: TOPIC, source, seq, sourceOffset: srcOffset, lines: c.linesPer, timestamp: Date.now(), codec: CODEC_ZSTD, flags: 0, rawLength: p.rawLength, payload: p.payload }],
        }),
      );
      const t = performance.now();
      try {
        const res = await s.send(body);
        if (res.status !== 200) {
          errors++;
          lastError = `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
          await sleep(50);
          continue;
        }
      } catch (err) {
        if (!measuring) break;
        errors++;
        lastError = (err as Error).message;
        await sleep(50);
        continue;
      }
      if (!measuring) break;
      lat.push(performance.now() - t);
      acked++;
      rawBytes += p.rawLength;
      seq++;
      srcOffset += p.rawLength;
    }
  };

  log(`many producers (${label}): ${c.producers} producers (${c.client} client), ${c.linesPer} lines a batch, ${c.seconds} s; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  aw.mark();
  const main0 = mainThreadCpu(agg.pid);
  const pr = progress(() => {
    const s = (performance.now() - t0) / 1000;
    return `many-producers (${label}): ${s.toFixed(0)} / ${c.seconds} s, ${acked} batches acked (${Math.round(acked / s)}/s), ${errors} errors`;
  });
  const loops = Array.from({ length: c.producers }, (_, i) => producer(i));
  const ticker = setInterval(() => aw.sample(), 1_000);
  await sleep(c.seconds * 1000);
  measuring = false;
  aw.sample();
  const aggMainCpu = mainThreadCpu(agg.pid) - main0;
  const elapsed = (performance.now() - t0) / 1000;
  const ackedInWindow = acked;
  const bytesInWindow = rawBytes;
  clearInterval(ticker);
  pr.stop();
  const clientCpu = process.cpuUsage(cpu0);
  await Promise.all(loops);
  await Promise.all(closers.map((f) => f()));
  const stored = c.bare ? NaN : await topicCount(stack.aggUrl, TOPIC);
  await stopService(agg);
  return {
    elapsed,
    acked: ackedInWindow,
    rawBytes: bytesInWindow,
    errors,
    lastError,
    lat: Float64Array.from(lat).sort(),
    aggCpu: aw.cpu,
    aggMainCpu,
    ingestCpu: aw.ingestCpu,
    ingestMainCpu: aw.ingestMainCpu,
    ingestProcesses: aw.ingestProcesses,
    clientCpu: (clientCpu.user + clientCpu.system) / 1e6,
    peakRss: aw.peakRss,
    stored,
    pid: agg.pid,
  };
}

/** us of CPU per acknowledged batch */
const perBatch = (cpuS: number, r: RunStats): number => (cpuS * 1e6) / Math.max(1, r.acked);

function costRows(r: RunStats, suffix = ''): Row[] {
  return [
    info(`aggregator CPU per batch, all processes${suffix}`, perBatch(r.aggCpu, r), 'us', 0),
    info(`  of which the writer's main thread${suffix}`, perBatch(r.aggMainCpu, r), 'us', 0),
    info(`  writer main-thread bound${suffix}`, r.acked / r.aggMainCpu, 'batches/s', 0),
    ...(r.ingestProcesses > 0
      ? [
          info(`  of which ${r.ingestProcesses} ingest processes, all threads${suffix}`, perBatch(r.ingestCpu, r), 'us', 0),
          info(`  of which their main threads${suffix}`, perBatch(r.ingestMainCpu, r), 'us', 0),
          info(`  ingest main-thread bound (${r.ingestProcesses} loops)${suffix}`, r.acked / (r.ingestMainCpu / r.ingestProcesses), 'batches/s', 0),
        ]
      : [info(`  ingest processes${suffix}`, 'none (ingest.processes <= 1)')]),
    info(`producers (this process) CPU per batch${suffix}`, perBatch(r.clientCpu, r), 'us', 0),
  ];
}

function checkStored(r: RunStats, linesPer: number, notes: string[], label: string): void {
  // Requests still in flight when the window closed are stored but not counted.
  if (!Number.isNaN(r.stored) && r.stored < r.acked * linesPer) notes.push(`${label}: STORED ${r.stored} lines, fewer than the ${r.acked * linesPer} acknowledged`);
  if (r.errors) notes.push(`${label}: ${r.errors} failed requests; last: ${r.lastError}`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function runAB(dir: string, c: RunConfig, other: string, rounds: number): Promise<ScenarioResult> {
  const notes: string[] = [];
  const got: Record<'A' | 'B', RunStats[]> = { A: [], B: [] };
  const raw: Record<string, unknown> = { ...c, other, rounds, loadavgBefore: loadavg() };
  // processes=N: the other side is this build with ingest.processes N
  const bProcesses = /^processes=\d+$/.test(other) ? Number(other.slice('processes='.length)) : undefined;
  // bare: the other side is the bare node:http server (bare-server.ts)
  const bBare = other === 'bare';
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so a trend in the machine's load falls on both.
    for (const side of round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const cB = bProcesses !== undefined ? { ...c, processes: bProcesses } : bBare ? { ...c, bare: true } : c;
      const r = await runOnce(join(dir, `${side}-${round}`), side === 'B' ? cB : c, side === 'A' ? 'A: this build' : `B: ${other}`, side === 'B' && bProcesses === undefined && !bBare ? other : undefined);
      checkStored(r, c.linesPer, notes, `${side} round ${round}`);
      got[side].push(r);
      log(
        `${side} round ${round}: ${Math.round(r.acked / r.elapsed)} batches/s, p99 ${percentile(r.lat, 99).toFixed(1)} ms, aggregator ${perBatch(r.aggCpu, r).toFixed(0)} us/batch (main thread ${perBatch(r.aggMainCpu, r).toFixed(0)}), producers ${perBatch(r.clientCpu, r).toFixed(0)} us/batch; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
      );
    }
  }
  const rows: Row[] = [];
  for (const side of ['A', 'B'] as const) {
    const rs = got[side];
    const tag = side === 'A' ? ' (A: this build)' : ' (B: other)';
    // this build's rows carry the targets (the verdict is this build's); the other build's are figures only
    const rate = median(rs.map((r) => r.acked / r.elapsed));
    const p99 = median(rs.map((r) => percentile(r.lat, 99)));
    rows.push(side === 'A' ? atLeast(`acked batches/s${tag}`, rate, 20_000, 'batches/s', 0) : info(`acked batches/s${tag}`, rate, 'batches/s', 0));
    rows.push(side === 'A' ? atMost(`ack latency p99${tag}`, p99, 50, 'ms') : info(`ack latency p99${tag}`, p99, 'ms'));
    rows.push(info(`aggregator CPU per batch, all processes${tag}`, median(rs.map((r) => perBatch(r.aggCpu, r))), 'us', 0));
    rows.push(info(`  of which the writer's main thread${tag}`, median(rs.map((r) => perBatch(r.aggMainCpu, r))), 'us', 0));
    rows.push(info(`  of which ingest processes (${rs[0]?.ingestProcesses ?? 0})${tag}`, median(rs.map((r) => perBatch(r.ingestCpu, r))), 'us', 0));
    rows.push(info(`producers CPU per batch${tag}`, median(rs.map((r) => perBatch(r.clientCpu, r))), 'us', 0));
    raw[side] = rs.map((r) => ({ ...r, lat: undefined, p99: percentile(r.lat, 99) }));
  }
  raw.loadavgAfter = loadavg();
  notes.push(`A/B against ${other}, ${rounds} rounds interleaved, medians; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  return { scenario: manyProducers.name, seconds: 0, rows, notes, raw };
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('many');
  const c: RunConfig = {
    producers: envNumber('BENCH_PRODUCERS', 200),
    seconds: envNumber('BENCH_PRODUCER_SECONDS', 20),
    linesPer: envNumber('BENCH_PRODUCER_LINES', 50),
    client: process.env.BENCH_PRODUCER_CLIENT === 'undici' ? 'undici' : 'lean',
    ...(process.env.BENCH_INGEST_PROCESSES ? { processes: envNumber('BENCH_INGEST_PROCESSES', 1) } : {}),
    ...(bareFanIn() ? { bare: true } : {}),
  };
  if (c.bare && process.env.BENCH_FANIN_AB) throw new Error('BENCH_FANIN_BARE=1 with BENCH_FANIN_AB: use BENCH_FANIN_AB=bare (this build against the bare server, interleaved)');
  const ipc = await measureIngestIpc(c.linesPer);
  const ipcRow = info(`ingest IPC framing per batch (both ends, one process; ${ipc.frameBytes}-byte frame)`, ipc.usPerBatch, 'us');
  log(`ingest IPC framing: ${ipc.usPerBatch.toFixed(1)} us per batch over a unix socket (${ipc.batches} batches)`);
  const notes: string[] = [];
  try {
    const other = process.env.BENCH_FANIN_AB;
    if (other) {
      const ab = await runAB(tmp.dir, c, other, Math.round(envNumber('BENCH_FANIN_ROUNDS', 3)));
      return { ...ab, rows: [...ab.rows, ipcRow] };
    }
    const profileDir = o.profile ? join(o.resultsDir, 'profiles', o.stamp, 'many-producers-aggregator') : undefined;
    const bare = c.bare === true;
    const r = await runOnce(tmp.dir, c, bare ? 'bare node:http server' : 'this build', undefined, profileDir);
    checkStored(r, c.linesPer, notes, 'many-producers');
    const raw: Record<string, unknown> = {};
    const splitRows: Row[] = [];
    if (profileDir) {
      try {
        raw.profile_aggregator = await summarizeDir(profileDir, 'aggregator', log);
        notes.push(`aggregator CPU profiles: ${profileDir}`);
        // Main threads by kind of work (how much of a batch is HTTP itself): the aggregator's (the
        // writer's, with ingest processes), and the busiest ingest process's. Thread 0 is the main one.
        const files = await profilesIn(profileDir);
        const pidOf = (f: string) => /\.(\d+)\.0\.\d+\.cpuprofile$/.exec(f)?.[1];
        const mainOf = (mine: boolean) =>
          files.find((f) => {
            const pid = pidOf(f);
            return pid !== undefined && (pid === String(r.pid)) === mine;
          });
        const splits: Record<string, unknown> = {};
        const picks: Array<[string | undefined, string, number]> = [[mainOf(true), r.ingestProcesses > 0 ? "writer's main thread" : 'main thread', perBatch(r.aggMainCpu, r)]];
        // Ingest processes: their main threads' us per batch together (each has about the same shares).
        if (r.ingestProcesses > 0) picks.push([mainOf(false), "ingest processes' main threads (one profiled)", perBatch(r.ingestMainCpu, r)]);
        for (const [file, who, us] of picks) {
          if (!file) continue;
          const split = await costSplit(file);
          splits[who] = split;
          for (const b of COST_BUCKETS) {
            splitRows.push(info(`  ${who}: ${b}`, `${(100 * split.share[b]).toFixed(1)} % ~ ${(split.share[b] * us).toFixed(0)} us/batch`));
          }
        }
        raw.cost_split = splits;
        notes.push('main-thread splits: self time of the profiled run (the profiler adds its own cost; the start-up bucket is not per batch); test/bench/cost-split.ts');
      } catch (err) {
        notes.push(`no aggregator profile: ${(err as Error).message}`);
      }
    }
    const p99 = percentile(r.lat, 99);
    return {
      scenario: manyProducers.name,
      seconds: r.elapsed,
      rows: [
        info('producers x lines a batch', `${c.producers} x ${c.linesPer} (${c.client === 'lean' ? `lean client, ${fanInTransport() === 'stream' ? 'batch stream' : 'POST per request'}` : 'undici, POST per request'})`),
        ...(bare ? [info('server', 'BARE node:http (BENCH_FANIN_BARE=1): no logship code, nothing stored; "aggregator" rows are that server')] : []),
        bare ? info('acked batches/s', r.acked / r.elapsed, 'batches/s', 0) : atLeast('acked batches/s', r.acked / r.elapsed, 20_000, 'batches/s', 0),
        info('lines/s', Math.round((r.acked * c.linesPer) / r.elapsed), 'lines/s', 0),
        info('throughput (uncompressed)', r.rawBytes / MiB / r.elapsed, 'MiB/s'),
        info('ack latency p50', percentile(r.lat, 50), 'ms'),
        bare ? info('ack latency p99', p99, 'ms') : atMost('ack latency p99', p99, 50, 'ms'),
        info('ack latency max', percentile(r.lat, 100), 'ms'),
        info('aggregator CPU', (100 * r.aggCpu) / r.elapsed, '% of a core'),
        info('aggregator main thread CPU', (100 * r.aggMainCpu) / r.elapsed, '% of a core'),
        info('aggregator peak RSS', r.peakRss / MiB, 'MiB'),
        info('producers (this process) CPU', (100 * r.clientCpu) / r.elapsed, '% of a core'),
        ...costRows(r),
        ...splitRows,
        ipcRow,
      ],
      notes,
      raw: {
        ...raw,
        ...c,
        bare,
        seconds: r.elapsed,
        acked: r.acked,
        rawBytes: r.rawBytes,
        errors: r.errors,
        p50: percentile(r.lat, 50),
        p99,
        max: percentile(r.lat, 100),
        aggregatorCpu: r.aggCpu,
        aggregatorMainCpu: r.aggMainCpu,
        clientCpu: r.clientCpu,
      },
    };
  } finally {
    await tmp.cleanup();
  }
}
