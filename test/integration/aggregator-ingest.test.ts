/**
 * Ingest rules (issue 4): topics and partition counts from config, topic-name
 * rules (400), idempotent re-sends (dedup metric), stale producer epochs (409
 * and a metric), segments rolling by size, and the fsync latency histogram.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { batchesBody, httpJson, killAll, makeStack, plainBatch, postBatches, stop, tempDir, type Proc, type Stack } from '../helpers/procs.js';

describe('aggregator ingest rules', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let stack: Stack;
  let agg: Proc;
  const body = (topic: string, seq: number, epoch = 1, producer = 'rules/1', lines = [`line ${seq}`]) =>
    batchesBody({ producer, epoch, host: 'rules', batches: [plainBatch({ topic, source: '/r.log', seq, lines })] });
  const metrics = async () => (await fetch(`${stack.aggUrl}/metrics`)).text();

  beforeAll(async () => {
    tmp = await tempDir('logship-ingest-');
    stack = await makeStack(tmp.dir, [], {
      aggregator: { topics: { default: { partitions: 3 }, wide: { partitions: 5, segment_bytes: '1KiB' } } },
    });
    agg = await stack.startAggregator();
  });

  afterAll(async () => {
    await killAll();
    await tmp.cleanup();
  });

  it('creates topics with the configured partition count; segments roll by size', async () => {
    for (let s = 0; s < 20; s++) expect((await postBatches(stack.aggUrl, body('wide', s, 1, 'rules/1', [`w ${s} ${'q'.repeat(300)}`]))).status).toBe(200);
    expect((await postBatches(stack.aggUrl, body('plain', 0))).status).toBe(200);
    const t = await httpJson<{ topics: Array<{ name: string; partitions: unknown[] }> }>(`${stack.aggUrl}/v1/topics`);
    expect(Object.fromEntries(t.topics.map((x) => [x.name, x.partitions.length]))).toEqual({ plain: 3, wide: 5 });
    const wideDirs = await readdir(join(tmp.dir, 'agg-data', 'topics', 'wide'));
    let segments = 0;
    for (const d of wideDirs.filter((x) => /^\d+$/.test(x))) segments += (await readdir(join(tmp.dir, 'agg-data', 'topics', 'wide', d))).filter((f) => f.endsWith('.log')).length;
    expect(segments).toBeGreaterThan(5);
    expect(await metrics()).toMatch(/^logship_aggregator_append_fsync_seconds_count\{topic="wide"\} 20$/m);
  });

  it('refuses bad topic names with a clear 400', async () => {
    for (const name of ['bad name', '..', 'a/b', 'x'.repeat(201)]) {
      const r = await postBatches(stack.aggUrl, body(name, 100));
      expect(r.status, name).toBe(400);
      expect(r.json.error.type).toBe('bad_request');
      expect(r.json.error.reason).toMatch(/invalid character .* in topic name|is not a valid topic name|topic name is \d+ characters long/);
    }
    expect(await metrics()).toMatch(/^logship_aggregator_bad_requests_total\{type="bad_request"\} [4-9]/m);
  });

  it('acknowledges a re-sent batch without storing it again, across a restart', async () => {
    const b = body('dedup', 7);
    expect((await postBatches(stack.aggUrl, b)).json.acks[0]).toMatchObject({ duplicate: false });
    expect((await postBatches(stack.aggUrl, b)).json.acks[0]).toMatchObject({ duplicate: true });
    expect(await metrics()).toMatch(/^logship_aggregator_dedup_hits_total\{topic="dedup"\} 1$/m);
    agg.child.kill('SIGKILL');
    await agg.exited;
    agg = await stack.startAggregator();
    expect((await postBatches(stack.aggUrl, b)).json.acks[0]).toMatchObject({ duplicate: true });
    const t = await httpJson<{ topics: Array<{ name: string; partitions: Array<{ next_offset: number }> }> }>(`${stack.aggUrl}/v1/topics`);
    expect(t.topics.find((x) => x.name === 'dedup')!.partitions.reduce((a, p) => a + p.next_offset, 0)).toBe(1);
  });

  it('fences a stale producer epoch with 409 and a metric, also after a restart', async () => {
    expect((await postBatches(stack.aggUrl, body('fence', 0, 2, 'agent-x/1'))).status).toBe(200);
    const stale = await postBatches(stack.aggUrl, body('fence', 1, 1, 'agent-x/1'));
    expect(stale.status).toBe(409);
    expect(stale.json.error.type).toBe('producer_fenced');
    expect(stale.json.error.reason).toMatch(/producer agent-x\/1 epoch 1 is stale: epoch 2 has written since/);
    expect(await metrics()).toMatch(/^logship_aggregator_producer_fenced_total\{topic="fence"\} 1$/m);
    expect(await stop(agg)).toBe(0);
    agg = await stack.startAggregator();
    expect((await postBatches(stack.aggUrl, body('fence', 1, 1, 'agent-x/1'))).status).toBe(409);
    expect((await postBatches(stack.aggUrl, body('fence', 1, 3, 'agent-x/1'))).status).toBe(200);
    expect(await stop(agg)).toBe(0);
  });
});
