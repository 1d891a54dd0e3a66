/**
 * Scenario 1, file -> agent -> aggregator: N bytes of nginx lines generated
 * on disk first (not timed), then an agent with start_at: beginning ships them
 * to an aggregator with local storage (real fsync) on 127.0.0.1. Timed from the
 * agent's spawn until the aggregator has acknowledged every line (GET
 * /v1/topics every 200 ms). With rsyslogd on PATH the same files also go
 * through rsyslog imfile -> TCP -> imtcp -> omfile, for a ratio.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { join } from 'node:path';
import { topicCount } from '../helpers/procs.js';
import { generateFiles } from './gen-nginx.js';
import { agentNodeFlags, atLeast, atMost, envNumber, GiB, info, log, mib, MiB, perGiB, progress, scratch, sleep, spawnService, stopService, waitReady, type BenchOptions, type Row, type Scenario, type ScenarioResult } from './harness.js';
import { availableParallelism } from 'node:os';
import { ProcWatch, settledCpu, threadCpu, threadGroups, threadSplit, v8PoolSize } from './proc-stats.js';
import { benchStack, type BenchStack } from './stack.js';
import { findRsyslogd, runRsyslog } from './rsyslog-compare.js';
import { summarizeDir } from './top-profile.js';

const TOPIC = 'bench';

export const fileToAggregator: Scenario = {
  name: 'file-to-aggregator',
  title: 'file -> agent -> aggregator (durable), throughput and cost',
  run,
};

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('f2a');
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  try {
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const nFiles = envNumber('BENCH_FILES', 1);
    const paths = Array.from({ length: nFiles }, (_, i) => join(logs, `access-${i}.log`));
    log(`generating ${mib(o.bytes)} MiB of nginx lines in ${nFiles} file(s) (not timed)`);
    let genDone = 0;
    const gp = progress(() => `generating: ${mib(genDone)} / ${mib(o.bytes)} MiB`);
    const gen = await generateFiles(paths, o.bytes, 42, (d) => (genDone = d)).finally(() => gp.stop());
    log(`generated ${gen.lines} lines, ${mib(gen.bytes)} MiB, ${(gen.bytes / gen.lines).toFixed(1)} bytes a line`);

    const profile = o.profile
      ? { agentDir: join(o.resultsDir, 'profiles', o.stamp, 'agent'), aggregatorDir: join(o.resultsDir, 'profiles', o.stamp, 'aggregator') }
      : undefined;
    const stack = await benchStack(
      tmp.dir,
      [{ type: 'file', topic: TOPIC, include: [join(logs, '*.log')], start_at: 'beginning' }],
      { agent: { batch: { max_bytes: '1MiB', max_wait: '1s' } } },
      profile,
    );
    const agg = await stack.startAggregator();
    // The agent's start-up alone: the same binary, flags and config on an empty input directory.
    const startup = await agentStartupCpu(stack, join(tmp.dir, 'startup'));
    log(`agent start-up: ${startup.toFixed(3)} CPU s (same config, empty input directory, until its CPU settles)`);
    const aw = new ProcWatch(agg.pid);
    const t0 = performance.now();
    const agent = await withAgentEnv(() => stack.startAgent());
    aw.mark();
    const aggThreads0 = threadCpu(agg.pid);
    const gw = new ProcWatch(agent.pid);
    let count = 0;
    const pr = progress(() => {
      const s = (performance.now() - t0) / 1000;
      const done = (count / gen.lines) * gen.bytes;
      return `file-to-aggregator: ${mib(done)} / ${mib(gen.bytes)} MiB acked (${count} / ${gen.lines} lines), ${(done / MiB / s).toFixed(1)} MiB/s`;
    });
    const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
    try {
      for (;;) {
        count = await topicCount(stack.aggUrl, TOPIC).catch(() => count);
        aw.sample();
        gw.sample();
        if (count >= gen.lines) break;
        if (agent.child.exitCode !== null) throw new Error(`agent exited early (${agent.child.exitCode}):\n${agent.output().slice(-3000)}`);
        if (agg.child.exitCode !== null) throw new Error(`aggregator exited early (${agg.child.exitCode}):\n${agg.output().slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`timed out with ${count} of ${gen.lines} lines acknowledged`);
        await sleep(200);
      }
    } finally {
      pr.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    aw.sample();
    gw.sample();
    // The aggregator runs min(2, CPUs) payload workers (aggregator/index.ts): the busiest threads after its main one.
    const split = threadSplit(agg.pid, aggThreads0, threadCpu(agg.pid), Math.min(2, availableParallelism()));
    // The agent compresses on zstd's own threads, one per zstd context, and keeps compression.threads + 1
    // contexts (2 by default: agent/index.ts, lib/codec/zstd-pool.ts) that take batches in turn: its two
    // busiest threads after the main one.
    const agentThreadsEnd = threadCpu(agent.pid);
    const zstdThreads = 2;
    const agentSplit = threadSplit(agent.pid, new Map(), agentThreadsEnd, zstdThreads);
    // The same CPU per thread group: V8's platform pool (GC helpers, compiler), zstd's threads, libuv's pool.
    const agentGroups = threadGroups(agent.pid, new Map(), agentThreadsEnd, { workers: zstdThreads, v8Pool: v8PoolSize(agentNodeFlags(), availableParallelism()) });
    // A duplicate would show up as more lines than written.
    await sleep(1_000);
    const final = await topicCount(stack.aggUrl, TOPIC);
    if (final !== gen.lines) notes.push(`LINE COUNT MISMATCH: aggregator holds ${final}, wrote ${gen.lines}`);
    // How the agent cut its sends: every request costs the aggregator an HTTP round and a group-commit fsync.
    const sends = await sendCounts(stack.aggUrl).catch(() => undefined);
    // Batches the agent had to read back from its disk buffer's files (not in its in-memory recent cache).
    const readBacks = await agentReadBacks(stack.statusPort).catch(() => undefined);
    const agentExit = await stopService(agent);
    const aggExit = await stopService(agg);
    if (agentExit !== 0 || aggExit !== 0) notes.push(`exit codes: agent ${agentExit}, aggregator ${aggExit}`);

    const mibs = gen.bytes / MiB / seconds;
    const total = aw.cpu + gw.cpu;
    raw.logship = { bytes: gen.bytes, lines: gen.lines, seconds, agentCpu: gw.cpu, aggregatorCpu: aw.cpu, aggregatorThreads: split, agentThreads: agentSplit, agentThreadGroups: agentGroups, agentStartupCpu: startup, agentUvThreadpoolSize: process.env.BENCH_AGENT_UV_THREADPOOL_SIZE ?? '', agentNodeFlags: agentNodeFlags(), agentPeakRss: gw.peakRss, aggregatorPeakRss: aw.peakRss };
    const rows: Row[] = [
      info('data', `${mib(gen.bytes)} MiB, ${gen.lines} lines, ${nFiles} file(s)`),
      info('elapsed', seconds, 's', 2),
      atLeast('throughput', mibs, 240, 'MiB/s'),
      info('lines/s', Math.round(gen.lines / seconds), 'lines/s', 0),
      info('agent CPU', perGiB(gw.cpu, gen.bytes), 'CPU s/GiB', 2),
      // Start-up included (module loading and compiling, ~0.3-0.8 CPU s whatever the size): a reduced run overstates the per-GiB cost.
      info('  main thread (read, cut lines, buffer append, HTTP)', perGiB(agentSplit.main, gen.bytes), 'CPU s/GiB', 2),
      info('  compression (zstd\'s threads)', perGiB(agentSplit.workers, gen.bytes), 'CPU s/GiB', 2),
      info('  other threads (file read/write + fsync, V8 GC and JIT)', perGiB(agentSplit.other, gen.bytes), 'CPU s/GiB', 2),
      info('    of which V8 platform threads (concurrent/parallel GC, compiler)', perGiB(agentGroups.v8, gen.bytes), 'CPU s/GiB', 2),
      info('    of which libuv pool (file reads, buffer writes, fsync)', perGiB(agentGroups.libuv, gen.bytes), 'CPU s/GiB', 2),
      info('agent start-up (separate start, empty input)', startup, 'CPU s', 3),
      info('agent CPU excluding start-up', perGiB(Math.max(0, gw.cpu - startup), gen.bytes), 'CPU s/GiB', 2),
      info('aggregator CPU', perGiB(aw.cpu, gen.bytes), 'CPU s/GiB', 2),
      info('  main thread (HTTP, decode + CRC, append)', perGiB(split.main, gen.bytes), 'CPU s/GiB', 2),
      info('  payload workers (inflate + check)', perGiB(split.workers, gen.bytes), 'CPU s/GiB', 2),
      info('  other threads (write + fsync, GC, JIT)', perGiB(split.other, gen.bytes), 'CPU s/GiB', 2),
      // issue 17: agent + aggregator at most 2.6 CPU s/GiB (a quarter of Fluent Bit's 10.4 on this machine)
      atMost('CPU together', perGiB(total, gen.bytes), 2.6, 'CPU s/GiB', 2),
      info('CPU together excluding agent start-up', perGiB(Math.max(0, total - startup), gen.bytes), 'CPU s/GiB', 2),
      atMost('agent peak RSS', gw.peakRss / MiB, 80, 'MiB'),
      info('aggregator peak RSS', aw.peakRss / MiB, 'MiB'),
      ...(sends && sends.requests > 0 ? [info('agent requests (POST /v1/batches)', sends.requests / (gen.bytes / GiB), 'per GiB', 0)] : []),
      ...(sends ? [info('batches stored', sends.batches / (gen.bytes / GiB), 'per GiB', 0)] : []),
      // zstd payload bytes the agent sent and the aggregator stored (compression.level trades these against CPU).
      ...(sends && sends.storedBytes > 0
        ? [info('compressed bytes on the wire / stored', sends.storedBytes / MiB / (gen.bytes / GiB), 'MiB per GiB', 1), info('compression ratio', gen.bytes / sends.storedBytes, 'x', 2)]
        : []),
      ...(readBacks !== undefined ? [info('agent buffer read-backs', readBacks / (gen.bytes / GiB), 'batches per GiB', 0)] : []),
    ];
    if (sends) raw.sends = sends;
    if (readBacks !== undefined) raw.agentReadBacks = readBacks;
    // Requests taken by ingest processes are counted there, not in the writer's /metrics.
    if (sends && sends.requests === 0) notes.push('agent requests per GiB not shown: the aggregator main process counted none (taken by its ingest processes)');

    if (profile) {
      for (const [who, dir] of [['agent', profile.agentDir], ['aggregator', profile.aggregatorDir]] as const) {
        try {
          raw[`profile_${who}`] = await summarizeDir(dir, who, log);
          notes.push(`${who} CPU profiles: ${dir}`);
          if (who === 'agent') notes.push('BENCH_PROFILE=1: --cpu-prof adds its own CPU (1 ms sampling per thread) to the figures above');
        } catch (err) {
          notes.push(`no ${who} profile: ${(err as Error).message}`);
        }
      }
    }

    const rsyslogd = process.env.BENCH_RSYSLOG === '0' ? undefined : await findRsyslogd();
    if (!rsyslogd) {
      notes.push(process.env.BENCH_RSYSLOG === '0' ? 'rsyslog comparison skipped (BENCH_RSYSLOG=0)' : 'rsyslog comparison skipped: rsyslogd not on PATH');
    } else {
      await rm(join(tmp.dir, 'agg-data'), { recursive: true, force: true });
      await rm(join(tmp.dir, 'agent-data'), { recursive: true, force: true });
      try {
        const r = await runRsyslog(rsyslogd, tmp.dir, paths, gen);
        raw.rsyslog = r;
        const rmibs = gen.bytes / MiB / r.seconds;
        rows.push(
          info('rsyslog throughput', rmibs, 'MiB/s'),
          info('rsyslog CPU together', perGiB(r.senderCpu + r.receiverCpu, gen.bytes), 'CPU s/GiB', 2),
          info('rsyslog peak RSS sender / receiver', `${mib(r.senderPeakRss)} / ${mib(r.receiverPeakRss)}`, 'MiB'),
          info('logship / rsyslog throughput', mibs / rmibs, 'x', 2),
          info('rsyslog / logship CPU per GiB', (r.senderCpu + r.receiverCpu) / total, 'x', 2),
        );
      } catch (err) {
        notes.push(`rsyslog comparison failed: ${(err as Error).message.slice(0, 2000)}`);
      }
    }
    if (process.env.BENCH_AGENT_UV_THREADPOOL_SIZE) notes.push(`agent ran with UV_THREADPOOL_SIZE=${process.env.BENCH_AGENT_UV_THREADPOOL_SIZE} (BENCH_AGENT_UV_THREADPOOL_SIZE)`);
    if (process.env.BENCH_AGENT_NODE_FLAGS !== undefined) notes.push(`agent node flags from BENCH_AGENT_NODE_FLAGS: '${process.env.BENCH_AGENT_NODE_FLAGS}'`);
    notes.push('agent start-up: CPU of a separate start of the same agent (flags, config, env) on an empty input directory, from spawn until /healthz answers and its CPU stops growing; the totals above still include it');
    if (process.env.BENCH_AGENT_CONFIG) notes.push(`agent config merged from BENCH_AGENT_CONFIG: ${process.env.BENCH_AGENT_CONFIG}`);
    if (o.bytes < GiB) notes.push(`reduced run: ${mib(gen.bytes)} MiB instead of 1 GiB`);
    return { scenario: fileToAggregator.name, seconds, rows, notes, raw };
  } finally {
    await tmp.cleanup();
  }
}

/**
 * BENCH_AGENT_UV_THREADPOOL_SIZE=N: the agent (only) runs with UV_THREADPOOL_SIZE=N, to A/B libuv's pool.
 * The bench's own process and the aggregator keep theirs.
 */
