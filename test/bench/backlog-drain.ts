/**
 * Scenario 5, backlog drain: the aggregator is down while the agent reads N
 * bytes of nginx lines (default 1 GiB) into its disk buffer; then the
 * aggregator comes up and the clock runs from its readiness until every line
 * is acknowledged. The buffering phase (read + compress + buffer fsync, no
 * delivery) is reported too.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { httpJson, topicCount, writeYaml } from '../helpers/procs.js';
import { generateFiles } from './gen-nginx.js';
import { atLeast, envNumber, GiB, info, log, mib, MiB, perGiB, progress, scratch, sleep, stopService, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { ProcWatch } from './proc-stats.js';
import { agentReady, benchStack } from './stack.js';

const TOPIC = 'drain';

export const backlogDrain: Scenario = {
  name: 'backlog-drain',
  title: 'agent buffer backlog drained after an aggregator outage',
  run,
};

interface StatusJson {
  backlog: { bytes_to_read: number };
  buffer: { bytes: number; unacked_batches: number };
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('drain');
  const notes: string[] = [];
  try {
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const nFiles = envNumber('BENCH_FILES', 1);
    const paths = Array.from({ length: nFiles }, (_, i) => join(logs, `access-${i}.log`));
    log(`generating ${mib(o.bytes)} MiB of nginx lines (not timed)`);
    let genDone = 0;
    const gp = progress(() => `generating: ${mib(genDone)} / ${mib(o.bytes)} MiB`);
    const gen = await generateFiles(paths, o.bytes, 43, (d) => (genDone = d)).finally(() => gp.stop());

    const stack = await benchStack(tmp.dir, [{ type: 'file', topic: TOPIC, include: [join(logs, '*.log')], start_at: 'beginning' }], {
      agent: { batch: { max_bytes: '1MiB', max_wait: '1s' }, buffer: { max_bytes: Math.max(2 * GiB, 2 * gen.bytes) } },
    });
    // Retry often, so that the drain starts right after the aggregator is up (the clock starts at its readiness).
    const agentCfg = parse(await readFile(stack.agentConfig, 'utf8')) as { aggregator: Record<string, unknown> };
    agentCfg.aggregator.max_backoff = '100ms';
    await writeYaml(stack.agentConfig, agentCfg);
    // The agent starts first and buffers while its sends fail.
    const tb0 = performance.now();
    const agent = await stack.startAgent();
    const gw = new ProcWatch(agent.pid);
    await agentReady(stack, agent);
    let st: StatusJson | undefined;
    const statusUrl = `http://127.0.0.1:${stack.statusPort}/status`;
    const bp = progress(() => `backlog-drain, buffering (aggregator down): ${mib(gen.bytes - (st?.backlog.bytes_to_read ?? gen.bytes))} / ${mib(gen.bytes)} MiB read, buffer ${mib(st?.buffer.bytes ?? 0)} MiB`);
    let stableSince = 0;
    let lastUnacked = -1;
    try {
      for (;;) {
        st = await httpJson<StatusJson>(statusUrl).catch(() => st);
        gw.sample();
        if (st && st.backlog.bytes_to_read === 0 && st.buffer.unacked_batches > 0) {
          if (st.buffer.unacked_batches !== lastUnacked) {
            lastUnacked = st.buffer.unacked_batches;
            stableSince = performance.now();
          } else if (performance.now() - stableSince >= 1_000) break;
        }
        if (agent.child.exitCode !== null) throw new Error(`agent exited early:\n${agent.output().slice(-3000)}`);
        await sleep(200);
      }
    } finally {
      bp.stop();
    }
    // The last second was spent confirming the buffer is stable.
    const bufferSeconds = (stableSince - tb0) / 1000;
    const bufferCpu = gw.cpu;
    // VmHWM so far: the peak of the buffering phase, apart from the drain's (which the total row covers).
    const bufferPeakRss = gw.peakRss;
    const bufferedBytes = st!.buffer.bytes;
    log(`buffered ${mib(gen.bytes)} MiB into ${mib(bufferedBytes)} MiB of buffer in ${bufferSeconds.toFixed(1)} s; starting the aggregator`);

    const agg = await stack.startAggregator();
    const t0 = performance.now();
    const aw = new ProcWatch(agg.pid);
    gw.mark();
    let count = 0;
    const pr = progress(() => {
      const s = (performance.now() - t0) / 1000;
      const done = (count / gen.lines) * gen.bytes;
      return `backlog-drain: ${mib(done)} / ${mib(gen.bytes)} MiB acked, ${(done / MiB / s).toFixed(1)} MiB/s`;
    });
    const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
    try {
      for (;;) {
        count = await topicCount(stack.aggUrl, TOPIC).catch(() => count);
        aw.sample();
        gw.sample();
        if (count >= gen.lines) break;
        if (Date.now() > deadline) throw new Error(`timed out with ${count} of ${gen.lines} lines acknowledged`);
        await sleep(200);
      }
    } finally {
      pr.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    aw.sample();
    gw.sample();
    const final = await topicCount(stack.aggUrl, TOPIC);
    if (final !== gen.lines) notes.push(`LINE COUNT MISMATCH: aggregator holds ${final}, wrote ${gen.lines}`);
    await stopService(agent);
    await stopService(agg);
    if (o.bytes < GiB) notes.push(`reduced run: ${mib(gen.bytes)} MiB instead of 1 GiB`);
    notes.push('drain is timed from the aggregator answering /readyz; the agent retries at most 100 ms apart (aggregator.max_backoff: 100ms), which is included');
    return {
      scenario: backlogDrain.name,
      seconds,
      rows: [
        info('data', `${mib(gen.bytes)} MiB, ${gen.lines} lines, buffered as ${mib(bufferedBytes)} MiB`),
        info('buffering (no delivery)', gen.bytes / MiB / bufferSeconds, 'MiB/s'),
        info('buffering agent CPU', perGiB(bufferCpu, gen.bytes), 'CPU s/GiB', 2),
        info('drain elapsed', seconds, 's', 2),
        atLeast('drain throughput', gen.bytes / MiB / seconds, 300, 'MiB/s'),
        info('drain lines/s', Math.round(gen.lines / seconds), 'lines/s', 0),
        info('drain agent CPU', perGiB(gw.cpu, gen.bytes), 'CPU s/GiB', 2),
        info('drain aggregator CPU', perGiB(aw.cpu, gen.bytes), 'CPU s/GiB', 2),
        info('drain CPU together', perGiB(gw.cpu + aw.cpu, gen.bytes), 'CPU s/GiB', 2),
        info('agent peak RSS', gw.peakRss / MiB, 'MiB'),
        info('agent peak RSS while buffering', bufferPeakRss / MiB, 'MiB'),
        info('aggregator peak RSS', aw.peakRss / MiB, 'MiB'),
      ],
      notes,
      raw: { bytes: gen.bytes, lines: gen.lines, bufferSeconds, bufferCpu, bufferedBytes, seconds, agentCpu: gw.cpu, aggregatorCpu: aw.cpu, agentPeakRss: gw.peakRss, agentBufferingPeakRss: bufferPeakRss, aggregatorPeakRss: aw.peakRss },
    };
  } finally {
    await tmp.cleanup();
  }
}
