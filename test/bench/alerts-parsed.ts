/**
 * Scenario alerts-parsed: what an alert rule on parsed fields costs next to a
 * plain log-match rule, and that a plain rule does not pay for a pipeline.
 * Three engines over the same deterministic nginx lines (gen-nginx.ts), fed
 * to AlertEngine.apply() in deliveries of 2,000 records, interleaved batch by
 * batch so load hits them alike (CPU time of this process per engine):
 *
 *   plain     match '" 5\d\d ' grouped by host: the literal-automaton path,
 *             on a topic whose pipeline (nginx_access) it never runs;
 *   filtered  the same match as a prefilter, then where
 *             http.response.status_code >= 500, group_by [source.ip]: the
 *             pipeline runs on the lines the pattern lets through only;
 *   where     where + group_by [source.ip] without match: every line parsed.
 *
 * No target in the issue; prints CPU per million lines and the ratios.
 *
 *   BENCH_ALERT_LINES=1000000 npm run bench -- alerts-parsed
 */
import { loadavg } from 'node:os';
import { Registry } from 'prom-client';
import { AlertEngine } from '../../aggregator/alerts/engine.js';
import type { MatchAlertRule } from '../../aggregator/alerts/config.js';
import { PipelineSet } from '../../aggregator/pipelines/index.js';
import type { StoredRecord } from '../../aggregator/storage/record-decoder.js';
import { silentLogger } from '../../lib/obs/logger.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { envNumber, info, log, scratch, type Scenario, type ScenarioResult } from './harness.js';

const BATCH = 2_000;

export const alertsParsed: Scenario = {
  name: 'alerts-parsed',
  title: 'alert rule on parsed nginx fields against a plain log-match rule: CPU per million lines',
  run,
};

type Kind = 'plain' | 'filtered' | 'where';

function rule(kind: Kind): MatchAlertRule {
  const base: MatchAlertRule = {
    kind: 'match',
    name: `R_${kind}`,
    topic: 'nginx',
    match: '" 5\\d\\d ',
    threshold: 1_000_000_000, // evaluation only: no transitions
    window: 60_000,
    labels: {},
    annotations: {},
    sinks: [],
    group_by: ['host'],
    max_age: 300_000,
  };
  if (kind === 'plain') return base;
  return { ...base, match: kind === 'where' ? '' : base.match, where: 'http.response.status_code >= 500', group_by: ['source.ip'] };
}

async function run(): Promise<ScenarioResult> {
  const total = envNumber('BENCH_ALERT_LINES', 1_000_000);
  const dir = await scratch('alerts-parsed');
  const pipelines = new PipelineSet({ nginx: { topics: ['nginx'], steps: [{ type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} }] } });
  const none = async () => {
    throw new Error('not used');
  };
  const engines = new Map<Kind, AlertEngine>();
  for (const kind of ['plain', 'filtered', 'where'] as const) {
    engines.set(
      kind,
      new AlertEngine({
        rules: [rule(kind)],
        sinks: [],
        createNotifier: () => {
          throw new Error('no sinks');
        },
        transport: { partitions: none, committed: none, commit: none, fetch: none },
        storage: { names: () => [] },
        groups: { commit: none } as never,
        dataDir: dir.dir,
        logger: silentLogger(),
        registry: new Registry(),
        pipelines,
        baseUrl: () => 'http://127.0.0.1:9400',
      }),
    );
  }
  const rng = makeRng(7);
  const t0 = Math.floor(Date.now() / 1000);
  const hosts = Array.from({ length: 8 }, (_, h) => `web-${h}`);
  const pool: StoredRecord[][] = [];
  let selected = 0;
  const pre = /" 5\d\d /;
  for (let b = 0; b < 20; b++) {
    const recs: StoredRecord[] = [];
    for (let i = 0; i < BATCH; i++) {
      const message = nginxLine(rng, t0 - 30 + Math.floor((b * BATCH + i) / 4000));
      if (pre.test(message)) selected++;
      recs.push({ offset: 0, timestamp: '', host: hosts[Math.floor(i / 250) % hosts.length]!, source: '/var/log/nginx/access.log', source_offset: i * 200, message });
    }
    pool.push(recs);
  }
  const offsets = new Map<Kind, number>();
  const time0 = Date.now() - 120_000;
  let delivered = 0;
  const feed = (kind: Kind, i: number) => {
    const recs = pool[i % pool.length]!;
    const ts = new Date(time0 + delivered++ * 10).toISOString();
    let off = offsets.get(kind) ?? 0;
    for (const r of recs) {
      r.offset = off++;
      r.timestamp = ts;
    }
    offsets.set(kind, off);
    engines.get(kind)!.apply({ topic: 'nginx', partition: 0, records: recs });
  };
  const load0 = loadavg();
  log(`alerts-parsed: ${total.toLocaleString('en')} lines per rule; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  for (let i = 0; i < 10; i++) for (const k of engines.keys()) feed(k, i); // warm up
  const cpuNow = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const us = new Map<Kind, number>([
    ['plain', 0],
    ['filtered', 0],
    ['where', 0],
  ]);
  const batches = Math.ceil(total / BATCH);
  const w0 = performance.now();
  for (let i = 0; i < batches; i++) {
    for (const k of engines.keys()) {
      const a = cpuNow();
      feed(k, i);
      us.set(k, us.get(k)! + cpuNow() - a);
    }
  }
  const wall = (performance.now() - w0) / 1000;
  const lines = batches * BATCH;
  const perM = (k: Kind) => (us.get(k)! / 1e6 / lines) * 1e6;
  const groups = (k: Kind) => engines.get(k)!.view().rules[0]!.groups.length;
  for (const e of engines.values()) await e.close();
  await dir.cleanup();
  return {
    scenario: 'alerts-parsed',
    seconds: wall,
    rows: [
      info('lines per rule', lines),
      info('lines the match lets through', (selected / (20 * BATCH)) * 100, '%', 1),
      info('plain rule: CPU per million lines', perM('plain'), 's', 3),
      info('parsed rule with match prefilter: CPU per million lines', perM('filtered'), 's', 3),
      info('parsed rule without match (every line parsed): CPU per million lines', perM('where'), 's', 3),
      info('prefiltered parsed / plain', perM('filtered') / perM('plain'), 'x', 2),
      info('every-line parsed / plain', perM('where') / perM('plain'), 'x', 2),
      info('groups: plain (hosts) / parsed (client addresses)', `${groups('plain')} / ${groups('filtered')}`),
      info('load average (1 min) at start', load0[0]!, '', 2),
    ],
    notes: ['interleaved batch by batch in one process; the plain rule runs on a topic with a pipeline it never runs (it reads no parsed field)'],
    raw: { lines, cpuUs: Object.fromEntries(us) },
  };
}
