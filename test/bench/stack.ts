/**
 * An aggregator + agent pair on 127.0.0.1 for the scenarios, built on the
 * test helpers' config writer (makeStack), started with the bench's own
 * spawner so that BENCH_PROFILE can put node under --cpu-prof.
 * BENCH_AGGREGATOR_CLI runs another build's aggregator (A/B against it);
 * BENCH_AGENT_CONFIG (JSON, e.g. '{"compression":{"threads":0}}') is merged
 * into the agent's config, and BENCH_AGENT_NODE_FLAGS replaces the agent's
 * node flags (harness.ts), to A/B agent settings. BENCH_AGENT_MEM_SPLIT=FILE
 * samples the agent every 250 ms and appends to FILE (one JSON line per
 * agent) where its memory was at its highest RSS: anonymous / file-backed
 * (/proc/PID/status) beside the V8 heap and external memory of its /metrics.
 * BENCH_FANIN_BARE=1 (many-producers, fleet-fan-in): bareFanIn() is true and the
 * scenario starts startBareServer() (bare-server.ts, no logship code) instead.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { join } from 'node:path';
import { makeStack, ROOT, type Stack } from '../helpers/procs.js';
import { spawnService, spawnTracked, waitReady, type Service } from './harness.js';

export interface BenchStack extends Stack {
  startAggregator: () => Promise<Service>;
  startAgent: () => Promise<Service>;
}

export async function benchStack(
  dir: string,
  inputs: unknown[],
  extra: { agent?: Record<string, unknown>; aggregator?: Record<string, unknown> } = {},
  profile?: { agentDir?: string; aggregatorDir?: string },
): Promise<BenchStack> {
  const s = await makeStack(dir, inputs, extra);
  if (process.env.BENCH_AGENT_CONFIG) {
    const over = JSON.parse(process.env.BENCH_AGENT_CONFIG) as Record<string, unknown>;
    const cfg = parse(await readFile(s.agentConfig, 'utf8')) as Record<string, unknown>;
    await writeFile(s.agentConfig, stringify(merged(cfg, over)));
  }
  return {
    ...s,
    startAggregator: async () => {
      // BENCH_AGGREGATOR_CLI=/path/to/other/dist/bin/logship.js: that build's aggregator instead (A/B by hand).
      const other = process.env.BENCH_AGGREGATOR_CLI;
      const p = other
        ? spawnTracked('aggregator (BENCH_AGGREGATOR_CLI)', process.execPath, [other, 'aggregator', '--config', s.aggConfig], { LOGSHIP_LOG_PRETTY: '0' })
        : spawnService('aggregator', ['aggregator', '--config', s.aggConfig], profile?.aggregatorDir ? { profileDir: profile.aggregatorDir } : {});
      await waitReady(`${s.aggUrl}/readyz`, p, true);
      return p;
    },
    /** Resolves once spawned; readiness is not awaited, the clock may already run. */
    startAgent: async () => {
      const p = spawnService('agent', ['agent', '--config', s.agentConfig], profile?.agentDir ? { profileDir: profile.agentDir } : {});
      if (process.env.BENCH_AGENT_MEM_SPLIT) sampleMemory(p, s.statusPort, process.env.BENCH_AGENT_MEM_SPLIT);
      return p;
    },
  };
}

/** BENCH_FANIN_BARE=1: the fan-in scenarios measure a bare node:http server (the machine's ceiling) instead of the aggregator. */
export const bareFanIn = (): boolean => process.env.BENCH_FANIN_BARE === '1';

/** The bare node:http server of bare-server.ts on `port`, tracked like the aggregator; under --cpu-prof with `profileDir`. */
export async function startBareServer(port: number, profileDir?: string): Promise<Service> {
  const flags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const p = spawnTracked('bare node:http server (BENCH_FANIN_BARE)', process.execPath, [...flags, join(ROOT, 'dist/test/bench/bare-server.js'), String(port)]);
  await waitReady(`http://127.0.0.1:${port}/readyz`, p, true);
  return p;
}

/** Waits until the agent's status listener answers. */
export async function agentReady(s: Stack, agent: Service): Promise<void> {
  await waitReady(`http://127.0.0.1:${s.statusPort}/healthz`, agent);
}

function merged(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isObj(prev) && isObj(v) ? merged(prev, v) : v;
  }
  return out;
}

/** Memory of the agent at its highest RSS seen (see BENCH_AGENT_MEM_SPLIT above), in MiB. */
function sampleMemory(agent: Service, statusPort: number, out: string): void {
  const MiB = 1 << 20;
  let best: Record<string, number | string> | undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    let text: string;
    try {
      text = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
    } catch {
      return;
    }
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
    const rss = kib('VmRSS');
    if (best && rss <= (best.rss as number)) return;
    const at: Record<string, number | string> = { at: new Date().toISOString(), rss, anon: kib('RssAnon'), file: kib('RssFile'), threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1]) };
    // BENCH_AGENT_SMAPS=PREFIX: the mappings at the first sample (start-up) and at the highest RSS, for a diff by hand.
    const smapsTo = process.env.BENCH_AGENT_SMAPS;
    if (smapsTo) {
      try {
        const smaps = readFileSync(`/proc/${agent.pid}/smaps`, 'utf8');
        writeFileSync(`${smapsTo}-${agent.pid}-${best ? 'peak' : 'first'}.smaps`, smaps);
      } catch {
        // the agent exited between the two reads
      }
    }
    busy = true;
    fetch(`http://127.0.0.1:${statusPort}/metrics`)
      .then((r) => r.text())
      .then((m) => {
        const get = (name: string) => Number(new RegExp(`^logship_agent_${name} ([0-9.e+]+)`, 'm').exec(m)?.[1] ?? NaN) / MiB;
        Object.assign(at, {
          heapTotal: get('nodejs_heap_size_total_bytes'),
          heapUsed: get('nodejs_heap_size_used_bytes'),
          newSpace: get('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
          oldSpace: get('nodejs_heap_space_size_total_bytes\\{space="old"\\}'),
          external: get('nodejs_external_memory_bytes'),
        });
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
        best = at;
      });
  }, 250);
  timer.unref();
  void agent.exited.then(() => {
    clearInterval(timer);
    if (best) appendFileSync(out, JSON.stringify({ pid: agent.pid, flags: process.env.BENCH_AGENT_NODE_FLAGS ?? 'shipped', config: process.env.BENCH_AGENT_CONFIG ?? '', ...best }) + '\n');
  });
}
