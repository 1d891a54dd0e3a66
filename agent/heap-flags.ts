/**
 * The node flags `logship agent` runs with as shipped: the one source for the
 * systemd unit's ExecStart (deploy/logship-agent.service), the .deb's
 * /usr/bin/logship wrapper (deploy/deb/wrapper.mjs) and the benches' agent
 * (test/bench/harness.ts); test/unit/deploy/agent-flags.test.ts holds them to it.
 *
 * V8 reads both only when the process starts, so agent/heap.ts cannot set
 * them from inside:
 * - --max-semi-space-size=1: the young generation stays at 1 MiB a semi-space
 *   (3 MiB resident) instead of growing to 8 MiB a semi-space at full speed.
 *   The agent's hot path allocates few short-lived objects (a batch is one
 *   Buffer, its bytes outside the heap), so the extra scavenges cost little.
 * - --no-memory-reducer: no extra full garbage collections when the agent
 *   goes quiet (V8 runs a few Mark-Compacts ~10-30 s after allocation stops,
 *   to hand memory back, which an agent with a small heap has little of).
 *   NODE_OPTIONS refuses this flag, so it must be on node's command line.
 *
 * `logship start` runs the agent inside the aggregator's process, which keeps
 * V8's defaults; there the flags would slow the aggregator down.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--no-memory-reducer'];
