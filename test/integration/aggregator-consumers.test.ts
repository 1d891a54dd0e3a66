/**
 * Consumers (issue 4): two consumer groups read one topic at different paces
 * with `logship read --group`, the aggregator is SIGKILLed and restarted, and
 * each group resumes at its own committed offset (every record exactly once
 * per group). Also: consumer lag on /metrics, long-poll woken by an append,
 * `logship read --follow`, `since`, and `logship topics`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchesBody, httpJson, killAll, makeStack, plainBatch, postBatches, runLogship, spawnLogship, stop, tempDir, waitFor, type Proc, type Stack } from '../helpers/procs.js';

const BATCHES = 100;
const LINES = 10;
const TOTAL = BATCHES * LINES;

interface Rec {
  partition: number;
  offset: number;
  message: string;
}

describe('aggregator consumers', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let stack: Stack;
  let agg: Proc;
  let seq = 0;

  const send = async (source: string, lines: string[], timestamp?: number) => {
    const r = await postBatches(stack.aggUrl, batchesBody({ producer: 'cons/1', epoch: 1, host: 'cons', batches: [plainBatch({ topic: 'cg', source, seq: seq++, lines, timestamp })] }));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  };
  const read = async (args: string[]): Promise<Rec[]> => {
    const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'cg', '--format', 'json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
  };
  const committed = async (group: string) => (await httpJson<{ offsets: Record<string, Record<string, number>> }>(`${stack.aggUrl}/v1/groups/${group}/offsets`)).offsets.cg ?? {};
  const lag = (metrics: string, group: string) =>
    [...metrics.matchAll(new RegExp(`^logship_aggregator_consumer_lag_records\\{group="${group}",topic="cg",partition="\\d+"\\} (\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);

  beforeAll(async () => {
    tmp = await tempDir('logship-consumers-');
    stack = await makeStack(tmp.dir, [], { aggregator: { topics: { default: { partitions: 2 } } } });
    agg = await stack.startAggregator();
    const base = Date.parse('2024-01-01T00:00:00Z');
    for (let b = 0; b < BATCHES; b++) {
      await send(`/src/${b % 4}.log`, Array.from({ length: LINES }, (_, i) => `m${String(b * LINES + i).padStart(5, '0')}`), base + b * 1000);
    }
  });

  afterAll(async () => {
    await killAll();
    await tmp.cleanup();
  });

  it('two groups at different paces each resume at their own offset after a restart', async () => {
    const topics = await runLogship(['topics', '--url', stack.aggUrl]);
    expect(topics.code).toBe(0);
    expect(topics.stdout).toMatch(/^TOPIC\s+PARTITION\s+FIRST_OFFSET\s+NEXT_OFFSET\s+RECORDS\s+BYTES$/m);
    const rows = topics.stdout.split('\n').filter((l) => l.startsWith('cg '));
    expect(rows).toHaveLength(2);
    expect(rows.reduce((a, l) => a + Number(l.split(/\s+/)[4]), 0)).toBe(TOTAL);

    const fast1 = await read(['--group', 'fast', '--max', '600']);
    const slow1 = await read(['--group', 'slow', '--max', '150']);
    const slow2 = await read(['--group', 'slow', '--max', '100']);
    expect(fast1).toHaveLength(600);
    expect(slow1).toHaveLength(150);
    expect(slow2).toHaveLength(100);
    const key = (r: Rec) => `${r.partition}:${r.offset}`;
    // what a group committed is exactly what it printed, per partition
    for (const [group, recs] of [['fast', fast1], ['slow', [...slow1, ...slow2]]] as const) {
      const c = await committed(group);
      for (const p of [0, 1]) {
        const mine = recs.filter((r) => r.partition === p).map((r) => r.offset);
        if (mine.length) expect(c[String(p)], `${group} partition ${p}`).toBe(Math.max(...mine) + 1);
      }
    }
    expect(new Set([...slow1, ...slow2].map(key)).size).toBe(250);

    const m = await (await fetch(`${stack.aggUrl}/metrics`)).text();
    expect(lag(m, 'fast')).toBe(TOTAL - 600);
    expect(lag(m, 'slow')).toBe(TOTAL - 250);

    agg.child.kill('SIGKILL');
    await agg.exited;
    agg = await stack.startAggregator();

    const fast2 = await read(['--group', 'fast']);
    const slow3 = await read(['--group', 'slow']);
    expect(fast2).toHaveLength(TOTAL - 600);
    expect(slow3).toHaveLength(TOTAL - 250);
    for (const all of [[...fast1, ...fast2], [...slow1, ...slow2, ...slow3]]) {
      expect(new Set(all.map(key)).size).toBe(TOTAL);
      expect(new Set(all.map((r) => r.message)).size).toBe(TOTAL);
    }
    const m2 = await (await fetch(`${stack.aggUrl}/metrics`)).text();
    expect(lag(m2, 'fast')).toBe(0);
    expect(lag(m2, 'slow')).toBe(0);
    // nothing new: a group read prints nothing
    expect(await read(['--group', 'slow'])).toHaveLength(0);
  });

  it('since= starts at the first batch at or after the time', async () => {
    const recs = await read(['--since', '2024-01-01T00:01:30Z']);
    // batches 90..99 carry timestamps >= 90 s
    expect(recs).toHaveLength(10 * LINES);
    expect(recs.map((r) => r.message).sort()[0]).toBe('m00900');
  });

  it('a long-poll is woken by an append; --follow streams new records', async () => {
    const t = (await httpJson<{ topics: Array<{ name: string; partitions: Array<{ partition: number; next_offset: number }> }> }>(`${stack.aggUrl}/v1/topics`)).topics.find((x) => x.name === 'cg')!;
    const follower = spawnLogship(['read', '--url', stack.aggUrl, '--topic', 'cg', '--follow', '--format', 'raw']);
    // find the partition /src/0.log maps to by sending and watching, via a long-poll on each partition
    const WAIT_MS = 20_000;
    const started = Date.now();
    let answered = 0;
    const polls = t.partitions.map((p) =>
      httpJson<{ records: Array<{ message: string }> }>(`${stack.aggUrl}/v1/topics/cg/partitions/${p.partition}/records?offset=${p.next_offset}&wait_ms=${WAIT_MS}`).then((r) => {
        answered++;
        return { r, ms: Date.now() - started };
      }),
    );
    // Time itself is tested here: a long-poll at the end of a partition must stay open (not answer
    // empty at once), so none may have answered after half a second.
    await new Promise((r) => setTimeout(r, 500));
    expect(answered, 'a long-poll at the end of the partition answered before anything was appended').toBe(0);
    const appendedAt = Date.now() - started;
    await send('/src/0.log', ['woken-1']);
    const first = await Promise.race(polls);
    expect(first.r.records.map((x) => x.message)).toEqual(['woken-1']);
    // woken by the append, not by its own timeout: it answered well before wait_ms (a ratio, not a speed claim)
    expect(first.ms, `the long-poll answered ${first.ms} ms after it was issued; wait_ms was ${WAIT_MS}`).toBeLessThan(WAIT_MS / 2);
    console.log(`aggregator-consumers: long-poll answered ${first.ms} ms after it was issued (append sent at ${appendedAt} ms; wait_ms was ${WAIT_MS})`);
    // The follower starts at the end as of its start: probe until it is there, then it must stream.
    await waitFor(() => `--follow to start\n${follower.output()}`, async () => {
      await send('/src/3.log', [`probe-${Date.now()}`]);
      return /probe-/.test(follower.output());
    }, 30_000, 500);
    await send('/src/1.log', ['woken-2']);
    await send('/src/2.log', ['woken-3']);
    await waitFor(() => `--follow to print the new records\n${follower.output()}`, () => /woken-2/.test(follower.output()) && /woken-3/.test(follower.output()), 20_000);
    follower.child.kill('SIGTERM');
    await follower.exited;
    await Promise.allSettled(polls);
    expect(await stop(agg)).toBe(0);
  });
});
