/**
 * Scenario: file -> agents -> two aggregators -> JetStream R3 (issue 15),
 * beside file -> agents -> one aggregator with local storage, in the same run
 * on the same generated files. Two files, two agents; on JetStream agent i
 * sends to aggregator i first (urls in a different order), so both
 * aggregators ingest. A real 3-node nats-server cluster on loopback (temp
 * stores). Timed from the agents' spawn until every line is acknowledged;
 * CPU of the aggregators and the NATS nodes together per GiB, agents apart.
 *
 * Size: BENCH_JS_BYTES (default min(--bytes, 256 MiB)): replicated publishes
 * are slower than local appends, and the machine is shared.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, topicCount, writeYaml } from '../helpers/procs.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';
import { generateFiles, type Generated } from './gen-nginx.js';
import { envNumber, info, log, mib, MiB, parseBytes, perGiB, progress, scratch, sleep, spawnService, stopService, waitReady, type BenchOptions, type Row, type Scenario, type ScenarioResult, type Service } from './harness.js';
import { ProcWatch } from './proc-stats.js';

const TOPIC = 'bench';

export const jetstreamIngest: Scenario = {
  name: 'jetstream-ingest',
  title: 'file -> agents -> two aggregators -> JetStream R3, beside local storage',
  run,
};

interface Leg {
  seconds: number;
  aggCpu: number;
  natsCpu: number;
  agentCpu: number;
  count: number;
}

async function leg(dir: string, name: string, files: string[], gen: Generated, storage: Record<string, unknown> | undefined, natsPids: number[]): Promise<Leg> {
  const aggs = storage ? 2 : 1;
  const ports = await Promise.all(Array.from({ length: aggs }, () => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const aggProcs: Service[] = [];
  for (let i = 0; i < aggs; i++) {
    const cfg = await writeYaml(join(dir, `${name}-agg-${i}.yaml`), {
      listen: `127.0.0.1:${ports[i]}`,
      data_dir: join(dir, `${name}-agg-${i}`),
      topics: { default: { partitions: 4, retention_bytes: '1GiB' } },
      ...(storage ? { storage } : {}),
    });
    const p = spawnService(`${name}-aggregator-${i}`, ['aggregator', '--config', cfg]);
    await waitReady(`${urls[i]}/readyz`, p, true, 60_000);
    aggProcs.push(p);
  }
  const aw = aggProcs.map((p) => new ProcWatch(p.pid));
  const nw = natsPids.map((pid) => new ProcWatch(pid));
  const agents: Service[] = [];
  const t0 = performance.now();
  for (let i = 0; i < files.length; i++) {
    const cfg = await writeYaml(join(dir, `${name}-agent-${i}.yaml`), {
      id: `bench-${i}`,
      data_dir: join(dir, `${name}-agent-${i}`),
      aggregator: { urls: [...urls.slice(i % aggs), ...urls.slice(0, i % aggs)], max_backoff: '1s' },
      inputs: [{ type: 'file', topic: TOPIC, include: [files[i]!], start_at: 'beginning' }],
      batch: { max_bytes: '1MiB', max_wait: '1s' },
      status: { listen: `127.0.0.1:${await freePort()}` },
    });
    agents.push(spawnService(`${name}-agent-${i}`, ['agent', '--config', cfg]));
  }
  const gw = agents.map((a) => new ProcWatch(a.pid));
  let count = 0;
  const pr = progress(() => `${name}: ${count} / ${gen.lines} lines, ${((count / gen.lines) * gen.bytes / MiB / ((performance.now() - t0) / 1000)).toFixed(1)} MiB/s`);
  const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
  try {
    for (;;) {
      count = await topicCount(urls[0]!, TOPIC).catch(() => count);
      for (const w of [...aw, ...nw, ...gw]) w.sample();
      if (count >= gen.lines) break;
      for (const s of [...aggProcs, ...agents]) if (s.child.exitCode !== null) throw new Error(`${s.name} exited early (${s.child.exitCode}):\n${s.output().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${name}: timed out with ${count} of ${gen.lines} lines acknowledged`);
      await sleep(200);
    }
  } finally {
    pr.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  for (const w of [...aw, ...nw, ...gw]) w.sample();
  await sleep(1000);
  count = await topicCount(urls[0]!, TOPIC);
  for (const s of [...agents, ...aggProcs]) await stopService(s);
  const sum = (ws: ProcWatch[]) => ws.reduce((a, w) => a + w.cpu, 0);
  return { seconds, aggCpu: sum(aw), natsCpu: sum(nw), agentCpu: sum(gw), count };
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('js');
  const notes: string[] = [];
  const bytes = process.env.BENCH_JS_BYTES ? parseBytes(process.env.BENCH_JS_BYTES) : Math.min(o.bytes, 256 * MiB);
  try {
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const files = [join(logs, 'access-0.log'), join(logs, 'access-1.log')];
    log(`generating ${mib(bytes)} MiB of nginx lines in 2 files (not timed)`);
    const gen = await generateFiles(files, bytes, 42);

    log('local storage: one aggregator, two agents');
    const local = await leg(tmp.dir, 'local', files, gen, undefined, []);

    log('JetStream: 3 nats-server nodes, R3 streams, two aggregators, two agents');
    const cluster = await startNatsCluster({ size: 3, readyTimeoutMs: 60_000 });
    let js: Leg;
    try {
      js = await leg(tmp.dir, 'jetstream', files, gen, { type: 'jetstream', servers: cluster.urls, replicas: 3 }, cluster.nodes.map((n) => n.pid!));
    } finally {
      await cluster.stop();
    }
    for (const [n, l] of [['local', local], ['jetstream', js]] as const) if (l.count !== gen.lines) notes.push(`LINE COUNT MISMATCH (${n}): ${l.count} stored, ${gen.lines} written`);
    const rows: Row[] = [
      info('data', `${mib(gen.bytes)} MiB, ${gen.lines} lines, 2 files, 2 agents`),
      info('local: throughput', gen.bytes / MiB / local.seconds, 'MiB/s'),
      info('local: aggregator CPU', perGiB(local.aggCpu, gen.bytes), 'CPU s/GiB', 2),
      info('jetstream: throughput', gen.bytes / MiB / js.seconds, 'MiB/s'),
      info('jetstream: aggregators + NATS CPU', perGiB(js.aggCpu + js.natsCpu, gen.bytes), 'CPU s/GiB', 2),
      info('jetstream: of which NATS', perGiB(js.natsCpu, gen.bytes), 'CPU s/GiB', 2),
      info('agents CPU local / jetstream', `${perGiB(local.agentCpu, gen.bytes).toFixed(2)} / ${perGiB(js.agentCpu, gen.bytes).toFixed(2)}`, 'CPU s/GiB'),
      info('jetstream / local throughput', local.seconds / js.seconds, 'x', 2),
    ];
    notes.push('figures from a shared, loaded machine: compare the two legs of one run, not runs');
    return { scenario: jetstreamIngest.name, seconds: local.seconds + js.seconds, rows, notes, raw: { bytes: gen.bytes, lines: gen.lines, local, jetstream: js } };
  } finally {
    await tmp.cleanup();
  }
}
