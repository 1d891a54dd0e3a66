/**
 * Fleet fan-in (issue 17): 10,000 simulated agents connected to one aggregator
 * at once, each on its own keep-alive connection with its own producer id,
 * host and source, sending one small batch (10 nginx lines, zstd) a second in
 * the real agent protocol (POST /v1/batches), one request in flight per agent
 * as an agent does. The agents connect during a ramp (BENCH_FLEET_RAMP_S),
 * spread evenly; once every one of them has had an acknowledgement the
 * measured window (BENCH_FLEET_SECONDS) starts. Measures, for requests sent in
 * the window: ack latency p50/p99/max, the aggregator's CPU and peak RSS, and
 * connections refused or reset over the whole run (any reconnect is counted).
 * At the end every acknowledged batch must be stored exactly once (line count).
 *
 * The agents speak the batch stream as the agent does (BENCH_FANIN_TRANSPORT=http:
 * one POST per request, as where the upgrade is not taken) through the lean client
 * of agent-conn.ts (one socket each, an agent's bytes) and are
 * scheduled by one timer wheel: with undici and a timer per agent, driving
 * 10,000 requests a second took this process more CPU than the aggregator
 * used to answer them, on a machine with two cores for both.
 *
 * Both this process and the aggregator hold one descriptor per connection:
 * `ulimit -n` must exceed the agent count (checked; raise it with
 * `ulimit -n 20000` in the shell, or LimitNOFILE= under systemd).
 *
 * BENCH_FANIN_BARE=1: the same fleet against a bare node:http server (bare-server.ts: reads each
 * body, answers a fixed ack; no logship code), the ceiling of node:http and this load generator on
 * this machine; nothing is stored, so the rows are figures without a verdict.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { BATCHES_CONTENT_TYPE, CODEC_ZSTD, encodeRequest } from '../../lib/protocol/batches.js';
import { topicCount, waitFor } from '../helpers/procs.js';
import { AgentConn, fanInTransport } from './agent-conn.js';
import { nginxBatches } from './gen-nginx.js';
import { bareFanIn, benchStack, startBareServer } from './stack.js';
import { atLeast, atMost, envNumber, info, log, MiB, percentile, progress, scratch, sleep, stopService, GiB, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { clkTck } from './proc-stats.js';
import { TreeWatch } from './proc-tree.js';
import { summarizeDir } from './top-profile.js';

const TOPIC = 'fleet';
const PAYLOADS = 64;

export const fleetFanIn: Scenario = {
  name: 'fleet-fan-in',
  title: '10,000 agents connected at once, one small batch a second each',
  run,
};

/** User and system CPU seconds of a process (all threads), from /proc/<pid>/stat; with `tid`, of that thread alone. */
function userSys(pid: number, tid?: number): { user: number; sys: number } {
  try {
    const t = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return { user: Number(rest[11]) / clkTck(), sys: Number(rest[12]) / clkTck() };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/**
 * The listen socket's accept queue on `port` (connections the kernel completed that the aggregator
 * has not accepted yet), from `ss` (netlink, filtered in the kernel), or undefined when `ss` is
 * missing or fails. Node's libuv (>= 1.45) accepts one connection per event-loop iteration, so a
 * loop busy with thousands of agents accepts newcomers slowly. Never /proc/net/tcp here: with 20,000 sockets open it is ~4 MB of text, and
 * reading and splitting it took this process's event loop 75-115 ms each second, which showed in
 * every latency figure the bench took of the agents this process drives.
 */
export function acceptQueue(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('ss', ['-ltnH', `sport = :${port}`], { timeout: 2_000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      // State Recv-Q Send-Q Local Peer: for a listening socket Recv-Q is the accept queue.
      const f = stdout.trim().split(/\s+/);
      const q = f[0] === 'LISTEN' ? Number(f[1]) : NaN;
      resolve(Number.isInteger(q) ? q : undefined);
    });
  });
}

/** The kernel's count of connections dropped because a listen queue was full (whole machine, TcpExt ListenOverflows). */
export function listenOverflows(): number | undefined {
  return tcpCounter('/proc/net/netstat', 'TcpExt:', 'ListenOverflows');
}

/** TCP segments retransmitted, whole machine (SYNs included; /proc/net/snmp), or undefined. */
export function retransmittedSegments(): number | undefined {
  return tcpCounter('/proc/net/snmp', 'Tcp:', 'RetransSegs');
}

