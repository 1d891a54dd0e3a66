/**
 * Bench pipeline-nginx (issue 14): the nginx_access preset plus the ECS
 * document build (JSON, as the Elasticsearch sink sends it: with event.*,
 * agent.* and data_stream.*), in one thread, over generated combined-format
 * lines (test/bench/gen-nginx.ts, fixed seed).
 *
 * The headline is the realistic path: a stored batch's (inflated) bytes in,
 * the documents' JSON bytes out in one buffer (aggregator/pipelines/bytes.ts,
 * as the ES sink's payload-worker job runs it): lines/s per CPU second of
 * this thread. In the same run, interleaved round by round: the string
 * writer (decoded records -> parsedDocument -> Buffer.byteLength, the record
 * path) and the object path (Pipeline.run + JSON.stringify), for the ratios.
 * Cost per step: each part timed on its own over the same lines.
 *
 *   npm run bench -- pipeline-nginx            BENCH_PIPELINE_LINES (default 200,000), BENCH_PIPELINE_ROUNDS (5)
 */
import { loadavg } from 'node:os';
import { atLeast, envNumber, info, log, type Scenario, type ScenarioResult } from './harness.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { Pipeline, baseDocument, jsonString } from '../../aggregator/pipelines/index.js';
import { parsedDocument, pipelineDocumentJson, type DocumentContext } from '../../aggregator/sinks/elasticsearch/document.js';
import { compilePattern } from '../../aggregator/pipelines/pattern.js';
import { BYTES_OK, ByteBuffer, scanAccess } from '../../aggregator/pipelines/bytes.js';
import { sinkFields, sinkValues } from '../../aggregator/sinks/elasticsearch/document.js';
import { ES_BULK_OP, runEsBulk, type EsBulkJob } from '../../aggregator/sinks/elasticsearch/bulk-job.js';
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

    // stored batches of 1,000 lines (newline-separated, as the agent ships them), inflated
    const PER = 1000;
    const batches: Buffer[] = [];
    for (let i = 0; i < n; i += PER) batches.push(Buffer.from(recs.slice(i, i + PER).map((r) => `${r.message}\n`).join(''), 'latin1'));
    const bytePlan = p.bytePlan(sinkFields(c));
    const out = new ByteBuffer(1 << 20);
    const host = 'web-01';
    const source = '/var/log/nginx/access.log';
    const extra = sinkValues(c, host);
    let fallbacks = 0;
    /** One batch through the byte path: its documents' JSON back to back in `out`. */
    const byteBatch = (b: Buffer): number => {
      out.p = 0;
      bytePlan!.context(host, source, '2026-12-01T12:00:00.000Z', extra);
      let off = 0;
      for (let s = 0; s < b.length; ) {
        let e = b.indexOf(10, s);
        if (e < 0) e = b.length;
        if (bytePlan!.write(b, s, e, off, out) !== BYTES_OK) fallbacks++;
        off += e + 1 - s;
        s = e + 1;
      }
      return out.p;
    };
    // the byte path writes the string writer's bytes, document for document
    let mismatches = 0;
    if (bytePlan) {
      const b0 = batches[0]!;
      out.p = 0;
      bytePlan.context(host, source, '2026-12-01T12:00:00.000Z', extra);
      let s = 0;
      for (let i = 0; i < Math.min(PER, n); i++) {
        const e = b0.indexOf(10, s);
        const start = out.p;
        if (bytePlan.write(b0, s, e, recs[i]!.source_offset, out) !== BYTES_OK || out.buf.toString('utf8', start, out.p) !== parsedDocument(p, recs[i]!, c).json) mismatches++;
        s = e + 1;
      }
    }
    /** The string writer from the stored bytes: decode each record's message, then parsedDocument (what the sink's record path does). */
    const stringBatch = (b: Buffer): number => {
      let k = 0;
      let off = 0;
      for (let s = 0; s < b.length; ) {
        let e = b.indexOf(10, s);
        if (e < 0) e = b.length;
        const r: StoredRecord = { offset: off, timestamp: '2026-12-01T12:00:00.000Z', host, source, source_offset: off, message: b.toString('utf8', s, e) };
        k += Buffer.byteLength(parsedDocument(p, r, c).json);
        off += e + 1 - s;
        s = e + 1;
      }
      return k;
    };
    // the realistic paths, interleaved round by round: byte path, string writer, object path
    const [bytesPath, stringPath] = bytePlan ? perLineAB(batches, rounds, [byteBatch, stringBatch]).map((x) => x / PER) : [Infinity, Infinity];
    const [full, objectPath] = perLineAB(recs, rounds, [
      (r) => Buffer.byteLength(parsedDocument(p, r, c).json),
      (r) => Buffer.byteLength(pipelineDocumentJson(p.run(r).doc, r, c)),
    ]);
    // the ES sink's payload-worker job over the same batches (stored uncompressed, no gzip): with the pipeline, and the plain-line documents of a topic without one
    const inputs = batches.map((b, i) => ({ payload: b, codec: 0, flags: 0, rawLength: b.length, lines: PER, baseOffset: i * PER, sourceOffset: 0 }));
    const esInfo = batches.map(() => ({ host, source, iso: '2026-12-01T12:00:00.000Z', target: c.target.name, stream: c.target.stream! }));
    const esJob = (pipeline: boolean): EsBulkJob => ({ op: ES_BULK_OP, batches: inputs, info: esInfo, topic: 'nginx', partition: 0, version: '1.0.0', from: 0, maxBytes: 1 << 30, maxRaw: 1 << 30, maxDocs: 1000, maxBodyBytes: 1 << 30, gzip: false, ...(pipeline ? { pipeline: { name: 'nginx', steps: p.config.steps, sink: 'es' } } : {}) });
    const jobs = [esJob(true), esJob(false)];
    const [esPipeline, esPlain] = perLineAB(jobs.map((_, i) => i), rounds, [(i) => i === 0 && runEsBulk(jobs[0]!).count, (i) => i === 1 && runEsBulk(jobs[1]!).count]).map((x) => (x * 2) / n);
    // byte path parts: line split alone, scanner alone
    const split = perLine(batches, rounds, (b) => {
      let k = 0;
      for (let s = 0; s < b.length; k++) {
        let e = b.indexOf(10, s);
        if (e < 0) e = b.length;
        s = e + 1;
      }
      return k;
    }) / PER;
    const caps = new Int32Array(24);
    const scan = perLine(batches, rounds, (b) => {
      let k = 0;
      for (let s = 0; s < b.length; ) {
        let e = b.indexOf(10, s);
        if (e < 0) e = b.length;
        if (scanAccess(b, s, e, false, caps)) k++;
        s = e + 1;
      }
      return k;
    }) / PER;
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
    const linesPerSec = 1e9 / bytesPath;
    const load1 = loadavg()[0]!;
    return {
      scenario: 'pipeline-nginx',
      seconds: (Date.now() - started) / 1000,
      rows: [
        atLeast('lines/s per core (preset + ES document JSON, stored bytes -> document bytes)', linesPerSec, TARGET, 'lines/s', 0),
        info('byte path used for this pipeline', bytePlan ? 'yes' : 'NO'),
        info('byte path documents equal to the string writer\'s (first batch)', bytePlan ? `${Math.min(PER, n) - mismatches} of ${Math.min(PER, n)}` : 'n/a'),
        info('lines the byte path handed to the string path (all rounds)', fallbacks, 'lines', 0),
        info('string writer from stored bytes (decode + parsedDocument), same run', 1e9 / stringPath, 'lines/s', 0),
        info('byte path / string writer speed ratio', stringPath / bytesPath, 'x', 2),
        info('cost per line, byte path: everything', bytesPath, 'ns/line', 0),
        info('byte path cost: line split (indexOf newline)', split, 'ns/line', 0),
        info('byte path cost: scanner (match + captures as offsets)', Math.max(0, scan - split), 'ns/line', 0),
        info('byte path cost: document bytes (time cache, shapes, values copied with escape check, digits)', Math.max(0, bytesPath - scan), 'ns/line', 0),
        info('ES sink worker job with this pipeline (ids, action lines, meta; no gzip)', 1e9 / esPipeline, 'lines/s', 0),
        info('ES sink worker job, same lines without a pipeline (plain documents), same run', 1e9 / esPlain, 'lines/s', 0),
        info('string writer on decoded records (no decode), same window', 1e9 / full, 'lines/s', 0),
        info('fast writer used for this pipeline', fastPlan ? 'yes' : 'NO (object path)'),
        info('object path (run + JSON.stringify), same window as the string writer', 1e9 / objectPath, 'lines/s', 0),
        info('byte path / object path speed ratio (different windows)', objectPath / bytesPath, 'x', 2),
        info('string writer cost: everything', full, 'ns/line', 0),
        info('string writer cost: NGINX_ACCESS regex match', regex, 'ns/line', 0),
        info('string writer cost: timestamp (nginx format)', ts, 'ns/line', 0),
        info('string writer cost: message escaped as JSON', msgEscape, 'ns/line', 0),
        info('string writer cost: captured values escaped/quoted (6 strings)', valueEscape, 'ns/line', 0),
        info('string writer cost: flattening the document text (Buffer.byteLength)', Math.max(0, flatten), 'ns/line', 0),
        info('string writer cost: slots, captures, types, key text, concatenation (the rest)', Math.max(0, full - regex - ts - msgEscape - valueEscape - Math.max(0, flatten)), 'ns/line', 0),
        info('object path: preset only (no JSON)', 1e9 / run, 'lines/s', 0),
        info('object path: base document (ECS host/log fields)', base, 'ns/line', 0),
        info('object path: captures, types, unescape, scratch', Math.max(0, run - base - regex - ts), 'ns/line', 0),
        info('object path: JSON.stringify of the document', json, 'ns/line', 0),
        info('lines that failed to parse', failures, 'lines', 0),
        info('load average (1 min) before / after', `${load0.toFixed(2)} / ${load1.toFixed(2)}`),
      ],
      notes: [`${n} generated combined-format lines in stored batches of ${PER} (inflated; decompression is the same for every path and not counted); CPU time of this one thread, best of ${rounds} rounds per part`],
      raw: { lines: n, rounds, fastPlan, bytePlan: bytePlan !== undefined, mismatches, fallbacks, nsPerLine: { bytesPath, stringPath, split, scan, esPipeline, esPlain, full, objectPath, run, base, regex, ts, json, msgEscape, valueEscape, flatten }, failures, load: [load0, load1] },
    };
  },
};
