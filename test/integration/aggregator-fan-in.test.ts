/**
 * Fan-in correctness (issue 17): hundreds of agents, each on its own
 * keep-alive connection with its own producer id and host, send their batches
 * at the same time; each also re-sends one batch it already had acknowledged,
 * as an agent does after a lost answer. Every line must be stored exactly
 * once, every re-send acknowledged as a duplicate, and every agent must have
 * kept its one connection (none refused, reset or re-opened). Not timed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { BATCHES_CONTENT_TYPE } from '../../lib/protocol/batches.js';
import { batchesBody, httpJson, killAll, makeStack, plainBatch, tempDir, topicCount, type Proc, type Stack } from '../helpers/procs.js';

const AGENTS = 400;
const BATCHES = 4;
const LINES = 3;
const TOPIC = 'fleet';
const PARTITIONS = 4;

interface Ack {
  seq: number;
  duplicate: boolean;
}

describe('aggregator fan-in from hundreds of keep-alive agents', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let stack: Stack;
  let agg: Proc;
  const clients: Client[] = [];

  beforeAll(async () => {
    tmp = await tempDir('logship-fan-in-');
    stack = await makeStack(tmp.dir, [], { aggregator: { topics: { default: { partitions: PARTITIONS } } } });
    agg = await stack.startAggregator();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.destroy().catch(() => undefined)));
    await killAll();
    await tmp.cleanup();
  });

  it(`${AGENTS} agents sending at once: every batch stored exactly once, re-sends deduplicated, one connection each`, async () => {
    const line = (a: number, seq: number, l: number) => `agent ${a} seq ${seq} line ${l}`;
    const body = (a: number, seq: number) =>
      batchesBody({
        producer: `fan-in-${a}/1`,
        epoch: 1,
        host: `fan-in-host-${a}`,
        batches: [plainBatch({ topic: TOPIC, source: '/var/log/app.log', seq, sourceOffset: seq * 100, lines: Array.from({ length: LINES }, (_, l) => line(a, seq, l)) })],
      });
    const connects = new Array<number>(AGENTS).fill(0);
    const lost: string[] = [];
    const send = async (c: Client, a: number, seq: number): Promise<Ack> => {
      const res = await c.request({ path: '/v1/batches', method: 'POST', body: body(a, seq), headers: { 'content-type': BATCHES_CONTENT_TYPE } });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`agent ${a} seq ${seq}: HTTP ${res.statusCode}: ${text}`);
      const acks = (JSON.parse(text) as { acks: Ack[] }).acks;
      expect(acks).toHaveLength(1);
      return acks[0]!;
    };
    const agent = async (a: number): Promise<Ack[]> => {
      const c = new Client(stack.aggUrl, { pipelining: 1, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 });
      clients.push(c);
      c.on('connect', () => connects[a]!++);
      c.on('disconnect', (_o, _t, err) => lost.push(`agent ${a}: ${err.message}`));
      const acks: Ack[] = [];
      for (let seq = 0; seq < BATCHES; seq++) {
        acks.push(await send(c, a, seq));
        // After its second batch an agent sends its first again (its answer "was lost").
        if (seq === 1) acks.push(await send(c, a, 0));
      }
      return acks;
    };
    const all = await Promise.all(Array.from({ length: AGENTS }, (_, a) => agent(a)));

    for (const [a, acks] of all.entries()) {
      expect(acks.map((k) => [k.seq, k.duplicate]), `agent ${a}`).toEqual([
        [0, false],
        [1, false],
        [0, true],
        [2, false],
        [3, false],
      ]);
    }
    // Every agent kept the connection it opened: nothing refused, reset or re-opened.
    expect(lost).toEqual([]);
    expect(connects.filter((n) => n !== 1)).toEqual([]);

    expect(await topicCount(stack.aggUrl, TOPIC)).toBe(AGENTS * BATCHES * LINES);
    const seen = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      for (let offset = 0; ; ) {
        const r = await httpJson<{ next_offset: number; records: Array<{ message: string }> }>(`${stack.aggUrl}/v1/topics/${TOPIC}/partitions/${p}/records?offset=${offset}&max_bytes=4194304`);
        if (r.records.length === 0) break;
        for (const x of r.records) seen.set(x.message, (seen.get(x.message) ?? 0) + 1);
        offset = r.next_offset;
      }
    }
    const wrong: string[] = [];
    for (let a = 0; a < AGENTS; a++) {
      for (let seq = 0; seq < BATCHES; seq++) {
        for (let l = 0; l < LINES; l++) {
          const n = seen.get(line(a, seq, l)) ?? 0;
          if (n !== 1) wrong.push(`${line(a, seq, l)}: stored ${n} times`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(seen.size).toBe(AGENTS * BATCHES * LINES);
    expect(agg.child.exitCode).toBeNull();
  }, 180_000);
});
