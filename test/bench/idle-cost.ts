/**
 * Scenario 4, idle cost: an agent tailing 1,000 matched files (one line each,
 * read at start) into which nothing more is written. After the start-up has
 * settled, CPU % of one core and RSS over 30 s.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { topicCount, waitFor } from '../helpers/procs.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { atMost, envNumber, info, log, MiB, progress, scratch, sleep, stopService, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { ProcWatch } from './proc-stats.js';
import { agentReady, benchStack } from './stack.js';
import { summarizeDir } from './top-profile.js';

const TOPIC = 'idle';

export const idleCost: Scenario = {
  name: 'idle-cost',
  title: 'agent cost with many quiet files',
  run,
};

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const tmp = await scratch('idle');
  const files = envNumber('BENCH_IDLE_FILES', 1000);
  const seconds = envNumber('BENCH_IDLE_SECONDS', 30);
  const settle = envNumber('BENCH_IDLE_SETTLE_S', 5);
  try {
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const rng = makeRng(3);
    for (let i = 0; i < files; i++) await writeFile(join(logs, `app-${String(i).padStart(4, '0')}.log`), nginxLine(rng, 1_760_000_000) + '\n');
    const profileDir = o.profile ? join(o.resultsDir, 'profiles', o.stamp, 'idle-agent') : undefined;
    const stack = await benchStack(
      tmp.dir,
      [{ type: 'file', topic: TOPIC, include: [join(logs, '*.log')], start_at: 'beginning' }],
      { agent: { batch: { max_bytes: '1MiB', max_wait: '1s' } } },
      profileDir ? { agentDir: profileDir } : undefined,
    );
    const agg = await stack.startAggregator();
    const agent = await stack.startAgent();
    await agentReady(stack, agent);
    // Start-up reads the one line of every file; wait until it is delivered, then let it settle.
    await waitFor(`the ${files} first lines`, async () => (await topicCount(stack.aggUrl, TOPIC)) >= files, 120_000, 250);
    log(`idle cost: ${files} files delivered; settling ${settle} s, then measuring ${seconds} s`);
    await sleep(settle * 1000);
    const gw = new ProcWatch(agent.pid);
    const aw = new ProcWatch(agg.pid);
    const t0 = performance.now();
    const pr = progress(() => {
      gw.sample();
      const s = (performance.now() - t0) / 1000;
      return `idle-cost: ${s.toFixed(0)} / ${seconds} s, agent ${((100 * gw.cpu) / s).toFixed(2)}% of a core, RSS ${(gw.rssSamples.at(-1)! / MiB).toFixed(1)} MiB`;
    });
    const ticker = setInterval(() => gw.sample(), 1_000);
    await sleep(seconds * 1000);
    clearInterval(ticker);
    pr.stop();
    gw.sample();
    aw.sample();
    const elapsed = (performance.now() - t0) / 1000;
    // Where the memory is, from the agent's own /metrics (its process and V8 figures).
    const mem = await agentMemory(stack.statusPort).catch(() => undefined);
    const split = rssSplit(agent.pid);
    const rss = gw.rssSamples;
    const maxRss = Math.max(...rss);
    const cpuPct = (100 * gw.cpu) / elapsed;
    await stopService(agent);
    await stopService(agg);
    const raw: Record<string, unknown> = {};
    const notes: string[] = [];
    if (profileDir) {
      // The profile covers the whole life of the agent, start-up included.
      raw.profile_agent = await summarizeDir(profileDir, 'idle agent (whole run, start-up included)', log).catch((err: Error) => notes.push(`no profile: ${err.message}`));
      notes.push(`agent CPU profiles: ${profileDir}`, 'BENCH_PROFILE=1: the profiler samples every 1 ms, which itself costs CPU; take idle figures from a run without it');
    }
    return {
      scenario: idleCost.name,
      seconds: elapsed,
      rows: [
        info('files', files),
        info('window', elapsed, 's'),
        atMost('agent CPU', cpuPct, 0.5, '% of a core', 2),
        // issue 17: 1,000 idle files in at most 60 MiB
        atMost('agent RSS (max over the window)', maxRss / MiB, files >= 1000 ? 60 : 50, 'MiB'),
        info('agent RSS (end)', rss.at(-1)! / MiB, 'MiB'),
        info('agent peak RSS (since start)', gw.peakRss / MiB, 'MiB'),
        ...(mem
          ? [
              info('agent V8 heap used / total (main thread)', `${(mem.heapUsed / MiB).toFixed(1)} / ${(mem.heapTotal / MiB).toFixed(1)}`, 'MiB'),
              info('agent V8 new space / old space', `${(mem.newSpace / MiB).toFixed(1)} / ${(mem.oldSpace / MiB).toFixed(1)}`, 'MiB'),
              info('agent external (Buffers, native)', mem.external / MiB, 'MiB'),
              info('agent RSS not in the main heap (threads, code, node itself)', (mem.rss - mem.heapTotal - mem.external) / MiB, 'MiB'),
            ]
          : []),
        ...(split ? [info('agent RSS anonymous / file-backed (node\'s own code pages)', `${(split.anon / MiB).toFixed(1)} / ${(split.file / MiB).toFixed(1)}`, 'MiB')] : []),
        info('aggregator CPU', (100 * aw.cpu) / elapsed, '% of a core', 2),
      ],
      notes,
      raw: { ...raw, memory: mem, rssSplit: split, files, seconds: elapsed, agentCpu: gw.cpu, rssSamples: rss, agentPeakRss: gw.peakRss, aggregatorCpu: aw.cpu },
    };
  } finally {
    await tmp.cleanup();
  }
}

/** Resident memory by kind (bytes): anonymous (heaps, buffers, threads) and file-backed (mostly node's own binary). */
function rssSplit(pid: number): { anon: number; file: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { anon: kib('RssAnon'), file: kib('RssFile') };
  } catch {
    return undefined;
  }
}

/** The agent's memory split as its /metrics reports it (bytes). */
async function agentMemory(statusPort: number): Promise<{ rss: number; heapUsed: number; heapTotal: number; external: number; newSpace: number; oldSpace: number }> {
  const text = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  const get = (name: string): number => {
    const m = text.match(new RegExp(`^${name} ([0-9.e+]+)`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  const p = 'logship_agent_';
  return {
    rss: get(`${p}process_resident_memory_bytes`),
    heapUsed: get(`${p}nodejs_heap_size_used_bytes`),
    heapTotal: get(`${p}nodejs_heap_size_total_bytes`),
    external: get(`${p}nodejs_external_memory_bytes`),
    newSpace: get(`${p}nodejs_heap_space_size_total_bytes\\{space="new"\\}`),
    oldSpace: get(`${p}nodejs_heap_space_size_total_bytes\\{space="old"\\}`),
  };
}
