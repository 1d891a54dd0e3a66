/**
 * The node flags `logship aggregator` (and `logship start`, which runs the
 * aggregator with an agent inside its process) runs with as shipped: the one
 * source for the systemd unit's ExecStart (deploy/logship-aggregator.service),
 * the .deb's /usr/bin/logship wrapper (deploy/deb/wrapper.mjs), `npm start`
 * (package.json) and the benches' aggregator (test/bench/harness.ts);
 * test/unit/deploy/agent-flags.test.ts holds them to it.
 *
 * - --initial-old-space-size=64: V8 does not set the old generation's allocation
 *   limit below 64 MB. With V8's default the aggregator's live heap of ~15 MB
 *   got a limit of ~34-42 MB after each full collection, and V8 starts the next
 *   one as soon as what is left under the limit is less than the young
 *   generation's capacity (16 MiB semi-spaces): while ingesting at full speed it
 *   ran a Mark-Compact every ~0.3 s (15-19 per GiB, `--trace-gc`), each freeing
 *   ~1 MB, its concurrent marking and sweeping on V8's helper threads. With the
 *   floor, none ran during a 1 GiB file-to-aggregator run. Measured A/B
 *   (2026-12-03, three interleaved pairs, others 0.0 %): aggregator 1.70-1.99
 *   against 2.22-2.84 CPU s/GiB (its threads other than the main one and the
 *   payload workers 0.18-0.21 against 0.48-0.72), peak RSS 142-145 against
 *   138-141 MiB. V8 reads it only when the process starts.
 */
export const AGGREGATOR_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
