/**
 * Scenario 2, live-tail latency: a writer appends nginx lines at a steady rate
 * (20,000 lines/s for 60 s by default), each line starting with its write time
 * (ms, performance.now() of this process); a consumer in the same process
 * long-polls every partition's records and takes write -> visible latency.
 * Records are visible at the aggregator only once fsync'd, so visible implies
 * durably acknowledged.
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { httpJson } from '../helpers/procs.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { atMost, envNumber, info, log, MiB, percentile, progress, scratch, sleep, stopService, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { ProcWatch } from './proc-stats.js';
import { agentReady, benchStack } from './stack.js';

const TOPIC = 'tail';
const TICK_MS = 10;

export const liveTail: Scenario = {
  name: 'live-tail',
  title: 'live tail, write -> visible (durable) latency',
  run,
};

interface RecordsPage {
  next_offset: number;
  records: Array<{ message: string; timestamp: string }>;
}

async function run(_o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('tail');
  const rate = envNumber('BENCH_TAIL_RATE', 20_000);
  const seconds = envNumber('BENCH_TAIL_SECONDS', 60);
  const maxWait = process.env.BENCH_TAIL_WAIT ?? '1s';
  const notes: string[] = [];
  try {
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'live.log');
    const fh = await open(file, 'a');
    const stack = await benchStack(tmp.dir, [{ type: 'file', topic: TOPIC, include: [join(logs, '*.log')], start_at: 'beginning' }], {
      agent: { batch: { max_bytes: '1MiB', max_wait: maxWait } },
    });
    const agg = await stack.startAggregator();
    const agent = await stack.startAgent();
    await agentReady(stack, agent);
    const aw = new ProcWatch(agg.pid);
    const gw = new ProcWatch(agent.pid);

    const total = Math.round(rate * seconds);
    const lat = new Float64Array(total);
    /** each line's write time, ms after t0, beside its latency: latency over the run */
    const wrote = new Float64Array(total);
    /** write -> the agent's read of the line's batch (the batch's timestamp): the batching wait in the file */
    const inFile = new Float64Array(total);
    /** consumer's JSON.parse of each page: the bench's own cost, not counted in the latency */
    const parseMs: number[] = [];
    const epoch = performance.timeOrigin;
    let t0 = performance.now();
    let received = 0;
    let written = 0;
    let bytesWritten = 0;
    let stopConsumers = false;
    const rng = makeRng(7);

    // Consumer: one long-poll loop per partition, started once the topic exists.
    const consume = async (partition: number): Promise<void> => {
      let offset = 0;
      while (!stopConsumers) {
        let page: RecordsPage;
        let now: number;
        try {
          const res = await request(`${stack.aggUrl}/v1/topics/${TOPIC}/partitions/${partition}/records?offset=${offset}&wait_ms=1000&max_bytes=${4 * MiB}`);
          const text = await res.body.text();
          if (res.statusCode !== 200) throw new Error(`records: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
          // Visible: the whole response is here (the aggregator's decoding and serializing counted);
          // parsing it is this process's work, timed apart.
          now = performance.now();
          page = JSON.parse(text) as RecordsPage;
          parseMs.push(performance.now() - now);
        } catch {
          await sleep(50);
          continue;
        }
        let readAt = NaN;
        let stamp = '';
        for (const r of page.records) {
          const sp = r.message.indexOf(' ');
          const t = Number(r.message.slice(2, sp));
          if (r.timestamp !== stamp) {
            stamp = r.timestamp;
            readAt = Date.parse(stamp) - epoch;
          }
          if (received < total) {
            lat[received] = now - t;
            wrote[received] = t - t0;
            inFile[received] = readAt - t;
          }
          received++;
        }
        offset = page.next_offset;
      }
    };
    const consumers: Promise<void>[] = [];
    const startConsumers = (async () => {
      for (;;) {
        const t = await httpJson<{ topics: Array<{ name: string; partitions: unknown[] }> }>(`${stack.aggUrl}/v1/topics`).catch(() => undefined);
        const topic = t?.topics.find((x) => x.name === TOPIC);
        if (topic) {
          for (let p = 0; p < topic.partitions.length; p++) consumers.push(consume(p));
          return;
        }
        if (stopConsumers) return;
        await sleep(20);
      }
    })();

    log(`live tail: ${rate} lines/s for ${seconds} s, batch.max_wait ${maxWait}`);
    const pr = progress(() => `live-tail: ${written} / ${total} lines written, ${received} visible`);
    t0 = performance.now();
    aw.mark();
    gw.mark();
    let sec = 1_760_000_000;
    try {
      // Writer: every tick, catch up to rate * elapsed; all lines of a write carry its time.
      while (written < total) {
        const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
        if (due > written) {
          const parts: string[] = [];
          const now = performance.now();
          const stamp = `t=${now.toFixed(3)} `;
          for (let i = written; i < due; i++) {
            if (i % 200 === 0) sec++;
            parts.push(nginxLine(rng, sec, stamp), '\n');
          }
          const s = parts.join('');
          await fh.write(s);
          bytesWritten += s.length;
          written = due;
        }
        await sleep(TICK_MS);
      }
      const writeSeconds = (performance.now() - t0) / 1000;
      const deadline = Date.now() + 60_000;
      while (received < total && Date.now() < deadline) await sleep(50);
      aw.sample();
      gw.sample();
      const runSeconds = (performance.now() - t0) / 1000;
      stopConsumers = true;
      await startConsumers;
      await Promise.all(consumers);
      await fh.close();
      if (received !== total) notes.push(`RECEIVED ${received} of ${total} lines`);
      await stopService(agent);
      await stopService(agg);

      const n = Math.min(received, total);
      const bySecond = perSecondP99(lat.subarray(0, n), wrote.subarray(0, n));
      // the part after the agent's read: compress, buffer fsync, send, store + group-commit fsync, long-poll, response
      const after = new Float64Array(n);
      for (let i = 0; i < n; i++) after[i] = lat[i]! - inFile[i]!;
      after.sort();
      const waited = inFile.subarray(0, n).sort();
      const parses = Float64Array.from(parseMs).sort();
      const got = lat.subarray(0, n).sort();
      const waitMs = parseDuration(maxWait);
      const p99 = percentile(got, 99);
      return {
        scenario: liveTail.name,
        seconds: runSeconds,
        rows: [
          info('writer', `${total} lines at ${rate}/s over ${writeSeconds.toFixed(1)} s, ${(bytesWritten / MiB / writeSeconds).toFixed(2)} MiB/s`),
          info('batch.max_wait (configured)', maxWait),
          info('latency p50', percentile(got, 50), 'ms'),
          info('latency p90', percentile(got, 90), 'ms'),
          atMost('latency p99', p99, waitMs + 100, 'ms'),
          info('latency max', percentile(got, 100), 'ms'),
          info('  in the file until read (batching: max_wait / max_bytes) p50 / p99', `${fmt(percentile(waited, 50))} / ${fmt(percentile(waited, 99))}`, 'ms'),
          info('  read -> visible (agent pipeline, send, store, fsync, long-poll) p50 / p99', `${fmt(percentile(after, 50))} / ${fmt(percentile(after, 99))}`, 'ms'),
          info('consumer JSON.parse per page (not counted) p50 / p99', `${fmt(percentile(parses, 50))} / ${fmt(percentile(parses, 99))} over ${parses.length} pages`, 'ms'),
          info('p99 per second of writing: worst / median second', `${fmt(Math.max(...bySecond))} / ${fmt(percentile(Float64Array.from(bySecond).sort(), 50))}`, 'ms'),
          info('agent CPU', (100 * gw.cpu) / runSeconds, '% of a core'),
          info('aggregator CPU', (100 * aw.cpu) / runSeconds, '% of a core'),
          info('agent peak RSS', gw.peakRss / MiB, 'MiB'),
        ],
        // the whole per-second series as a note: as a table row it would widen every column
        notes: [...notes, `p99 per second of writing (ms): ${bySecond.map((x) => Math.round(x)).join(' ')}`],
        raw: { rate, seconds, maxWait, received, total, p50: percentile(got, 50), p90: percentile(got, 90), p99, max: percentile(got, 100), p99PerSecond: bySecond,
          inFileP50: percentile(waited, 50), inFileP99: percentile(waited, 99), afterReadP50: percentile(after, 50), afterReadP99: percentile(after, 99), parseP99: percentile(parses, 99), pages: parses.length },
      };
    } finally {
      pr.stop();
      stopConsumers = true;
    }
  } finally {
    await tmp.cleanup();
  }
}

/** p99 latency of the lines written in each second of the run, in write order. */
function perSecondP99(lat: Float64Array, wrote: Float64Array): number[] {
  const buckets: number[][] = [];
  for (let i = 0; i < lat.length; i++) (buckets[Math.max(0, Math.floor(wrote[i]! / 1000))] ??= []).push(lat[i]!);
  return Array.from(buckets, (b) => (b ? percentile(Float64Array.from(b).sort(), 99) : NaN));
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(s.trim());
  if (!m) return NaN;
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm'] ?? 1);
}