export async function withAgentEnv<T>(start: () => Promise<T>): Promise<T> {
  const uv = process.env.BENCH_AGENT_UV_THREADPOOL_SIZE;
  if (!uv) return start();
  const prev = process.env.UV_THREADPOOL_SIZE;
  process.env.UV_THREADPOOL_SIZE = uv;
  try {
    return await start();
  } finally {
    if (prev === undefined) delete process.env.UV_THREADPOOL_SIZE;
    else process.env.UV_THREADPOOL_SIZE = prev;
  }
}

/**
 * CPU seconds of the agent's start-up alone: the stack's agent config (same flags, env and
 * settings) with its inputs pointed at an empty directory and a data dir of its own, started
 * until its status listener answers and its CPU stops growing, then stopped. Module loading,
 * config, the zstd worker's start, the first scan; no line read.
 */
export async function agentStartupCpu(stack: BenchStack, dir: string): Promise<number> {
  await mkdir(join(dir, 'empty'), { recursive: true });
  const cfg = parse(await readFile(stack.agentConfig, 'utf8')) as { data_dir: string; inputs: { include: string[] }[] };
  cfg.data_dir = join(dir, 'data');
  for (const input of cfg.inputs) input.include = [join(dir, 'empty', '*.log')];
  const path = join(dir, 'agent.yaml');
  await writeFile(path, stringify(cfg));
  const p = await withAgentEnv(async () => spawnService('agent (start-up)', ['agent', '--config', path]));
  try {
    await waitReady(`http://127.0.0.1:${stack.statusPort}/healthz`, p);
    return await settledCpu(p.pid);
  } finally {
    await stopService(p);
    await rm(dir, { recursive: true, force: true });
  }
}

/** logship_agent_buffer_read_back_batches_total from the agent's /metrics. */
async function agentReadBacks(statusPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('logship_agent_buffer_read_back_batches_total '));
  if (!line) throw new Error('no read-back counter');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** POST /v1/batches requests and stored batches, from the aggregator's own metrics. */
async function sendCounts(aggUrl: string): Promise<{ requests: number; batches: number; storedBytes: number }> {
  const text = await (await fetch(`${aggUrl}/metrics`)).text();
  let requests = 0;
  let batches = 0;
  let storedBytes = 0;
  for (const line of text.split('\n')) {
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('logship_aggregator_requests_total{') && line.includes('route="batches"')) requests += v;
    else if (line.startsWith(`logship_aggregator_appended_batches_total{topic="${TOPIC}"}`)) batches += v;
    else if (line.startsWith(`logship_aggregator_appended_bytes_total{topic="${TOPIC}"}`)) storedBytes += v;
  }
  return { requests, batches, storedBytes };
}
