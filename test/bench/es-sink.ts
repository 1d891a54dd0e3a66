/**
 * Scenario es-sink: stored batches -> the elasticsearch sink -> a fake
 * Elasticsearch in count-only mode (it counts NDJSON lines, parses nothing).
 * N records (default 1,000,000 nginx-like lines, zstd batches of 1,000 in 2
 * partitions) are stored first (not timed); then `logship aggregator` runs
 * with one elasticsearch sink and the clock runs from its readiness until the
 * fake has counted N documents. Run once with gzip on (the default) and once
 * with it off, each with a fresh sink name so each reads the log from the
 * start. Reports docs/s and the aggregator's CPU seconds per million docs,
 * split into its main thread (the event loop: reading storage, posting jobs,
 * HTTP) and its other threads (payload workers building and gzipping the
 * request bodies, GC helpers), with how busy each was over the run: what
 * bounds the rate (a thread near 100 %, or both cores taken).
 *
 *   BENCH_ES_DOCS=2000000 npm run bench -- es-sink
 *   BENCH_PROFILE=1 npm run bench -- es-sink     (a .cpuprofile per run in bench-results/)
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { Aggregator } from '../../aggregator/index.js';
import { parseAggregatorConfig } from '../../aggregator/config.js';
import { compressSync } from '../../lib/codec/zstd-pool.js';
import { silentLogger } from '../../lib/obs/logger.js';
import { freePort, writeYaml } from '../helpers/procs.js';
import { startFakeElasticsearch } from '../fakes/elasticsearch.js';
import { atLeast, envNumber, info, log, progress, scratch, sleep, spawnService, stopService, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { readFileSync } from 'node:fs';
import { clkTck, cpuSeconds } from './proc-stats.js';

/** CPU seconds of one thread (the main thread: tid = pid). */
function threadCpuSeconds(pid: number, tid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clkTck();
  } catch {
    return 0;
  }
}

const TOPIC = 'web';
const PER_BATCH = 1000;

export const esSink: Scenario = {
  name: 'es-sink',
  title: 'stored batches -> elasticsearch sink -> counting fake Elasticsearch',
  run,
};

function line(i: number): string {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return `${ip} - - [01/Dec/2026:12:00:${String(i % 60).padStart(2, '0')} +0000] "GET /api/v1/items/${i % 9973}?page=${i % 17} HTTP/1.1" 200 ${512 + (i % 4096)} "-" "Mozilla/5.0 (X11; Linux x86_64)"`;
}

async function fill(dataDir: string, docs: number): Promise<void> {
  const config = parseAggregatorConfig(`listen: 127.0.0.1:0\ndata_dir: ${dataDir}\ntopics:\n  default: {partitions: 2}\n`, 'fill.yaml', {});
  const agg = new Aggregator({ config, logger: silentLogger(), fsync: false });
  await agg.start();
  try {
    await agg.storage.withTopic(TOPIC, true, async (t) => {
      const offsets = [0, 0];
      for (let first = 0, b = 0; first < docs; first += PER_BATCH, b++) {
        const n = Math.min(PER_BATCH, docs - first);
        const raw = Buffer.from(Array.from({ length: n }, (_, k) => `${line(first + k)}\n`).join(''));
        const p = b % 2;
        await t!.partitions[p]!.appendPlain([
          { meta: { flags: 0, codec: 1, host: `web${p}`, source: `/var/log/nginx/access-${p}.log`, sourceOffset: offsets[p]!, rawLength: raw.length }, payload: compressSync(raw), lines: n, timestamp: Date.now() },
        ]);
        offsets[p]! += raw.length;
      }
    });
  } finally {
    await agg.close();
  }
}

interface RunResult {
  seconds: number;
  cpu: number;
  /** of cpu: the main thread's */
  mainCpu: number;
  bytesSent: number;
  docs: number;
  requests: number;
}

