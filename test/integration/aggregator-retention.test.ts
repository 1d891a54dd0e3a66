/**
 * Retention (issue 4): with short retention, small segments and a short check
 * interval, old segments disappear on the timer while ingest goes on,
 * first_offset moves, and a read below it is a 400 offset_out_of_range naming
 * the valid range. Byte retention keeps a partition near its limit. A consumer
 * group whose committed offset was deleted resumes at first_offset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, makeStack, plainBatch, batchesBody, postBatches, runLogship, stop, tempDir, waitFor, httpJson, type Proc, type Stack } from '../helpers/procs.js';

interface TopicsAnswer {
  topics: Array<{ name: string; partitions: Array<{ partition: number; first_offset: number; next_offset: number; bytes: number }> }>;
}

describe('aggregator retention', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let stack: Stack;
  let agg: Proc;
  let seq = 0;

  const send = async (topic: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const body = batchesBody({ producer: 'ret/1', epoch: 1, host: 'ret', batches: [plainBatch({ topic, source: '/a.log', seq: seq++, lines: [`${topic} ${seq} ${'r'.repeat(300)}`] })] });
      const r = await postBatches(stack.aggUrl, body);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
  };
  const partition = async (topic: string) => (await httpJson<TopicsAnswer>(`${stack.aggUrl}/v1/topics`)).topics.find((t) => t.name === topic)!.partitions[0]!;

  beforeAll(async () => {
    tmp = await tempDir('logship-retention-');
    stack = await makeStack(tmp.dir, [], {
      aggregator: {
        retention_check_interval: '200ms',
        topics: {
          default: { partitions: 1, segment_bytes: '1KiB' },
          aged: { retention: '2s' },
          sized: { retention_bytes: '3KiB' },
        },
      },
    });
    agg = await stack.startAggregator();
  });

  afterAll(async () => {
    await killAll();
    await tmp.cleanup();
  });

  it('deletes segments older than retention on the timer; reads below first_offset get the valid range', async () => {
    await send('aged', 10);
    expect((await partition('aged')).first_offset).toBe(0);
    // keep writing while retention runs: ingest never waits for it
    let moved: { first_offset: number; next_offset: number } | undefined;
    const deadline = Date.now() + 30_000;
    while (!moved && Date.now() < deadline) {
      await send('aged', 1);
      const p = await partition('aged');
      if (p.first_offset > 0) moved = p;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(moved, 'first_offset never moved').toBeDefined();

    const res = await fetch(`${stack.aggUrl}/v1/topics/aged/partitions/0/records?offset=0`);
    expect(res.status).toBe(400);
    const err = (await res.json()) as { error: { type: string; reason: string } };
    expect(err.error.type).toBe('offset_out_of_range');
    expect(err.error.reason).toMatch(/offset 0 is out of range: valid offsets are \d+ to \d+/);
    const [, lo, hi] = /valid offsets are (\d+) to (\d+)/.exec(err.error.reason)!;
    expect(Number(lo)).toBeGreaterThan(0);
    expect(Number(hi)).toBeGreaterThanOrEqual(Number(lo));

    const m = await (await fetch(`${stack.aggUrl}/metrics`)).text();
    expect(Number(/^logship_aggregator_retention_deleted_segments_total (\d+)/m.exec(m)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(Number(/^logship_aggregator_partition_first_offset\{topic="aged",partition="0"\} (\d+)/m.exec(m)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(agg.output()).toMatch(/retention deleted segments/);
  });

  it('keeps a partition near retention_bytes', async () => {
    await send('sized', 30);
    await waitFor('byte retention', async () => {
      const p = await partition('sized');
      return p.first_offset > 0 && p.bytes <= 3 * 1024 + 1024 ? p : undefined;
    }, 30_000);
  });

  it('a group whose committed offset was deleted resumes at first_offset', async () => {
    const c = await fetch(`${stack.aggUrl}/v1/groups/late/offsets`, { method: 'POST', body: JSON.stringify({ offsets: { aged: { 0: 0 } } }), headers: { 'content-type': 'application/json' } });
    expect(c.status).toBe(200);
    const p = await partition('aged');
    const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'aged', '--group', 'late', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const offsets = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset);
    expect(offsets[0]).toBeGreaterThanOrEqual(p.first_offset);
    const g = await httpJson<{ offsets: Record<string, Record<string, number>> }>(`${stack.aggUrl}/v1/groups/late/offsets`);
    expect(g.offsets.aged!['0']).toBe(offsets.at(-1)! + 1);
    expect(await stop(agg)).toBe(0);
  });
});
