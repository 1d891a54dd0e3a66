/**
 * Issue 11 acceptance: 1,000,000 lines agent -> aggregator -> elasticsearch sink -> strict fake
 * Elasticsearch become exactly 1,000,000 documents, none twice, each with the right
 * @timestamp (the stored record's), host.name, log.file.path and log.offset, while:
 *  - the fake answers a share of items 429, a share of whole requests 429 (Retry-After) or
 *    503, adds latency, and resets connections (before indexing, and after indexing so the
 *    retry meets 409s);
 *  - the aggregator is SIGKILLed 3 times while bulk requests are in flight;
 *  - the fake is down for 60 s: the sink's lag rises, ingest goes on (the lines written
 *    during the outage are all stored before the fake comes back, measured), then the lag
 *    drains to zero.
 * Lines are short and fixed-width, so a line's byte offset follows from its number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeElasticsearch, type FakeElasticsearch } from '../fakes/elasticsearch.js';
import { forEachRecord, sinkLag, sinkView } from '../helpers/es-sink.js';
import { killAll, makeStack, tempDir, topicCount, waitFor, type Proc, type Stack } from '../helpers/procs.js';

const TOTAL = 1_000_000;
const FILES = 4;
const PER_FILE = TOTAL / FILES;
/** lines written before the outage; the rest are written while the fake is down */
const BEFORE_OUTAGE = 750_000;
const LINE = 40;
const KILL_AT = [150_000, 300_000, 450_000];
const DOWN_AT = 550_000;
const DOWN_MS = 60_000;

const line = (f: number, i: number) => {
  const head = `f${f} n=${String(i).padStart(7, '0')} es-sink `;
  return head + 'x'.repeat(LINE - 1 - head.length);
};

