/**
 * An aggregator + agent pair on 127.0.0.1 for the scenarios, built on the
 * test helpers' config writer (makeStack), started with the bench's own
 * spawner so that BENCH_PROFILE can put node under --cpu-prof.
 * BENCH_AGGREGATOR_CLI runs another build's aggregator (A/B against it).
 */
import { makeStack, type Stack } from '../helpers/procs.js';
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
    startAgent: async () => spawnService('agent', ['agent', '--config', s.agentConfig], profile?.agentDir ? { profileDir: profile.agentDir } : {}),
  };
}

/** Waits until the agent's status listener answers. */
export async function agentReady(s: Stack, agent: Service): Promise<void> {
  await waitReady(`http://127.0.0.1:${s.statusPort}/healthz`, agent);
}
