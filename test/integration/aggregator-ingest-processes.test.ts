/**
 * Ingest processes (issue 17: ingest.processes > 1): POST /v1/batches is
 * accepted, decoded and checked by several processes and stored by the one
 * writer. Many agents at once are stored exactly once; a SIGKILLed ingest
 * process loses nothing acknowledged and is started again; hostile requests
 * get the same answers as from a single process; other routes are relayed;
 * SIGHUP's new tokens reach the ingest processes; /metrics sums them; a
 * SIGKILLed writer takes its ingest processes down; SIGTERM drains. Not timed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'undici';
import { BATCHES_CONTENT_TYPE, encodeRequest } from '../../lib/protocol/batches.js';
import { batchesBody, freePort, httpJson, killAll, plainBatch, postBatches, spawnLogship, stop, tempDir, waitFor, writeYaml, type Proc } from '../helpers/procs.js';

const TOKEN = 'ingest-processes-test-token-0001';
const READ = 'ingest-processes-read-token-0002';
const NEW_TOKEN = 'ingest-processes-after-reload-03';
const PARTITIONS = 4;

/** The running children of a process whose command line names the ingest worker script. */
function ingestPids(parent: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('ingest/worker-main.js')) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Ack {
  seq: number;
  duplicate: boolean;
}

async function startAggregator(config: string, url: string): Promise<Proc> {
  const p = spawnLogship(['aggregator', '--config', config]);
  await waitFor(() => `aggregator ready\n${p.output()}`, async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok, 30_000);
  return p;
}

function aggregatorConfig(dir: string, port: number, processes: number, tokens: Array<{ name: string; token: string; scopes: string[]; topics?: string[] }>, name = 'aggregator.yaml') {
  return writeYaml(join(dir, name), {
    listen: `127.0.0.1:${port}`,
    data_dir: join(dir, `data-${name}`),
    topics: { default: { partitions: PARTITIONS } },
    auth: { tokens },
    limits: { max_body_bytes: '64KiB', max_topics: 5 },
    ingest: { processes },
  });
}

