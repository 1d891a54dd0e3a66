/**
 * Torn writes and corrupt segments (issue 4): the aggregator is stopped, the
 * active segment of a partition is cut in the middle of a batch, and on start
 * the cut is reported (log line and metric), and the re-sent request (the same
 * bytes: same producer, epoch and seq) lands exactly once. A corrupt sealed
 * segment in the middle of a partition is quarantined and reported; the
 * partition keeps serving everything else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchesBody, httpJson, killAll, makeStack, plainBatch, postBatches, stop, tempDir, type Proc, type Stack } from '../helpers/procs.js';

interface RecordsAnswer {
  first_offset: number;
  next_offset: number;
  records: Array<{ offset: number; message: string }>;
}

const producer = 'torn-host/1';

function body(topic: string, seq: number, lines: string[]): Buffer {
  return batchesBody({ producer, epoch: 1, host: 'torn-host', batches: [plainBatch({ topic, source: '/var/log/x.log', seq, lines })] });
}

async function allMessages(url: string, topic: string): Promise<string[]> {
  const r = await httpJson<RecordsAnswer>(`${url}/v1/topics/${topic}/partitions/0/records?max_bytes=67108864`);
  return r.records.map((x) => x.message);
}

function metric(text: string, name: string, topic: string): number {
  return Number(new RegExp(`^${name}\\{topic="${topic}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

describe('aggregator recovery from torn writes and corrupt segments', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let stack: Stack;
  let agg: Proc;

  beforeAll(async () => {
    tmp = await tempDir('logship-torn-');
    stack = await makeStack(tmp.dir, [], {
      aggregator: { topics: { default: { partitions: 1 }, small: { segment_bytes: '1KiB' } } },
    });
    agg = await stack.startAggregator();
  });

  afterAll(async () => {
    await killAll();
    await tmp.cleanup();
  });

  it('cuts a batch torn in the middle, reports it, and stores the re-sent batch exactly once', async () => {
    const first = body('torn', 0, ['one', 'two']);
    const second = body('torn', 1, ['three '.repeat(50), 'four '.repeat(50)]);
    expect((await postBatches(stack.aggUrl, first)).status).toBe(200);
    expect((await postBatches(stack.aggUrl, second)).status).toBe(200);
    // A clean stop writes producers.json covering both batches: after the cut it must not be trusted.
    expect(await stop(agg)).toBe(0);
    const dir = join(tmp.dir, 'agg-data', 'topics', 'torn', '0');
    const seg = join(dir, (await readdir(dir)).filter((f) => f.endsWith('.log')).sort().at(-1)!);
    const size = (await stat(seg)).size;
    await truncate(seg, size - 150); // inside the second batch's payload
    expect(JSON.parse(await readFile(join(dir, 'producers.json'), 'utf8')).offset).toBe(4);

    agg = await stack.startAggregator();
    expect(agg.output()).toMatch(/cut a torn or corrupt tail/);
    expect(agg.output()).toMatch(/producer snapshot covers offsets the log no longer has/);
    expect(await allMessages(stack.aggUrl, 'torn')).toEqual(['one', 'two']);
    const m = await (await fetch(`${stack.aggUrl}/metrics`)).text();
    expect(metric(m, 'logship_aggregator_recovery_cut_bytes_total', 'torn')).toBeGreaterThan(0);

    // The agent re-sends what was not acknowledged (and, after a crash, maybe what was).
    const again = await postBatches(stack.aggUrl, second);
    expect(again.status).toBe(200);
    expect(again.json.acks[0]).toMatchObject({ seq: 1, duplicate: false, offset: 2 });
    expect((await postBatches(stack.aggUrl, second)).json.acks[0]).toMatchObject({ duplicate: true });
    expect((await postBatches(stack.aggUrl, first)).json.acks[0]).toMatchObject({ duplicate: true });
    expect(await allMessages(stack.aggUrl, 'torn')).toEqual(['one', 'two', 'three '.repeat(50), 'four '.repeat(50)]);

    // and after another restart, still exactly once
    agg.child.kill('SIGKILL');
    await agg.exited;
    agg = await stack.startAggregator();
    expect((await postBatches(stack.aggUrl, second)).json.acks[0]).toMatchObject({ duplicate: true });
    expect(await allMessages(stack.aggUrl, 'torn')).toHaveLength(4);
  });

  it('quarantines a corrupt segment in the middle of a partition, reports it, and serves the rest', async () => {
    for (let seq = 0; seq < 12; seq++) {
      const r = await postBatches(stack.aggUrl, body('small', seq, [`batch ${seq} ${'z'.repeat(400)}`]));
      expect(r.status).toBe(200);
    }
    expect(await stop(agg)).toBe(0);
    const dir = join(tmp.dir, 'agg-data', 'topics', 'small', '0');
    const segs = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
    expect(segs.length).toBeGreaterThan(3);
    // flip a payload byte in the last frame of a sealed segment in the middle
    const victim = join(dir, segs[1]!);
    const data = await readFile(victim);
    data[data.length - 5] ^= 0xff;
    await writeFile(victim, data);

    agg = await stack.startAggregator();
    expect(agg.output()).toMatch(/a sealed segment failed its integrity check and was moved aside/);
    expect(agg.output()).toMatch(/partition recovered/);
    expect((await readdir(dir)).some((f) => f.startsWith(segs[1]!) && f.includes('.corrupt-'))).toBe(true);
    const m = await (await fetch(`${stack.aggUrl}/metrics`)).text();
    expect(metric(m, 'logship_aggregator_quarantined_segments_total', 'small')).toBe(1);
    const msgs = await allMessages(stack.aggUrl, 'small');
    expect(msgs.length).toBeGreaterThan(0);
    expect(msgs.length).toBeLessThan(12);
    expect(msgs.at(-1)).toMatch(/^batch 11 /);
    // ingest goes on
    expect((await postBatches(stack.aggUrl, body('small', 12, ['after']))).json.acks[0]).toMatchObject({ duplicate: false });
    expect(await stop(agg)).toBe(0);
  });
});