describe('elasticsearch sink: exactly once under faults, kills and an outage', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let fake: FakeElasticsearch;
  let stack: Stack;
  let files: string[];
  // per line (file * PER_FILE + n): times stored, and the document's @timestamp in ms
  const stored = new Uint8Array(TOTAL);
  const timestamps = new Float64Array(TOTAL);
  const problems: string[] = [];
  let badDocs = 0;
  const problem = (s: string) => {
    badDocs++;
    if (problems.length < 10) problems.push(s);
  };

  /** Checks each document as the fake stores it; keeps nothing of it. */
  const check = (doc: Record<string, any>): null => {
    const m = /^f(\d) n=(\d{7}) /.exec(String(doc.message));
    if (!m) {
      problem(`unexpected message ${JSON.stringify(doc.message)}`);
      return null;
    }
    const f = Number(m[1]);
    const n = Number(m[2]);
    const k = f * PER_FILE + n;
    stored[k]!++;
    if (doc.message !== line(f, n)) problem(`line ${k}: message ${JSON.stringify(doc.message)}`);
    if (doc.host?.name !== 'test-host') problem(`line ${k}: host.name ${JSON.stringify(doc.host)}`);
    if (doc.log?.file?.path !== files[f]) problem(`line ${k}: log.file.path ${JSON.stringify(doc.log?.file?.path)}`);
    if (doc.log?.offset !== n * LINE) problem(`line ${k}: log.offset ${doc.log?.offset}, expected ${n * LINE}`);
    const ts = doc['@timestamp'];
    if (typeof ts !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(ts)) problem(`line ${k}: @timestamp ${JSON.stringify(ts)}`);
    else timestamps[k] = Date.parse(ts);
    return null;
  };

  beforeAll(async () => {
    tmp = await tempDir('logship-es-1m-');
    await mkdir(join(tmp.dir, 'logs'));
    files = Array.from({ length: FILES }, (_, i) => join(tmp.dir, 'logs', `f${i}.log`));
    fake = await startFakeElasticsearch({ flavor: '8', retain: check, seed: 11 });
    stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(tmp.dir, 'logs', '*.log')], start_at: 'beginning' }], {
      aggregator: {
        sinks: [{
          name: 'es', type: 'elasticsearch', topics: ['app'], urls: [fake.url], data_stream: 'logs-{topic}-default',
          // small requests: more of them meet the faults
          batch_max_docs: 2000, request_timeout: '10s', dead_letter_topic: 'es-dead',
        }],
      },
    });
  });

  afterAll(async () => {
    await killAll();
    await fake?.close();
    await tmp.cleanup();
  });

  const write = async (from: number, to: number) => {
    const CHUNK = 25_000;
    for (let c = from; c < to; c += CHUNK) {
      for (let f = 0; f < FILES; f++) {
        let s = '';
        for (let i = c; i < Math.min(to, c + CHUNK); i++) s += line(f, i) + '\n';
        await appendFile(files[f]!, s);
      }
    }
  };

  it(`delivers ${TOTAL} lines as exactly ${TOTAL} documents`, { timeout: 900_000 }, async () => {
    for (const f of files) await writeFile(f, '');
    let agg: Proc = await stack.startAggregator();
    const agent = await stack.startAgent();
    const detail = () => `\nfake: ${JSON.stringify(fake.stats)} stored ${fake.count()}\naggregator:\n${agg.output().slice(-3000)}\nagent:\n${agent.output().slice(-1000)}`;
    const started = Date.now();
    const phases: string[] = [];
    const mark = (what: string) => phases.push(`${what} ${((Date.now() - started) / 1000).toFixed(0)}s`);

    // faults from the first request on
    fake.faults.itemRejectShare = 0.02;
    fake.faults.requestFailure = { status: 429, share: 0.05, retryAfterSec: 1 };
    fake.faults.resets = { share: 0.03 };
    await write(0, BEFORE_OUTAGE / FILES);

    const killedAt: Array<{ stored: number; inFlight: number }> = [];
    for (const [k, at] of KILL_AT.entries()) {
      await waitFor(() => `${at} documents before kill ${k + 1}${detail()}`, () => fake.count() >= at, 180_000, 20);
      // kill while bulk requests are in flight (slow answers make that the usual state)
      fake.faults.latencyMs = 300;
      await waitFor('a bulk request in flight', () => fake.stats.inFlight > 0, 30_000, 2);
      killedAt.push({ stored: fake.count(), inFlight: fake.stats.inFlight });
      mark(`kill ${k + 1}`);
      agg.child.kill('SIGKILL');
      await agg.exited;
      agg = await stack.startAggregator();
      // the next stretch: other faults
      fake.faults.latencyMs = k === 0 ? 20 : 0;
      fake.faults.requestFailure = k === 0 ? { status: 503, share: 0.05 } : { status: 429, next: 3, retryAfterSec: 2 };
      fake.faults.resets = { share: 0.03, afterIndexing: k !== 2 };
    }
    expect(killedAt.every((x) => x.inFlight > 0 && x.stored < BEFORE_OUTAGE)).toBe(true);

    // the outage: the listener closed, open connections reset, connections refused
    await waitFor(() => `${DOWN_AT} documents before the outage${detail()}`, () => fake.count() >= DOWN_AT, 180_000, 20);
    await fake.down();
    mark('down');
    const downAt = Date.now();
    const storedAtDown = fake.count();
    const ingestAtDown = await topicCount(stack.aggUrl, 'app');
    const lagAtDown = await sinkLag(stack.aggUrl, 'es');
    // ingest goes on: the last quarter of the lines is written now and must be stored while the fake is down
    const t0 = Date.now();
    await write(BEFORE_OUTAGE / FILES, PER_FILE);
    await waitFor(() => `all ${TOTAL} lines stored by the aggregator during the outage${detail()}`, async () => (await topicCount(stack.aggUrl, 'app')) === TOTAL, DOWN_MS - 5_000, 100);
    const ingestSeconds = (Date.now() - t0) / 1000;
    const lagDuringDown = await sinkLag(stack.aggUrl, 'es');
    expect(Date.now() - downAt).toBeLessThan(DOWN_MS);
    expect(fake.count()).toBe(storedAtDown);
    expect(lagDuringDown).toBeGreaterThanOrEqual(lagAtDown + (TOTAL - BEFORE_OUTAGE));
    // operators see it too: the sink is degraded (whole requests failing) with the same lag
    const during = await waitFor(() => `GET /v1/sinks to say degraded${detail()}`, async () => {
      const v = await sinkView(stack.aggUrl, 'es');
      return v?.state === 'degraded' ? v : undefined;
    }, 30_000, 200);
    expect(during.lag.app).toBe(lagDuringDown);
    // the outage lasts 60 s: time itself is what is tested here
    await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (Date.now() - downAt))));
    Object.assign(fake.faults, { requestFailure: undefined, resets: undefined, latencyMs: 0, itemRejectShare: 0 });
    await fake.up();
    mark('up');
    const upAt = Date.now();

    await waitFor(() => `${TOTAL} documents after the outage (have ${fake.count()})${detail()}`, () => fake.count() >= TOTAL, 240_000, 50);
    await waitFor(() => `the sink's lag to drain${detail()}`, async () => (await sinkLag(stack.aggUrl, 'es')) === 0, 60_000, 200);
    await waitFor(() => `GET /v1/sinks to say ok with no lag${detail()}`, async () => {
      const v = await sinkView(stack.aggUrl, 'es');
      return v?.state === 'ok' && v.lag.app === 0;
    }, 60_000, 200);
    const drainSeconds = (Date.now() - upAt) / 1000;
    mark('drained');

    expect(problems).toEqual([]);
    expect(badDocs).toBe(0);
    expect(fake.count('logs-app-default')).toBe(TOTAL);
    expect(fake.count()).toBe(TOTAL);
    expect(fake.distinctIds()).toBe(TOTAL);
    let missing = 0;
    let twice = 0;
    for (const s of stored) {
      if (s === 0) missing++;
      else if (s > 1) twice++;
    }
    expect({ missing, twice }).toEqual({ missing: 0, twice: 0 });
    expect(await topicCount(stack.aggUrl, 'es-dead')).toBe(0);

    // @timestamp is the stored record's timestamp, line by line
    let compared = 0;
    let wrongTime = 0;
    const fileIndex = new Map(files.map((p, i) => [p, i]));
    await forEachRecord(stack.aggUrl, 'app', (r) => {
      const k = fileIndex.get(r.source)! * PER_FILE + r.source_offset / LINE;
      compared++;
      if (timestamps[k] !== Date.parse(r.timestamp)) {
        wrongTime++;
        if (problems.length < 10) problems.push(`line ${k}: @timestamp ${new Date(timestamps[k]!).toISOString()}, record ${r.timestamp}`);
      }
    });
    expect(compared).toBe(TOTAL);
    expect(wrongTime, problems.join('\n')).toBe(0);

    // the faults happened, and re-sends were absorbed as 409s rather than stored again
    expect(fake.stats.itemRejections).toBeGreaterThan(0);
    expect(fake.stats.rejectedRequests).toBeGreaterThan(0);
    expect(fake.stats.resets).toBeGreaterThan(0);
    expect(fake.duplicates()).toBeGreaterThan(0);
    console.log(
      `[es-sink 1M] ${TOTAL} docs in ${((Date.now() - started) / 1000).toFixed(0)} s (${phases.join(', ')}); kills at ${killedAt.map((x) => `${x.stored} stored/${x.inFlight} in flight`).join(', ')}; ` +
        `outage: lag ${lagAtDown} -> ${lagDuringDown}, ${TOTAL - ingestAtDown} lines ingested in ${ingestSeconds.toFixed(1)} s while down, drained ${TOTAL - storedAtDown} docs in ${drainSeconds.toFixed(1)} s after; ` +
        `fake: ${fake.stats.bulkRequests} bulk requests, ${fake.stats.rejectedRequests} refused whole, ${fake.stats.itemRejections} items 429, ${fake.stats.resets} resets, ${fake.duplicates()} duplicates answered 409`,
    );
  });
});
