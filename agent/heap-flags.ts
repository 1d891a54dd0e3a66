/**
 * The node flags `logship agent` runs with as shipped: the one source for the
 * systemd unit's ExecStart (deploy/logship-agent.service), the .deb's
 * /usr/bin/logship wrapper (deploy/deb/wrapper.mjs) and the benches' agent
 * (test/bench/harness.ts); test/unit/deploy/agent-flags.test.ts holds them to it.
 *
 * V8 reads the first two only when the process starts, so agent/heap.ts cannot set
 * them from inside:
 * - --max-semi-space-size=1: the young generation stays at 1 MiB a semi-space
 *   (3 MiB resident) instead of growing to 8 MiB a semi-space at full speed.
 *   The agent's hot path allocates few short-lived objects (a batch is one
 *   Buffer, its bytes outside the heap), so the extra scavenges cost little.
 * - --no-memory-reducer: no extra full garbage collections when the agent
 *   goes quiet (V8 runs a few Mark-Compacts ~10-30 s after allocation stops,
 *   to hand memory back, which an agent with a small heap has little of).
 *   NODE_OPTIONS refuses this flag, so it must be on node's command line.
 * - --no-opt: no TurboFan. The agent's hot path is native (zstd, CRC, reads, writes,
 *   the WebAssembly newline counter, which --no-opt leaves alone); its JavaScript
 *   runs in V8's interpreter and baseline compiler (Sparkplug). Without the
 *   optimizing compiler the agent never pages in its code (node's own text), its
 *   compile jobs on V8's helper threads and their memory, nor optimized code.
 *   Measured A/B (docs/agent-footprint.md, 2026-12-02): peak RSS at full speed 1.6-3.5 MiB
 *   lower, idle RSS 4.4-5.2 MiB lower, V8 helper threads ~0.3 CPU s/GiB less; start-up
 *   CPU, throughput and the main thread's CPU unchanged.
 * - --optimize-for-size: V8 sizes the old generation for memory rather than speed, so
 *   full collections come sooner and free the Buffers (batches, read-backs) that died
 *   in the old generation sooner. Measured A/B against --no-opt alone: peak RSS at full
 *   speed 82.6-83.9 against 87.6-89.5 MiB, at the price of ~0.1-0.2 CPU s/GiB more on
 *   V8's helper threads (about what --no-opt saved there); throughput unchanged.
 *
 * `logship start` runs the agent inside the aggregator's process, which runs with
 * the aggregator's flag (aggregator/heap-flags.ts); there these would slow the
 * aggregator down.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--no-memory-reducer', '--no-opt', '--optimize-for-size'];

/**
 * The environment `logship agent` runs with as shipped, from the same three places as the flags
 * (the unit's Environment=, the wrapper, the benches); a value the user sets wins in the wrapper.
 * glibc's malloc reads it only at start, so the program cannot set it either.
 *
 * MALLOC_MMAP_THRESHOLD_=131072: every allocation of 128 KiB or more (compressed batches, read
 * and output buffers, buffer read-backs: all outside the V8 heap) gets its own mapping, given
 * back to the system when the Buffer is collected. Left alone, glibc raises that threshold to
 * the size of the largest block freed so far (up to 32 MiB), so after the first 1-4 MiB buffer
 * is freed all of these come from the main heap, whose free holes stay resident: the agent
 * ended a backlog drain ~10 MiB higher and never gave it back (issue 17; docs/agent-footprint.md).
 * Other C libraries ignore the variable.
 */
export const AGENT_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };
