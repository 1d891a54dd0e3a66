/**
 * Bench pipeline-nginx (issue 14): the nginx_access preset plus the ECS
 * document build (JSON text, as a sink or the records API sends it), in one
 * thread, over generated combined-format lines (test/bench/gen-nginx.ts, fixed
 * seed). lines/s per core = lines / CPU seconds of this process in the timed
 * rounds. Cost per step: each part timed on its own over the same lines.
 *
 *   npm run bench -- pipeline-nginx            BENCH_PIPELINE_LINES (default 200,000), BENCH_PIPELINE_ROUNDS (5)
 */
import { loadavg } from 'node:os';
import { atLeast, envNumber, info, log, type Scenario, type ScenarioResult } from './harness.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { Pipeline, baseDocument } from '../../aggregator/pipelines/index.js';
import { compilePattern } from '../../aggregator/pipelines/pattern.js';
import { parseTimestamp, parseZone } from '../../aggregator/pipelines/timestamp.js';
import type { StoredRecord } from '../../aggregator/storage/record-decoder.js';

const TARGET = 250_000;

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Best of `rounds` CPU ns per line for fn over all items. */
function perLine<T>(items: T[], rounds: number, fn: (x: T) => unknown): number {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const start = cpuNs();
    for (let i = 0; i < items.length; i++) if (fn(items[i]!)) sink++;
    best = Math.min(best, (cpuNs() - start) / items.length);
  }
  if (sink === -1) log('unreachable');
  return best;
}

export const pipelineNginx: Scenario = {
  name: 'pipeline-nginx',
  title: 'nginx_access preset + ECS document (JSON), one thread',
  async run(): Promise<ScenarioResult> {
    const started = Date.now();
    const n = envNumber('BENCH_PIPELINE_LINES', 200_000);
    const rounds = envNumber('BENCH_PIPELINE_ROUNDS', 5);
    const rng = makeRng(42);
    const t0 = Math.floor(Date.parse('2026-12-01T00:00:00Z') / 1000);
    const recs: StoredRecord[] = [];
    for (let i = 0; i < n; i++) {
      recs.push({ offset: i, timestamp: '2026-12-01T12:00:00.000Z', host: 'web-01', source: '/var/log/nginx/access.log', source_offset: i * 180, message: nginxLine(rng, t0 + Math.floor(i / 50)) });
    }
    const load0 = loadavg()[0]!;
    log(`pipeline-nginx: ${n} lines, best of ${rounds} rounds per part (load average ${load0.toFixed(2)})`);
    const p = new Pipeline('nginx', { topics: [], steps: [{ type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} }] });
    const re = compilePattern('%{NGINX_ACCESS}$').regex;
    const zone = parseZone('UTC')!;
    const times = recs.map((r) => /\[([^\]]+)\]/.exec(r.message)![1]!);
    const failures = recs.reduce((a, r) => a + (p.run(r).failed.length > 0 ? 1 : 0), 0);

    const full = perLine(recs, rounds, (r) => JSON.stringify(p.run(r).doc).length);
    const run = perLine(recs, rounds, (r) => p.run(r).dropped);
    const base = perLine(recs, rounds, (r) => baseDocument(r).message);
    const regex = perLine(recs, rounds, (r) => re.exec(r.message));
    const ts = perLine(times, rounds, (s) => parseTimestamp(s, 'nginx', zone, 0));
    const docs = recs.slice(0, Math.min(n, 50_000)).map((r) => p.run(r).doc);
    const json = perLine(docs, rounds, (d) => JSON.stringify(d).length);
    const linesPerSec = 1e9 / full;
    const load1 = loadavg()[0]!;
    return {
      scenario: 'pipeline-nginx',
      seconds: (Date.now() - started) / 1000,
      rows: [
        atLeast('lines/s per core (preset + JSON document)', linesPerSec, TARGET, 'lines/s', 0),
        info('preset only (no JSON)', 1e9 / run, 'lines/s', 0),
        info('cost: base document (ECS host/log fields)', base, 'ns/line', 0),
        info('cost: NGINX_ACCESS regex match', regex, 'ns/line', 0),
        info('cost: captures, types, unescape, scratch (pattern step minus the rest)', Math.max(0, run - base - regex - ts), 'ns/line', 0),
        info('cost: timestamp (nginx format)', ts, 'ns/line', 0),
        info('cost: JSON.stringify of the document', json, 'ns/line', 0),
        info('lines that failed to parse', failures, 'lines', 0),
        info('load average (1 min) before / after', `${load0.toFixed(2)} / ${load1.toFixed(2)}`),
      ],
      notes: [`${n} generated combined-format lines; CPU time of this one thread, best of ${rounds} rounds per part`],
      raw: { lines: n, rounds, nsPerLine: { full, run, base, regex, ts, json }, failures, load: [load0, load1] },
    };
  },
};
