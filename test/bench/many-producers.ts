/**
 * Scenario 3, many producers: 200 simulated agents in this one process, each
 * with its own producer id, host, source and HTTP connection, sending small
 * batches (50 nginx lines, zstd) one request at a time, as fast as acks come
 * back, for 20 s. Measures what the aggregator acknowledges: batches/s, MiB/s
 * (uncompressed) and ack latency.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'undici';
import { BATCHES_CONTENT_TYPE, CODEC_ZSTD, encodeRequest } from '../../lib/protocol/batches.js';
import { topicCount } from '../helpers/procs.js';
import { nginxBatches } from './gen-nginx.js';
import { benchStack } from './stack.js';
import { atLeast, atMost, envNumber, info, log, MiB, percentile, progress, scratch, sleep, stopService, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { ProcWatch } from './proc-stats.js';
import { summarizeDir } from './top-profile.js';

const TOPIC = 'many';
const PAYLOADS = 64;

export const manyProducers: Scenario = {
  name: 'many-producers',
  title: 'many small producers against one aggregator',
  run,
};

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('many');
  const producers = envNumber('BENCH_PRODUCERS', 200);
  const seconds = envNumber('BENCH_PRODUCER_SECONDS', 20);
  const linesPer = envNumber('BENCH_PRODUCER_LINES', 50);
  const notes: string[] = [];
  try {
    const payloads = nginxBatches(99, PAYLOADS, linesPer);
    const profileDir = o.profile ? join(o.resultsDir, 'profiles', o.stamp, 'many-producers-aggregator') : undefined;
    const stack = await benchStack(tmp.dir, [{ type: 'file', topic: TOPIC, include: ['/nonexistent'] }], {}, profileDir ? { aggregatorDir: profileDir } : undefined);
    const agg = await stack.startAggregator();
    const aw = new ProcWatch(agg.pid);
    const run = randomUUID().slice(0, 8);

    let acked = 0;
    let rawBytes = 0;
    let errors = 0;
    let lastError = '';
    const lat: number[] = [];
    let measuring = true;
    const clients: Client[] = [];

    const producer = async (i: number): Promise<void> => {
      const client = new Client(stack.aggUrl, { pipelining: 1, keepAliveTimeout: 60_000 });
      clients.push(client);
      const id = `bench-${i}/${run}`;
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
            batches: [{ topic: TOPIC, source, seq, sourceOffset: srcOffset, lines: linesPer, timestamp: Date.now(), codec: CODEC_ZSTD, flags: 0, rawLength: p.rawLength, payload: p.payload }],
          }),
        );
        const t = performance.now();
        try {
          const res = await client.request({ path: '/v1/batches', method: 'POST', body, headers: { 'content-type': BATCHES_CONTENT_TYPE } });
          const text = await res.body.text();
          if (res.statusCode !== 200) {
            errors++;
            lastError = `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
            await sleep(50);
            continue;
          }
        } catch (err) {
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

    log(`many producers: ${producers} producers, ${linesPer} lines a batch, ${seconds} s`);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    aw.mark();
    const pr = progress(() => {
      const s = (performance.now() - t0) / 1000;
      return `many-producers: ${s.toFixed(0)} / ${seconds} s, ${acked} batches acked (${Math.round(acked / s)}/s), ${errors} errors`;
    });
    const loops = Array.from({ length: producers }, (_, i) => producer(i));
    const ticker = setInterval(() => aw.sample(), 1_000);
    await sleep(seconds * 1000);
    measuring = false;
    aw.sample();
    const elapsed = (performance.now() - t0) / 1000;
    const ackedInWindow = acked;
    const bytesInWindow = rawBytes;
    clearInterval(ticker);
    pr.stop();
    const clientCpu = process.cpuUsage(cpu0);
    await Promise.all(loops);
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    const stored = await topicCount(stack.aggUrl, TOPIC);
    // Requests still in flight when the window closed are stored but not counted above.
    if (stored < ackedInWindow * linesPer) notes.push(`STORED ${stored} lines, fewer than the ${ackedInWindow * linesPer} acknowledged`);
    if (errors) notes.push(`${errors} failed requests; last: ${lastError}`);
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

    const sorted = Float64Array.from(lat).sort();
    const p99 = percentile(sorted, 99);
    return {
      scenario: manyProducers.name,
      seconds: elapsed,
      rows: [
        info('producers x lines a batch', `${producers} x ${linesPer}`),
        atLeast('acked batches/s', ackedInWindow / elapsed, 20_000, 'batches/s', 0),
        info('lines/s', Math.round((ackedInWindow * linesPer) / elapsed), 'lines/s', 0),
        info('throughput (uncompressed)', bytesInWindow / MiB / elapsed, 'MiB/s'),
        info('ack latency p50', percentile(sorted, 50), 'ms'),
        atMost('ack latency p99', p99, 50, 'ms'),
        info('ack latency max', percentile(sorted, 100), 'ms'),
        info('aggregator CPU', (100 * aw.cpu) / elapsed, '% of a core'),
        info('aggregator peak RSS', aw.peakRss / MiB, 'MiB'),
        info('client (this process) CPU', (100 * (clientCpu.user + clientCpu.system)) / 1e6 / elapsed, '% of a core'),
      ],
      notes,
      raw: { ...raw, producers, linesPer, seconds: elapsed, acked: ackedInWindow, rawBytes: bytesInWindow, errors, p50: percentile(sorted, 50), p99, max: percentile(sorted, 100), aggregatorCpu: aw.cpu },
    };
  } finally {
    await tmp.cleanup();
  }
}
