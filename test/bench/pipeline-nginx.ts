/**
 * Bench pipeline-nginx (issue 14): the nginx_access preset plus the ECS
 * document build (JSON text, as the Elasticsearch sink sends it: its
 * parsedDocument, with event.*, agent.* and data_stream.*, flattened as the
 * sink's Buffer.byteLength does), in one thread, over generated
 * combined-format lines (test/bench/gen-nginx.ts, fixed seed). lines/s per
 * core = lines / CPU seconds of this process in the timed rounds. The object
 * path (Pipeline.run + JSON.stringify, as before the fast writer) is timed in
 * the same run, interleaved, for the ratio. Cost per step: each part timed on
 * its own over the same lines.
 *
 *   npm run bench -- pipeline-nginx            BENCH_PIPELINE_LINES (default 200,000), BENCH_PIPELINE_ROUNDS (5)
 */
import { loadavg } from 'node:os';
import { atLeast, envNumber, info, log, type Scenario, type ScenarioResult } from './harness.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { Pipeline, baseDocument, jsonString } from '../../aggregator/pipelines/index.js';
import { parsedDocument, pipelineDocumentJson, type DocumentContext } from '../../aggregator/sinks/elasticsearch/document.js';
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
  return perLineAB(items, rounds, [fn])[0]!;
}

/** Best of `rounds` CPU ns per line for each fn, the fns interleaved round by round (so load changes hit all alike). */
function perLineAB<T>(items: T[], rounds: number, fns: Array<(x: T) => unknown>): number[] {
  const best = fns.map(() => Infinity);
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    for (let f = 0; f < fns.length; f++) {
      const fn = fns[f]!;
      const start = cpuNs();
      for (let i = 0; i < items.length; i++) if (fn(items[i]!)) sink++;
      best[f] = Math.min(best[f]!, (cpuNs() - start) / items.length);
    }
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
    const c: DocumentContext = { topic: 'nginx', target: { name: 'logs-nginx-default', stream: { type: 'logs', dataset: 'nginx', namespace: 'default' } }, version: '1.0.0' };
    const fastPlan = p.fastPlan() !== undefined;
    for (const r of recs) JSON.stringify(r.message); // the generated lines are concatenations: flatten them once, as decoded records are

    // the sink's document: fast writer, and the object path it replaced, interleaved
    const [full, objectPath] = perLineAB(recs, rounds, [
      (r) => Buffer.byteLength(parsedDocument(p, r, c).json),
      (r) => Buffer.byteLength(pipelineDocumentJson(p.run(r).doc, r, c)),
    ]);
    const run = perLine(recs, rounds, (r) => p.run(r).dropped);
    const base = perLine(recs, rounds, (r) => baseDocument(r).message);
    const regex = perLine(recs, rounds, (r) => re.exec(r.message));
    const ts = perLine(times, rounds, (s) => parseTimestamp(s, 'nginx', zone, 0));
    const docs = recs.slice(0, Math.min(n, 50_000)).map((r) => p.run(r).doc);
    const json = perLine(docs, rounds, (d) => JSON.stringify(d).length);
    const msgEscape = perLine(recs, rounds, (r) => JSON.stringify(r.message).length);
    type D = { source?: { ip?: string }; url?: { original?: string }; http?: { request?: { method?: string; referrer?: string }; version?: string }; user_agent?: { original?: string } };
    const leaves = docs.map((d: D) => [d.source?.ip, d.url?.original, d.http?.request?.method, d.http?.request?.referrer, d.http?.version, d.user_agent?.original].filter((x): x is string => x !== undefined));
    const valueEscape = perLine(leaves, rounds, (l) => {
      let k = 0;
      for (const v of l) k += jsonString(v).length;
      return k;
    });
    const flatten = perLine(recs.slice(0, docs.length), rounds, (r) => Buffer.byteLength(parsedDocument(p, r, c).json)) - perLine(recs.slice(0, docs.length), rounds, (r) => parsedDocument(p, r, c).json.length);
    const linesPerSec = 1e9 / full;
    const load1 = loadavg()[0]!;
    return {
      scenario: 'pipeline-nginx',
      seconds: (Date.now() - started) / 1000,
      rows: [
        atLeast('lines/s per core (preset + ES document JSON, fast writer)', linesPerSec, TARGET, 'lines/s', 0),
        info('fast writer used for this pipeline', fastPlan ? 'yes' : 'NO (object path)'),
        info('object path (run + JSON.stringify), same run', 1e9 / objectPath, 'lines/s', 0),
        info('fast writer / object path speed ratio', objectPath / full, 'x', 2),
        info('cost per line, fast writer: everything', full, 'ns/line', 0),
        info('cost: NGINX_ACCESS regex match', regex, 'ns/line', 0),
        info('cost: timestamp (nginx format)', ts, 'ns/line', 0),
        info('cost: message escaped as JSON', msgEscape, 'ns/line', 0),
        info('cost: captured values escaped/quoted (6 strings)', valueEscape, 'ns/line', 0),
        info('cost: flattening the document text (Buffer.byteLength)', Math.max(0, flatten), 'ns/line', 0),
        info('cost: slots, captures, types, key text, concatenation (the rest)', Math.max(0, full - regex - ts - msgEscape - valueEscape - Math.max(0, flatten)), 'ns/line', 0),
        info('object path: preset only (no JSON)', 1e9 / run, 'lines/s', 0),
        info('object path: base document (ECS host/log fields)', base, 'ns/line', 0),
        info('object path: captures, types, unescape, scratch', Math.max(0, run - base - regex - ts), 'ns/line', 0),
        info('object path: JSON.stringify of the document', json, 'ns/line', 0),
        info('lines that failed to parse', failures, 'lines', 0),
        info('load average (1 min) before / after', `${load0.toFixed(2)} / ${load1.toFixed(2)}`),
      ],
      notes: [`${n} generated combined-format lines; CPU time of this one thread, best of ${rounds} rounds per part`],
      raw: { lines: n, rounds, fastPlan, nsPerLine: { full, objectPath, run, base, regex, ts, json, msgEscape, valueEscape, flatten }, failures, load: [load0, load1] },
    };
  },
};
