/**
 * Two aggregators on one JetStream cluster (3 nats-server nodes, R3 streams)
 * are interchangeable (issue 15): a batch retried to the other aggregator
 * after the duplicate window is still stored once, the same batches sent to
 * both at once are stored once, a consumer group committed through one
 * resumes through the other, and both list the same topics and offsets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchesBody, httpJson, killAll, plainBatch, postBatches, runLogship, tempDir, topicCount, waitFor } from '../helpers/procs.js';
import { startJsAggregator, startNatsCluster, type JsAggregator, type NatsCluster } from '../helpers/nats-cluster.js';

type Agg = JsAggregator;
const startAggregator = startJsAggregator;

describe('two aggregators on JetStream', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let cluster: NatsCluster;
  let a: Agg;
  let b: Agg;

  beforeAll(async () => {
    tmp = await tempDir('logship-js-aggs-');
    cluster = await startNatsCluster({ size: 3 });
    // A short duplicate window, so a retry can come after it within the test.
    a = await startAggregator(tmp.dir, 'agg-a', cluster.urls, { duplicate_window: '1s' });
    b = await startAggregator(tmp.dir, 'agg-b', cluster.urls.slice().reverse(), { duplicate_window: '1s' });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await cluster?.stop();
    await tmp?.cleanup();
  });

  const body = (producer: string, topic: string, seq: number, lines = 3) =>
    batchesBody({ producer, epoch: 1, host: 'h1', batches: [plainBatch({ topic, source: '/var/log/a.log', seq, sourceOffset: seq * 100, lines: Array.from({ length: lines }, (_, i) => `${producer} s${seq} l${i}`) })] });

  it('a batch retried to the other aggregator after the duplicate window is stored once', async () => {
    const first = await postBatches(a.url, body('late/1', 'late', 0));
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    expect(first.json.acks[0]).toMatchObject({ duplicate: false, offset: 0 });
    // Time itself is what is tested: the JetStream duplicate window (1 s) must be over before the retry.
    await new Promise((r) => setTimeout(r, 2500));
    const retry = await postBatches(b.url, body('late/1', 'late', 0));
    expect(retry.status, JSON.stringify(retry.json)).toBe(200);
    expect(retry.json.acks[0]).toMatchObject({ duplicate: true });
    // The next batch through B is stored, and A, which has not seen it, takes its retry as a duplicate too.
    expect((await postBatches(b.url, body('late/1', 'late', 1))).json.acks[0]).toMatchObject({ duplicate: false, offset: 3 });
    expect((await postBatches(a.url, body('late/1', 'late', 1))).json.acks[0]).toMatchObject({ duplicate: true });
    expect((await postBatches(a.url, body('late/1', 'late', 2))).json.acks[0]).toMatchObject({ duplicate: false, offset: 6 });
    expect(await topicCount(a.url, 'late')).toBe(9);
    expect(await topicCount(b.url, 'late')).toBe(9);
    // The append-latency histogram is the same metric as on local storage.
    for (const url of [a.url, b.url]) {
      const m = await (await fetch(`${url}/metrics`)).text();
      expect(m).toMatch(/^logship_aggregator_append_fsync_seconds_count\{topic="late"\} [1-9]\d*$/m);
    }
  });

  it('the same batches sent to both aggregators at once are stored once, with dense offsets', async () => {
    const N = 40;
    // An agent sends a partition's sequences in order; here every sequence goes to both aggregators at the same moment.
    const results: Array<Array<{ status: number; json: any }>> = [];
    for (let seq = 0; seq < N; seq++) {
      const pair = await Promise.all([postBatches(a.url, body('race/1', 'race', seq, 2)), postBatches(b.url, body('race/1', 'race', seq, 2))]);
      // 503 means "kept racing, retry" (or, on a loaded machine, JetStream briefly unavailable):
      // retry as an agent would, with a pause between attempts (an agent backs off), within 10 s.
      for (const [k, r] of pair.entries()) {
        for (let i = 0; i < 40 && pair[k]!.status === 503; i++) {
          if (i > 0) await new Promise((res) => setTimeout(res, 250));
          pair[k] = await postBatches(k === 0 ? a.url : b.url, body('race/1', 'race', seq, 2));
        }
        expect(pair[k]!.status, `${JSON.stringify(pair[k]!.json)}\n${(k === 0 ? a : b).proc.output().slice(-4000)}`).toBe(200);
        void r;
      }
      results.push(pair);
    }
    const stored = results.flat().filter((r) => r.status === 200 && r.json.acks[0].duplicate === false).length;
    expect(stored).toBe(N);
    expect(await topicCount(a.url, 'race')).toBe(2 * N);
    // Every record once, in sequence order per partition, offsets dense.
    const r = await runLogship(['read', '--url', b.url, '--topic', 'race', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const recs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { partition: number; offset: number; message: string });
    expect(recs).toHaveLength(2 * N);
    expect(new Set(recs.map((x) => x.message)).size).toBe(2 * N);
    const p = recs[0]!.partition;
    expect(recs.every((x) => x.partition === p)).toBe(true);
    expect(recs.map((x) => x.offset)).toEqual(Array.from({ length: 2 * N }, (_, i) => i));
    expect(recs.map((x) => x.message)).toEqual(Array.from({ length: N }, (_, s) => [`race/1 s${s} l0`, `race/1 s${s} l1`]).flat());
  });

  it('a consumer group committed through aggregator A resumes through aggregator B', async () => {
    for (let seq = 0; seq < 10; seq++) expect((await postBatches(a.url, body('grp/1', 'grp', seq, 5))).status).toBe(200);
    const read = async (url: string, args: string[]) => {
      const r = await runLogship(['read', '--url', url, '--topic', 'grp', '--format', 'raw', '--group', 'g1', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n').filter(Boolean);
    };
    const first = await read(a.url, ['--max', '20']);
    expect(first).toHaveLength(20);
    const committedA = await httpJson<{ offsets: Record<string, Record<string, number>> }>(`${a.url}/v1/groups/g1/offsets`);
    await waitFor('B to see the offsets committed through A', async () => JSON.stringify((await httpJson<{ offsets: unknown }>(`${b.url}/v1/groups/g1/offsets`)).offsets) === JSON.stringify(committedA.offsets), 10_000);
    const rest = await read(b.url, []);
    expect(rest).toHaveLength(30);
    expect([...first, ...rest]).toEqual(Array.from({ length: 10 }, (_, s) => Array.from({ length: 5 }, (_, l) => `grp/1 s${s} l${l}`)).flat());
    // Nothing left for the group on either aggregator.
    await waitFor('A to see the offsets committed through B', async () => (await read(a.url, [])).length === 0, 10_000);
  });

  it('both aggregators list the same topics, offsets and bytes', async () => {
    type Topics = { topics: Array<{ name: string; partitions: unknown[] }> };
    const pick = (t: Topics) => t.topics.filter((x) => ['late', 'race', 'grp'].includes(x.name));
    await waitFor('the same listing on A and B', async () => JSON.stringify(pick(await httpJson<Topics>(`${a.url}/v1/topics`))) === JSON.stringify(pick(await httpJson<Topics>(`${b.url}/v1/topics`))), 10_000);
    expect(pick(await httpJson<Topics>(`${b.url}/v1/topics`)).map((x) => x.name).sort()).toEqual(['grp', 'late', 'race']);
  });
});