/** One counter of a `<prefix> names` / `<prefix> values` line pair in a /proc/net file. */
function tcpCounter(file: string, prefix: string, key: string): number | undefined {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(prefix));
    const keys = lines[0]!.split(/\s+/);
    const vals = lines[1]!.split(/\s+/);
    const v = Number(vals[keys.indexOf(key)]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The soft "Max open files" limit of a process, from /proc/<pid>/limits. */
export function openFileLimit(pid: number | 'self' = 'self'): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

interface Agent {
  conn: AgentConn;
  producer: string;
  host: string;
  source: string;
  seq: number;
  srcOffset: number;
  acked: number;
  /** a request is in flight */
  busy: boolean;
  /** its second came while busy: send as soon as the answer is in */
  due: boolean;
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const n = Math.round(envNumber('BENCH_FLEET_AGENTS', 10_000));
  const seconds = envNumber('BENCH_FLEET_SECONDS', 60);
  const rampS = envNumber('BENCH_FLEET_RAMP_S', 20);
  const linesPer = Math.round(envNumber('BENCH_FLEET_LINES', 10));
  const fdLimit = openFileLimit();
  if (fdLimit !== undefined && fdLimit < n + 500) {
    throw new Error(`ulimit -n is ${fdLimit}: ${n} agents need at least ${n + 500} descriptors in this process and in the aggregator (run "ulimit -n ${n + 2000}" first, or set BENCH_FLEET_AGENTS lower)`);
  }
  const tmp = await scratch('fleet');
  const notes: string[] = [];
  try {
    const payloads = nginxBatches(17, PAYLOADS, linesPer);
    const profileDir = o.profile ? join(o.resultsDir, 'profiles', o.stamp, 'fleet-fan-in-aggregator') : undefined;
    // BENCH_INGEST_PROCESSES: the aggregator's ingest.processes (default: its own default for this host)
    const processes = process.env.BENCH_INGEST_PROCESSES ? Math.round(envNumber('BENCH_INGEST_PROCESSES', 1)) : undefined;
    // Every agent holds a connection: the cap (limits.max_connections, by default about half of ulimit -n) must
    // take them all, and the few partitions this bench uses leave the rest of the descriptors to connections.
    const limits = { max_connections: n + 1000, max_topics: 10 };
    const aggExtra = { aggregator: { limits, ...(processes === undefined ? {} : { ingest: { processes } }) } };
    const stack = await benchStack(tmp.dir, [{ type: 'file', topic: TOPIC, include: ['/nonexistent'] }], aggExtra, profileDir ? { aggregatorDir: profileDir } : undefined);
    const bare = bareFanIn();
    const agg = bare ? await startBareServer(stack.aggPort, profileDir) : await stack.startAggregator();
    const aggFd = openFileLimit(agg.pid);
    if (aggFd !== undefined && aggFd < n + 500) throw new Error(`the aggregator's ulimit -n is ${aggFd}, below ${n + 500}`);
    // the writer and its ingest processes (ingest.processes > 1), CPU and RSS summed
    const aw = new TreeWatch(agg.pid);
    const runId = randomUUID().slice(0, 8);

    let connectErrors = 0;
    let disconnects = 0;
    let httpErrors = 0;
    let requestErrors = 0;
    let lastError = '';
    let ackedTotal = 0;
    let ackedLinesTotal = 0;
    let stopping = false;
    let windowStart = Infinity;
    let windowEnd = Infinity;
    let windowAcks = 0;
    let windowBytes = 0;
    const lat: number[] = [];
    /** each latency's send time, seconds into the window: the per-second series in the notes */
    const latAt: number[] = [];

    const events = {
      error: (what: 'connect' | 'reset', err: Error) => {
        if (what === 'connect') connectErrors++;
        else disconnects++;
        lastError = `${what}: ${err.message}`;
      },
      stopping: () => stopping,
    };
    const agents: Agent[] = Array.from({ length: n }, (_, i) => ({
      conn: new AgentConn(stack.aggPort, events, fanInTransport()),
      producer: `fleet-${i}/${runId}`,
      host: `fleet-host-${i}`,
      source: `/var/log/nginx/access.log`,
      seq: 0,
      srcOffset: 0,
      acked: 0,
      busy: false,
      due: false,
    }));
    const headFor = (length: number) => `POST /v1/batches HTTP/1.1\r\nhost: 127.0.0.1:${stack.aggPort}\r\ncontent-type: ${BATCHES_CONTENT_TYPE}\r\ncontent-length: ${length}\r\n\r\n`;

    /** One request; a failed one leaves seq unchanged, so the next second re-sends the same batch. */
    const send = async (a: Agent, i: number): Promise<void> => {
      a.busy = true;
      a.due = false;
      const p = payloads[(i + a.seq) % PAYLOADS]!;
      const body = Buffer.concat(
        encodeRequest({
          producer: a.producer,
          epoch: 1,
          host: a.host,
          batches: [{ topic: TOPIC, source: a.source, seq: a.seq, sourceOffset: a.srcOffset, lines: linesPer, timestamp: Date.now(), codec: CODEC_ZSTD, flags: 0, rawLength: p.rawLength, payload: p.payload }],
        }),
      );
      const t = performance.now();
      try {
        const res = await a.conn.request(headFor(body.length), body);
        if (res.status !== 200) {
          httpErrors++;
          lastError = `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
          return;
        }
        const done = performance.now();
        if (t >= windowStart && t < windowEnd) {
          lat.push(done - t);
          latAt.push(Math.floor((t - windowStart) / 1000));
          windowAcks++;
          windowBytes += p.rawLength;
        }
        a.acked++;
        ackedTotal++;
        ackedLinesTotal += linesPer;
        a.seq++;
        a.srcOffset += p.rawLength;
      } catch (err) {
        requestErrors++;
        lastError = (err as Error).message;
      } finally {
        a.busy = false;
        inFlight--;
        // Its second came while it waited: send now, as an agent with a batch ready would (never a burst).
        if (a.due && !stopping) {
          inFlight++;
          void send(a, i);
        }
      }
    };

    // One timer wheel: agent i's phase in the second is (ramp * i / n) mod 1 s; a 5 ms tick sends
    // every agent whose moment has come (a busy one is marked due and sends when its answer is in).
    const t0 = performance.now();
    const TICK_MS = 5;
    const slots = Math.round(1000 / TICK_MS);
    const wheel: number[][] = Array.from({ length: slots }, () => []);
    const startAt = agents.map((_, i) => (rampS * 1000 * i) / n);
    startAt.forEach((ms, i) => wheel[Math.floor(ms / TICK_MS) % slots]!.push(i));
    let inFlight = 0;
    let tickDone = 0; // ticks handled so far
    const wheelTimer = setInterval(() => {
      if (stopping) return;
      const upTo = Math.floor((performance.now() - t0) / TICK_MS);
      for (; tickDone <= upTo; tickDone++) {
        const nowMs = tickDone * TICK_MS;
        for (const i of wheel[tickDone % slots]!) {
          if (startAt[i]! > nowMs) continue; // not started yet (its ramp moment is a later second)
          const a = agents[i]!;
          if (a.busy) a.due = true;
          else {
            inFlight++;
            void send(a, i);
          }
        }
      }
    }, TICK_MS);

    log(`fleet fan-in: ${n} agents connecting over ${rampS} s, then ${seconds} s measured; ${linesPer} lines a batch, one batch a second each`);
    const eld = monitorEventLoopDelay({ resolution: 10 });
    let peakAcceptQueue = 0;
    let acceptQueueUnknown = false;
    const overflows0 = listenOverflows();
    const ticker = setInterval(() => {
      aw.sample();
      void acceptQueue(stack.aggPort).then((q) => {
        if (q === undefined) acceptQueueUnknown = true;
        else peakAcceptQueue = Math.max(peakAcceptQueue, q);
      });
    }, 1_000);
    const pr = progress(() => {
      const s = (performance.now() - t0) / 1000;
      const connected = agents.reduce((c, a) => c + (a.acked > 0 ? 1 : 0), 0);
      return `fleet-fan-in: ${s.toFixed(0)} s, ${connected} / ${n} agents acknowledged, ${ackedTotal} batches acked, ${windowAcks} in the window, errors: ${connectErrors} connect, ${disconnects} disconnect, ${httpErrors} HTTP, ${requestErrors} request`;
    }, 5_000);
    let cpu0 = process.cpuUsage();
    let us0 = { user: 0, sys: 0 };
    let us1 = us0;
    let main0 = us0;
    let main1 = us0;
    let elapsed = 0;
    let started = 0;
    let retrans0: number | undefined;
    let retrans1: number | undefined;
    try {
      // Every agent's first acknowledgement, within the ramp + 120 s; if the aggregator cannot take them all, measure what it has.
      const deadline = performance.now() + (rampS + 120) * 1000;
      while (!agents.every((a) => a.acked > 0)) {
        if (agg.child.exitCode !== null) throw new Error(`aggregator exited (${agg.child.exitCode}):\n${agg.output().slice(-3000)}`);
        if (performance.now() > deadline) {
          notes.push(`only ${agents.filter((a) => a.acked > 0).length} of ${n} agents had an acknowledgement ${rampS + 120} s after the start; measured anyway (last error: ${lastError || 'none'})`);
          break;
        }
        await sleep(250);
      }
      started = agents.filter((a) => a.acked > 0).length;
      log(`fleet fan-in: ${started} / ${n} agents connected and acknowledged; measuring ${seconds} s`);
      await sleep(1_000);
      windowStart = performance.now();
      aw.mark();
      retrans0 = retransmittedSegments();
      us0 = userSys(agg.pid);
      main0 = userSys(agg.pid, agg.pid);
      eld.enable();
      cpu0 = process.cpuUsage();
      await sleep(seconds * 1000);
      windowEnd = performance.now();
      aw.sample();
      retrans1 = retransmittedSegments();
      us1 = userSys(agg.pid);
      main1 = userSys(agg.pid, agg.pid);
      eld.disable();
      elapsed = (windowEnd - windowStart) / 1000;
    } finally {
      clearInterval(ticker);
      clearInterval(wheelTimer);
      pr.stop();
      stopping = true;
    }
    const clientCpu = process.cpuUsage(cpu0);
    const overflows = overflows0 === undefined ? undefined : (listenOverflows() ?? overflows0) - overflows0;
    await waitFor(() => `${inFlight} requests still in flight`, () => inFlight === 0, 120_000, 50);
    const connects = agents.reduce((c, a) => c + a.conn.connects, 0);
    for (const a of agents) a.conn.close();
    const stored = bare ? NaN : await topicCount(stack.aggUrl, TOPIC);
    const exactlyOnce = stored === ackedLinesTotal;
    if (!exactlyOnce && !bare) notes.push(`STORED ${stored} lines, but ${ackedLinesTotal} were acknowledged (${ackedTotal} batches): a loss or a duplicate, or a failed request that was stored`);
    if (connectErrors + disconnects + httpErrors + requestErrors) notes.push(`errors: ${connectErrors} connect, ${disconnects} disconnect, ${httpErrors} HTTP, ${requestErrors} request; last: ${lastError}`);
    const reconnects = connects - n;
    await stopService(agg);
    const raw: Record<string, unknown> = {};
    if (profileDir) {
      try {
        raw.profile_aggregator = await summarizeDir(profileDir, 'aggregator', log);
        notes.push(`aggregator CPU profiles: ${profileDir}`);
      } catch (err) {
        notes.push(`no aggregator profile: ${(err as Error).message}`);
      }
    }
    notes.push(`descriptors: ulimit -n ${fdLimit ?? '?'} here, ${aggFd ?? '?'} in the aggregator`);
    notes.push('latency is measured by this process, which drives every agent: its event-loop delay (row above) is part of each figure');

    const series = perSecond(lat, latAt);
    notes.push(`ack latency p50/p99 ms by second of the window: ${series.map((x) => `${x.p50.toFixed(0)}/${x.p99.toFixed(0)}`).join(' ')}`);
    const sorted = Float64Array.from(lat).sort();
    const p99 = percentile(sorted, 99);
    const refusedOrReset = connectErrors + disconnects + Math.max(0, reconnects);
    return {
      scenario: fleetFanIn.name,
      seconds: elapsed,
      rows: [
        info('agents x lines a batch', `${n} x ${linesPer} (${fanInTransport() === 'stream' ? 'batch stream' : 'POST per request'})`),
        ...(bare ? [info('server', 'BARE node:http (BENCH_FANIN_BARE=1): no logship code, nothing stored; "aggregator" rows are that server')] : []),
        atLeast('agents acknowledged before the window', started, n, 'agents', 0),
        info('measured window', elapsed, 's'),
        info('acked batches/s in the window', windowAcks / elapsed, 'batches/s', 0),
        info('throughput (uncompressed)', windowBytes / MiB / elapsed, 'MiB/s', 2),
        info('ack latency p50', percentile(sorted, 50), 'ms'),
        bare ? info('ack latency p99', p99, 'ms') : atMost('ack latency p99', p99, 50, 'ms'),
        info('ack latency max', percentile(sorted, 100), 'ms'),
        atMost('connections refused or reset', refusedOrReset, 0, '', 0),
        info('requests failed (HTTP or other)', httpErrors + requestErrors, '', 0),
        info('peak accept queue (connected, not yet accepted)', acceptQueueUnknown && peakAcceptQueue === 0 ? 'unknown (ss failed)' : peakAcceptQueue, 'connections', 0),
        info('listen queue overflows, whole machine', overflows ?? 'unknown', '', 0),
        // A retransmission on loopback waits out an RTO (>= 200 ms): it shows in the tail, not in CPU.
        info('TCP segments retransmitted in the window, whole machine', retrans0 === undefined || retrans1 === undefined ? 'unknown' : retrans1 - retrans0, '', 0),
        info('ingest processes (ingest.processes)', aw.ingestProcesses === 0 ? 'none: one process' : aw.ingestProcesses, '', 0),
        bare ? info('aggregator peak RSS', aw.peakRss / MiB, 'MiB') : atMost('aggregator peak RSS, all processes', aw.peakRss / MiB, GiB / MiB, 'MiB'),
        info('aggregator CPU, all processes', (100 * aw.cpu) / elapsed, '% of a core'),
        info('aggregator CPU per acked batch, all processes', (1e6 * aw.cpu) / Math.max(1, windowAcks), 'us', 0),
        ...(aw.ingestProcesses > 0
          ? [
              info('  of which ingest processes, all threads', (1e6 * aw.ingestCpu) / Math.max(1, windowAcks), 'us', 0),
              info('  of which their main threads', (1e6 * aw.ingestMainCpu) / Math.max(1, windowAcks), 'us', 0),
            ]
          : []),
        info('writer process CPU per acked batch, user / system', `${((1e6 * (us1.user - us0.user)) / Math.max(1, windowAcks)).toFixed(0)} / ${((1e6 * (us1.sys - us0.sys)) / Math.max(1, windowAcks)).toFixed(0)}`, 'us'),
        // The event loop is one core: it answers every request, so it bounds the fleet's rate.
        info('writer main thread (event loop) CPU', (100 * (main1.user + main1.sys - main0.user - main0.sys)) / elapsed, '% of a core'),
        info('  per acked batch', (1e6 * (main1.user + main1.sys - main0.user - main0.sys)) / Math.max(1, windowAcks), 'us', 0),
        info('stored exactly once', bare ? 'not checked (bare server)' : exactlyOnce ? 'yes' : 'NO'),
        info('client (this process) CPU', (100 * (clientCpu.user + clientCpu.system)) / 1e6 / elapsed, '% of a core'),
        info('client event-loop delay p99', eld.percentile(99) / 1e6, 'ms'),
      ],
      notes,
      raw: {
        ...raw,
        agents: n,
        bare,
        linesPer,
        rampSeconds: rampS,
        seconds: elapsed,
        windowAcks,
        windowBytes,
        ackedTotal,
        stored,
        p50: percentile(sorted, 50),
        p99,
        max: percentile(sorted, 100),
        connects,
        connectErrors,
        disconnects,
        httpErrors,
        requestErrors,
        aggregatorCpu: aw.cpu,
        aggregatorPeakRss: aw.peakRss,
        ingestProcesses: aw.ingestProcesses,
        ingestCpu: aw.ingestCpu,
        ingestMainCpu: aw.ingestMainCpu,
        clientEventLoopDelayP99Ms: eld.percentile(99) / 1e6,
        peakAcceptQueue,
        listenOverflows: overflows,
        retransmittedSegments: retrans0 === undefined || retrans1 === undefined ? undefined : retrans1 - retrans0,
        latencyBySecond: series,
      },
    };
  } finally {
    await tmp.cleanup();
  }
}

/** p50 and p99 of the latencies sent in each second of the window: flowing and congested spells show apart. */
function perSecond(lat: number[], at: number[]): Array<{ p50: number; p99: number; n: number }> {
  const buckets: number[][] = [];
  for (let i = 0; i < lat.length; i++) (buckets[at[i]!] ??= []).push(lat[i]!);
  return Array.from(buckets, (b) => {
    const sorted = Float64Array.from(b ?? []).sort();
    return { p50: sorted.length ? percentile(sorted, 50) : NaN, p99: sorted.length ? percentile(sorted, 99) : NaN, n: sorted.length };
  });
}
