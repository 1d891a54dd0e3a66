/**
 * The benchmark runner (issue 6): runs every scenario, or those named on the
 * command line, prints one table per scenario with its targets, and writes the
 * results as JSON to bench-results/<date>.json.
 *
 *   npm run bench                                   # everything, 1 GiB
 *   npm run bench -- file-to-aggregator --bytes 256MiB
 *   BENCH_PROFILE=1 npm run bench -- file-to-aggregator
 *
 * See docs/benchmarks.md for the scenarios, options and targets.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { alertsEval } from './alerts-eval.js';
import { alertsParsed } from './alerts-parsed.js';
import { backlogDrain } from './backlog-drain.js';
import { bulkIngest } from './bulk-ingest.js';
import { esSink } from './es-sink.js';
import { fileToAggregator } from './file-to-aggregator.js';
import { fleetFanIn } from './fleet-fan-in.js';
import { fluentBitCompare } from './fluent-bit-compare.js';
import { zstdLevels } from './zstd-levels.js';
import { GiB, killMine, log, parseBytes, removeScratchSync, resultsDir, type BenchOptions, type Scenario, type ScenarioResult } from './harness.js';
import { idleCost } from './idle-cost.js';
import { journaldToAggregator } from './journald-to-aggregator.js';
import { liveTail } from './live-tail.js';
import { jetstreamIngest } from './jetstream-ingest.js';
import { manyProducers } from './many-producers.js';
import { machineLine, noVerdictLine, watchMachine } from './machine-share.js';
import { markdownReport, verdictOf } from './report-md.js';
import { pipelineNginx } from './pipeline-nginx.js';

const SCENARIOS: Scenario[] = [fileToAggregator, fluentBitCompare, liveTail, manyProducers, fleetFanIn, idleCost, backlogDrain, journaldToAggregator, esSink, bulkIngest, alertsEval, alertsParsed, pipelineNginx, jetstreamIngest, zstdLevels];

function usage(): string {
  return [
    'usage: node dist/test/bench/run.js [scenario ...] [--bytes SIZE]',
    `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    'env: BENCH_BYTES, BENCH_PROFILE=1, BENCH_FILES, BENCH_TAIL_SECONDS, BENCH_TAIL_RATE, BENCH_TAIL_WAIT,',
    '     BENCH_PRODUCERS, BENCH_PRODUCER_SECONDS, BENCH_PRODUCER_LINES, BENCH_IDLE_FILES, BENCH_IDLE_SECONDS,',
    '     BENCH_FLEET_AGENTS, BENCH_FLEET_SECONDS, BENCH_FLEET_RAMP_S, BENCH_FLEET_LINES, FLUENT_BIT, BENCH_FB_REPS,',
    '     BENCH_LEVELS, BENCH_LEVELS_MIB, BENCH_LEVELS_ROUNDS,',
    '     BENCH_RSYSLOG=0, BENCH_DIR, BENCH_TIMEOUT_S, BENCH_JOURNAL_ENTRIES, BENCH_ES_DOCS, BENCH_BULK_DOCS, BENCH_BULK_CLIENTS, BENCH_ALERT_LINES',
    'every option, with its default: docs/benchmarks.md, "Options"',
  ].join('\n');
}

function parseArgs(argv: string[]): { names: string[]; bytes: number } {
  const names: string[] = [];
  let bytes = process.env.BENCH_BYTES ? parseBytes(process.env.BENCH_BYTES) : GiB;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--bytes') bytes = parseBytes(argv[++i] ?? '');
    else if (a.startsWith('--bytes=')) bytes = parseBytes(a.slice(8));
    else if (a === '-h' || a === '--help') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`);
    else {
      if (!SCENARIOS.some((s) => s.name === a)) throw new Error(`unknown scenario "${a}"\n${usage()}`);
      names.push(a);
    }
  }
  return { names, bytes };
}

function stampNow(): string {
  return new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
}

function table(r: ScenarioResult, title: string): string {
  const head = ['metric', 'value', 'unit', 'target', ''];
  const rows = r.rows.map((x) => [x.metric, String(x.value), x.unit ?? '', x.target ?? '', verdictOf(r, x.ok)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => (i === 1 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  const lines = [`== ${r.scenario}: ${title}`, fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)];
  for (const n of r.notes) lines.push(`note: ${n}`);
  if (r.machine) lines.push(machineLine(r.machine));
  if (r.machine && !r.machine.verdict) lines.push(noVerdictLine(r.machine));
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { names, bytes } = parseArgs(process.argv.slice(2));
  const chosen = names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  const stamp = stampNow();
  const o: BenchOptions = { bytes, profile: process.env.BENCH_PROFILE === '1', resultsDir: resultsDir(), stamp };
  await mkdir(o.resultsDir, { recursive: true });
  const env = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / GiB), loadavgAtStart: loadavg() };
  log(`logship benchmarks: ${chosen.map((s) => s.name).join(', ')}; ${cpus().length} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const results: Array<ScenarioResult | { scenario: string; error: string }> = [];
  const out = join(o.resultsDir, `${stamp}.json`);
  const md = join(o.resultsDir, `${stamp}.md`);
  const titles = new Map(chosen.map((s) => [s.name, s.title]));
  const save = async () => {
    await writeFile(out, JSON.stringify({ stamp, env, options: { bytes, profile: o.profile }, results }, null, 2) + '\n');
    await writeFile(md, markdownReport(stamp, env, results, titles) + '\n');
  };
  let failed = false;
  for (const s of chosen) {
    log(`--- ${s.name}: ${s.title}`);
    // What other processes use of the machine while it runs decides whether it gets a verdict.
    const watch = watchMachine();
    try {
      const r = await s.run(o);
      r.machine = watch.stop();
      results.push(r);
      process.stdout.write(`\n${table(r, s.title)}\n\n`);
    } catch (err) {
      failed = true;
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      results.push({ scenario: s.name, error: msg });
      process.stdout.write(`\n== ${s.name}: FAILED\n${msg}\n\n`);
    } finally {
      killMine();
    }
    await save();
  }
  const unjudged = results.flatMap((r) => ('rows' in r && r.machine && !r.machine.verdict ? [`${r.scenario}: ${noVerdictLine(r.machine)}`] : []));
  const missed = results.flatMap((r) => ('rows' in r && !unjudged.some((u) => u.startsWith(`${r.scenario}:`)) ? r.rows.filter((x) => x.ok === false).map((x) => `${r.scenario}: ${x.metric} ${x.value} ${x.unit ?? ''} (target ${x.target})`) : []));
  process.stdout.write(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine makes figures noisy)\n`);
  if (unjudged.length) process.stdout.write(`scenarios without a verdict (the machine was busy with other work):\n  ${unjudged.join('\n  ')}\n`);
  process.stdout.write(missed.length ? `targets missed:\n  ${missed.join('\n  ')}\n` : unjudged.length ? 'no target missed among the scenarios with a verdict\n' : 'all targets met\n');
  process.stdout.write(`results: ${out}\nmarkdown (for the README): ${md}\n`);
  if (failed) process.exitCode = 1;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killMine();
    removeScratchSync();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  killMine();
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