async function runOnce(dir: string, dataDir: string, docs: number, gzip: boolean, profileDir: string | undefined): Promise<RunResult> {
  const es = await startFakeElasticsearch({ countOnly: true });
  try {
    const port = await freePort();
    const name = gzip ? 'es_gzip' : 'es_plain';
    const cfgPath = await writeYaml(join(dir, `${name}.yaml`), {
      listen: `127.0.0.1:${port}`,
      data_dir: dataDir,
      topics: { default: { partitions: 2 } },
      sinks: [{ name, type: 'elasticsearch', topics: [TOPIC], urls: [es.url], gzip }],
    });
    const agg = spawnService(`aggregator (${name})`, ['aggregator', '--config', cfgPath, '--log-level', 'warn'], { profileDir });
    try {
      for (let i = 0; ; i++) {
        const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
        if (ok) break;
        if (agg.child.exitCode !== null || i > 600) throw new Error(`aggregator did not get ready:\n${agg.output().slice(-3000)}`);
        await sleep(50);
      }
      const cpu0 = cpuSeconds(agg.pid) ?? 0;
      const main0 = threadCpuSeconds(agg.pid, agg.pid);
      const t0 = performance.now();
      const pr = progress(() => `es-sink (gzip ${gzip ? 'on' : 'off'}): ${es.stats.countedDocs} / ${docs} documents`);
      try {
        const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
        while (es.stats.countedDocs < docs) {
          if (agg.child.exitCode !== null) throw new Error(`aggregator exited:\n${agg.output().slice(-3000)}`);
          if (Date.now() > deadline) throw new Error(`timed out at ${es.stats.countedDocs} of ${docs} documents`);
          await sleep(20);
        }
      } finally {
        pr.stop();
      }
      const seconds = (performance.now() - t0) / 1000;
      const cpu = (cpuSeconds(agg.pid) ?? 0) - cpu0;
      const mainCpu = threadCpuSeconds(agg.pid, agg.pid) - main0;
      return { seconds, cpu, mainCpu, bytesSent: es.stats.bulkBytes, docs: es.stats.countedDocs, requests: es.stats.bulkRequests };
    } finally {
      await stopService(agg);
    }
  } finally {
    await es.close();
  }
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const docs = Math.round(envNumber('BENCH_ES_DOCS', 1_000_000));
  const tmp = await scratch('es-sink');
  const notes: string[] = [];
  try {
    const dataDir = join(tmp.dir, 'data');
    log(`storing ${docs} records (not timed)`);
    await fill(dataDir, docs);
    const rows = [];
    const raw: Record<string, unknown> = { docs, loadavgBefore: loadavg() };
    for (const gzip of [true, false]) {
      const r = await runOnce(tmp.dir, dataDir, docs, gzip, o.profile ? o.resultsDir : undefined);
      const rate = docs / r.seconds;
      const tag = gzip ? 'gzip on' : 'gzip off';
      log(`${tag}: ${docs} docs in ${r.seconds.toFixed(2)} s = ${Math.round(rate)} docs/s; aggregator CPU ${r.cpu.toFixed(2)} s; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
      rows.push(gzip ? atLeast(`docs/s (${tag})`, rate, 150_000, 'docs/s', 0) : info(`docs/s (${tag})`, rate, 'docs/s', 0));
      rows.push(info(`aggregator CPU per million docs (${tag})`, (r.cpu / docs) * 1e6, 's', 2));
      rows.push(info(`  main thread (${tag})`, (r.mainCpu / docs) * 1e6, 's', 2));
      rows.push(info(`  other threads: payload workers, GC (${tag})`, ((r.cpu - r.mainCpu) / docs) * 1e6, 's', 2));
      rows.push(info(`main thread busy (${tag})`, (r.mainCpu / r.seconds) * 100, '%', 0));
      rows.push(info(`other threads busy, in cores (${tag})`, (r.cpu - r.mainCpu) / r.seconds, 'cores', 2));
      rows.push(info(`bytes sent per doc (${tag})`, r.bytesSent / r.docs, 'B', 1));
      rows.push(info(`bulk requests (${tag})`, r.requests, '', 0));
      raw[tag] = { ...r, loadavgAfter: loadavg() };
    }
    notes.push(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (the machine is shared: figures are not bounds)`);
    return { scenario: 'es-sink', seconds: 0, rows, notes, raw };
  } finally {
    await tmp.cleanup();
  }
}