describe('aggregator with ingest processes', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let port: number;
  let url: string;
  let config: string;
  let agg: Proc;
  const clients: Client[] = [];
  const tokens = [
    { name: 'agents', token: TOKEN, scopes: ['ingest'] },
    { name: 'reader', token: READ, scopes: ['read'] },
    { name: 'only-a', token: 'ingest-processes-topic-a-token04', scopes: ['ingest'], topics: ['a'] },
  ];

  beforeAll(async () => {
    tmp = await tempDir('logship-ingest-procs-');
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    config = await aggregatorConfig(tmp.dir, port, 3, tokens);
    agg = await startAggregator(config, url);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.destroy().catch(() => undefined)));
    await killAll();
    await tmp.cleanup();
  });

  /** Every message of a topic, read through the relayed records route, with how often each is stored. */
  async function stored(topic: string): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      for (let offset = 0; ; ) {
        const r = await fetch(`${url}/v1/topics/${topic}/partitions/${p}/records?offset=${offset}&max_bytes=4194304`, { headers: { authorization: `Bearer ${READ}` } });
        if (r.status === 404) break;
        const j = (await r.json()) as { next_offset: number; records: Array<{ message: string }> };
        if (j.records.length === 0) break;
        for (const x of j.records) seen.set(x.message, (seen.get(x.message) ?? 0) + 1);
        offset = j.next_offset;
      }
    }
    return seen;
  }

  /**
   * A simulated agent: sends batches 0..n-1 in order on its own keep-alive connection; a request
   * that fails without an answer (a killed ingest process) is sent again, as the agent does.
   */
  async function agent(topic: string, a: number, n: number, lines: number, onInterrupted: () => void): Promise<Ack[]> {
    const c = new Client(url, { pipelining: 1, keepAliveTimeout: 60_000 });
    clients.push(c);
    const acks: Ack[] = [];
    for (let seq = 0; seq < n; seq++) {
      const body = batchesBody({
        producer: `${topic}-${a}/1`,
        epoch: 1,
        host: `${topic}-host-${a}`,
        batches: [plainBatch({ topic, source: '/var/log/app.log', seq, sourceOffset: seq * 100, lines: Array.from({ length: lines }, (_, l) => `${topic} agent ${a} seq ${seq} line ${l}`) })],
      });
      for (let attempt = 0; ; attempt++) {
        if (attempt > 50) throw new Error(`agent ${a} seq ${seq}: no answer after 50 attempts`);
        let res;
        try {
          res = await c.request({ path: '/v1/batches', method: 'POST', body, headers: { 'content-type': BATCHES_CONTENT_TYPE, authorization: `Bearer ${TOKEN}` } });
        } catch {
          onInterrupted();
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const text = await res.body.text();
        if (res.statusCode === 503) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        if (res.statusCode !== 200) throw new Error(`agent ${a} seq ${seq}: HTTP ${res.statusCode}: ${text}`);
        acks.push(...(JSON.parse(text) as { acks: Ack[] }).acks);
        break;
      }
    }
    return acks;
  }

  it('runs the configured ingest processes; 200 agents at once: every line stored exactly once, re-sends deduplicated, reads relayed', async () => {
    expect(ingestPids(agg.child.pid!)).toHaveLength(3);
    const AGENTS = 200;
    const N = 4;
    const all = await Promise.all(Array.from({ length: AGENTS }, (_, a) => agent('fleet', a, N, 3, () => undefined)));
    for (const acks of all) expect(acks.map((k) => [k.seq, k.duplicate])).toEqual(Array.from({ length: N }, (_, s) => [s, false]));
    // A re-send of an acknowledged batch (a lost answer) is a duplicate, whichever process takes it.
    const again = await Promise.all(Array.from({ length: 20 }, (_, a) => agent('fleet', a, 2, 3, () => undefined)));
    for (const acks of again) expect(acks.map((k) => k.duplicate)).toEqual([true, true]);

    const seen = await stored('fleet');
    expect(seen.size).toBe(AGENTS * N * 3);
    expect([...seen.values()].filter((n) => n !== 1)).toEqual([]);
    expect(await httpTopicCount('fleet')).toBe(AGENTS * N * 3);

    // /metrics (relayed to the writer) sums the ingest processes' counters with the writer's.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    expect(value(/^logship_aggregator_requests_total\{route="batches",status="200"\} (\d+)$/m)).toBe(AGENTS * N + 40);
    expect(value(/^logship_aggregator_appended_batches_total\{topic="fleet"\} (\d+)$/m)).toBe(AGENTS * N);
    expect(value(/^logship_aggregator_dedup_hits_total\{topic="fleet"\} (\d+)$/m)).toBe(40);
    expect(agg.child.exitCode).toBeNull();
  }, 180_000);

  async function httpTopicCount(topic: string): Promise<number> {
    const t = (await (await fetch(`${url}/v1/topics`, { headers: { authorization: `Bearer ${READ}` } })).json()) as {
      topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }>;
    };
    const x = t.topics.find((y) => y.name === topic);
    return x ? x.partitions.reduce((s, p) => s + p.next_offset - p.first_offset, 0) : 0;
  }

  it('kill -9 of an ingest process mid-stream: interrupted requests are re-sent, everything stored exactly once, the process is started again', async () => {
    const before = ingestPids(agg.child.pid!);
    expect(before).toHaveLength(3);
    const AGENTS = 60;
    const N = 30;
    let interrupted = 0;
    let acked = 0;
    const running = Promise.all(
      Array.from({ length: AGENTS }, (_, a) =>
        agent('kill', a, N, 2, () => interrupted++).then((acks) => {
          acked += acks.length;
          return acks;
        }),
      ),
    );
    // Kill one ingest process while batches are in flight, then another once the first is back.
    await waitFor('some batches acknowledged before the kill', async () => (await httpTopicCount('kill')) >= 200, 60_000, 20);
    process.kill(before[0]!, 'SIGKILL');
    await waitFor(() => `a new ingest process in place of ${before[0]} (now ${ingestPids(agg.child.pid!).join(',')})`, () => ingestPids(agg.child.pid!).length === 3 && !ingestPids(agg.child.pid!).includes(before[0]!), 30_000);
    process.kill(before[1]!, 'SIGKILL');
    const all = await running;
    expect(interrupted, 'the kills interrupted requests in flight').toBeGreaterThan(0);
    for (const acks of all) expect(acks.map((k) => k.seq)).toEqual(Array.from({ length: N }, (_, s) => s));
    const seen = await stored('kill');
    expect(seen.size).toBe(AGENTS * N * 2);
    expect([...seen.values()].filter((n) => n !== 1)).toEqual([]);
    await waitFor('three ingest processes again', () => ingestPids(agg.child.pid!).length === 3, 30_000);
    expect(alive(before[0]!)).toBe(false);
    expect(agg.output()).toContain('an ingest process died; starting it again');
    expect(acked).toBe(AGENTS * N);
    expect(agg.child.exitCode).toBeNull();
  }, 240_000);

  it('hostile requests get the same answers as from a single-process aggregator', async () => {
    const port1 = await freePort();
    const url1 = `http://127.0.0.1:${port1}`;
    const single = await startAggregator(await aggregatorConfig(tmp.dir, port1, 1, tokens, 'single.yaml'), url1);
    expect(ingestPids(single.child.pid!)).toEqual([]);
    const good = (topic: string, seq = 0) =>
      batchesBody({ producer: 'hostile/1', epoch: 1, host: 'h', batches: [plainBatch({ topic, source: 's', seq, lines: ['one', 'two'] })] });
    const badCrc = Buffer.from(good('x'));
    badCrc[badCrc.length - 1] ^= 0xff;
    const lying = (() => {
      const b = plainBatch({ topic: 'x', source: 's', seq: 0, lines: ['one', 'two'] });
      return Buffer.concat(encodeRequest({ producer: 'hostile/2', epoch: 1, host: 'h', batches: [{ ...b, lines: 3 }] }));
    })();
    const many = Buffer.concat(
      encodeRequest({ producer: 'hostile/3', epoch: 1, host: 'h', batches: ['t1', 't2', 't3', 't4', 't5', 't6'].map((t, i) => plainBatch({ topic: t, source: 's', seq: i, lines: ['x'] })) }),
    );
    // Too many new topics (403) and a batch whose record count disagrees with its payload (400): the 403 comes first.
    const manyAndLying = Buffer.concat(
      encodeRequest({
        producer: 'hostile/4',
        epoch: 1,
        host: 'h',
        batches: ['t1', 't2', 't3', 't4', 't5', 't6'].map((t, i) => {
          const b = plainBatch({ topic: t, source: 's', seq: i, lines: ['x'] });
          return i === 0 ? { ...b, lines: 2 } : b;
        }),
      }),
    );
    const cases: Array<[string, (u: string) => Promise<{ status: number; json: unknown }>]> = [
      ['no token', (u) => postBatches(u, good('x'))],
      ['wrong token', (u) => postBatches(u, good('x'), 'not-the-token-at-all-0000000000')],
      ['read token', (u) => postBatches(u, good('x'), READ)],
      ['topic outside the token', (u) => postBatches(u, good('b'), 'ingest-processes-topic-a-token04')],
      ['garbage body', (u) => postBatches(u, Buffer.from('not a batch request'), TOKEN)],
      ['CRC mismatch', (u) => postBatches(u, badCrc, TOKEN)],
      ['record count disagrees', (u) => postBatches(u, lying, TOKEN)],
      ['too large', (u) => postBatches(u, Buffer.alloc(70_000), TOKEN)],
      ['too many topics', (u) => postBatches(u, many, TOKEN)],
      ['too many topics and a lying batch', (u) => postBatches(u, manyAndLying, TOKEN)],
      [
        'wrong media type',
        async (u) => {
          const r = await fetch(`${u}/v1/batches`, { method: 'POST', body: good('x'), headers: { 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` } });
          return { status: r.status, json: await r.json() };
        },
      ],
      [
        'GET on the batches route',
        async (u) => {
          const r = await fetch(`${u}/v1/batches`, { headers: { authorization: `Bearer ${TOKEN}` } });
          return { status: r.status, json: await r.json() };
        },
      ],
      [
        'no such route',
        async (u) => {
          const r = await fetch(`${u}/v1/nothing`, { headers: { authorization: `Bearer ${TOKEN}` } });
          return { status: r.status, json: await r.json() };
        },
      ],
    ];
    const answers: string[] = [];
    for (const [name, send] of cases) {
      const a = await send(url);
      const b = await send(url1);
      answers.push(`${name}: ${a.status}`);
      // The one difference allowed: how many topics this aggregator already holds (the other tests made some).
      const same = (x: unknown) => JSON.parse(JSON.stringify(x).replace(/; \d+ exist\)/, '; N exist)')) as unknown;
      expect(same(a), name).toEqual(same(b));
      expect(a.status, name).toBeGreaterThanOrEqual(400);
    }
    expect(answers.join('\n')).toMatchInlineSnapshot(`
      "no token: 401
      wrong token: 401
      read token: 403
      topic outside the token: 403
      garbage body: 400
      CRC mismatch: 400
      record count disagrees: 400
      too large: 413
      too many topics: 403
      too many topics and a lying batch: 403
      wrong media type: 415
      GET on the batches route: 400
      no such route: 404"
    `);
    // Nothing of a refused request was stored; the process is up.
    expect(await httpTopicCount('x')).toBe(0);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^logship_aggregator_refused_batches_total\{check="payload"\} 1$/m);
    expect(metrics).toMatch(/^logship_aggregator_refused_batches_total\{check="header"\} [12]$/m);
    await stop(single);
    expect(agg.child.exitCode).toBeNull();
  }, 120_000);

  it('SIGHUP: new tokens reach the ingest processes', async () => {
    const pids = ingestPids(agg.child.pid!);
    await aggregatorConfig(tmp.dir, port, 3, [...tokens.filter((t) => t.token !== TOKEN), { name: 'new', token: NEW_TOKEN, scopes: ['ingest'] }]);
    agg.child.kill('SIGHUP');
    const body = batchesBody({ producer: 'reload/1', epoch: 1, host: 'h', batches: [plainBatch({ topic: 'reload', source: 's', seq: 0, lines: ['after reload'] })] });
    await waitFor(() => `the new token accepted\n${agg.output().slice(-3000)}`, async () => (await postBatches(url, body, NEW_TOKEN)).status === 200, 60_000, 200);
    expect((await postBatches(url, body, TOKEN)).status).toBe(401);
    expect(ingestPids(agg.child.pid!)).toHaveLength(3);
    expect(ingestPids(agg.child.pid!).some((p) => pids.includes(p))).toBe(false);
  }, 120_000);

  it('kill -9 of the writer takes its ingest processes down: nothing answers on the port', async () => {
    const pids = ingestPids(agg.child.pid!);
    expect(pids).toHaveLength(3);
    agg.child.kill('SIGKILL');
    await agg.exited;
    await waitFor(() => `ingest processes ${pids.filter(alive).join(',')} to exit`, () => pids.every((p) => !alive(p)), 30_000);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    // A new writer starts on the same data: everything acknowledged is there.
    agg = await startAggregator(config, url);
    expect(ingestPids(agg.child.pid!)).toHaveLength(3);
    const r = await httpJson<{ topics: Array<{ name: string }> }>(`${url}/v1/topics`).catch(() => undefined);
    expect(r).toBeUndefined(); // a read needs a token
    const seen = await stored('kill');
    expect([...seen.values()].filter((n) => n !== 1)).toEqual([]);
    expect(seen.size).toBe(60 * 30 * 2);
  }, 120_000);

  it('SIGTERM while agents send: exit 0 with the ingest processes gone, and every batch acknowledged until then stored once', async () => {
    const pids = ingestPids(agg.child.pid!);
    expect(pids).toHaveLength(3);
    const AGENTS = 40;
    let stopped = false;
    const acked: string[][] = Array.from({ length: AGENTS }, () => []);
    let failed = 0;
    const sender = async (a: number): Promise<void> => {
      const c = new Client(url, { pipelining: 1 });
      clients.push(c);
      for (let seq = 0; !stopped && seq < 100_000; seq++) {
        const lines = [`term agent ${a} seq ${seq}`];
        const body = batchesBody({ producer: `term-${a}/1`, epoch: 1, host: `term-${a}`, batches: [plainBatch({ topic: 'term', source: 's', seq, lines })] });
        try {
          const res = await c.request({ path: '/v1/batches', method: 'POST', body, headers: { 'content-type': BATCHES_CONTENT_TYPE, authorization: `Bearer ${NEW_TOKEN}` } });
          await res.body.text();
          if (res.statusCode !== 200) {
            failed++;
            return;
          }
          acked[a]!.push(...lines);
        } catch {
          failed++;
          return;
        }
      }
    };
    const senders = Promise.all(Array.from({ length: AGENTS }, (_, a) => sender(a)));
    await waitFor('some batches acknowledged before SIGTERM', () => acked.reduce((n, x) => n + x.length, 0) >= 300, 60_000, 20);
    agg.child.kill('SIGTERM');
    expect(await agg.exited).toBe(0);
    stopped = true;
    await senders;
    expect(agg.output()).toContain('aggregator stopped');
    expect(pids.filter(alive)).toEqual([]);
    expect(failed, 'senders stopped by the shutdown').toBeGreaterThan(0);

    agg = await startAggregator(config, url);
    const seen = await stored('term');
    const all = acked.flat();
    // Everything acknowledged is there once; a request cut by the shutdown may be there too, never twice.
    expect(all.filter((l) => seen.get(l) !== 1)).toEqual([]);
    expect([...seen.values()].filter((n) => n !== 1)).toEqual([]);
    expect(seen.size - all.length).toBeLessThanOrEqual(AGENTS);
  }, 120_000);
});
