/**
 * Hostile input (issue 9, aggregator side): a real aggregator process (from
 * dist/, or LOGSHIP_HOSTILE_CLI to try another build) is driven through every
 * finding's class with generated variants while /healthz latency and RSS are
 * sampled. Afterwards: the process is alive, /healthz answered within 100 ms
 * (beyond a control server timed at the same moments),
 * RSS stayed under 300 MiB, and every record accepted before the attacks
 * reads back identically.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import fc from 'fast-check';
import { request } from 'undici';
import { compressSync } from '../../lib/codec/zstd-pool.js';
import { CODEC_NONE, CODEC_ZSTD, FLAG_FRAMED, type WireBatch } from '../../lib/protocol/batches.js';
import { encodeFramed } from '../../lib/protocol/records.js';
import { LocalStorage } from '../../aggregator/storage/local.js';
import { silentLogger } from '../../lib/obs/logger.js';
import { CLI, batchesBody, freePort, plainBatch, postBatches, tempDir, waitFor, writeYaml, type Proc } from '../helpers/procs.js';

const cli = process.env.LOGSHIP_HOSTILE_CLI ?? CLI;
const MiB = 1 << 20;
const NAMES = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty'];

function startAggregator(config: string): Proc {
  const child = spawn(process.execPath, [cli, 'aggregator', '--config', config], { env: { ...process.env, LOGSHIP_LOG_PRETTY: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function http(method: string, url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: any }> {
  const res = await request(url, { method: method as 'GET', body, headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json };
}

function zstdBatch(o: { topic: string; seq: number; raw: Buffer; lines: number; rawLength?: number; source?: string; flags?: number; timestamp?: number }): WireBatch {
  return {
    topic: o.topic,
    source: o.source ?? '/h.log',
    seq: o.seq,
    sourceOffset: 0,
    lines: o.lines,
    timestamp: o.timestamp ?? Date.now(),
    codec: CODEC_ZSTD,
    flags: o.flags ?? 0,
    rawLength: o.rawLength ?? o.raw.length,
    payload: compressSync(o.raw),
  };
}

/**
 * What an older version (or a damaged disk) may have stored, written straight
 * into a partition before the aggregator starts: a zstd bomb declared as 100
 * bytes, a line count that disagrees, a timestamp past year 9999, unreadable
 * metadata, then one good batch. Readers must skip the four and serve the last.
 */
async function writeLegacyBatches(dataDir: string): Promise<void> {
  const storage = new LocalStorage({
    dataDir,
    logger: silentLogger(),
    settingsFor: () => ({ partitions: 1, retention: 7 * 86_400_000, retention_bytes: 2 ** 40, segment_bytes: 128 * MiB, segment_ms: 86_400_000 }),
  });
  await storage.open();
  const t = (await storage.acquire('legacy', true))!;
  const meta = (seq: number, codec: number, rawLength: number) => ({ flags: 0, codec, host: 'old', source: '/old.log', sourceOffset: 0, producer: 'old/1', epoch: 1, seq, rawLength });
  const good = Buffer.from('still here\n');
  await t.partitions[0]!.ingest([
    { meta: meta(1, CODEC_ZSTD, 100), payload: BOMB, lines: 100, timestamp: Date.now() },
    { meta: meta(2, CODEC_NONE, 4), payload: Buffer.from('a\nb\n'), lines: 5, timestamp: Date.now() },
    { meta: meta(3, CODEC_NONE, 2), payload: Buffer.from('c\n'), lines: 1, timestamp: 2 ** 50 },
    { meta: meta(4, CODEC_ZSTD, 2), payload: Buffer.from('not zstd'), lines: 1, timestamp: Date.now() },
    { meta: meta(5, CODEC_NONE, good.length), payload: good, lines: 1, timestamp: Date.now() },
  ]);
  storage.release('legacy');
  await storage.close();
}

/**
 * Times GET <url> every 25 ms until stdin closes, and at the same moment GET on a control: a bare
 * HTTP server in a process of its own. Prints "<aggregator ms> <control ms>" a line; a failed
 * request prints Infinity. The control is what a busy machine alone does to a request's time, so
 * the aggregator is judged on the difference: its own delay, not the machine's.
 */
const HEALTH_SAMPLER = `
const { spawn } = require('node:child_process');
const url = process.argv[1];
const control = spawn(process.execPath, ['-e', "const s = require('node:http').createServer((q, r) => r.end('ok')); s.listen(0, '127.0.0.1', () => console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
let on = true;
process.stdin.on('end', () => (on = false)).resume();
const time = async (u) => {
  const t0 = performance.now();
  try {
    const r = await fetch(u, { signal: AbortSignal.timeout(5000) });
    await r.text();
    return (performance.now() - t0).toFixed(2);
  } catch {
    return 'Infinity';
  }
};
(async () => {
  const port = await new Promise((res) => control.stdout.once('data', (d) => res(Number(String(d).trim()))));
  const controlUrl = 'http://127.0.0.1:' + port + '/';
  // Untimed first requests: they load fetch's own code in this process, which is neither server's latency.
  await Promise.all([fetch(url).then((r) => r.text()).catch(() => undefined), fetch(controlUrl).then((r) => r.text()).catch(() => undefined)]);
  while (on) {
    const [a, c] = await Promise.all([time(url), time(controlUrl)]);
    process.stdout.write(a + ' ' + c + '\\n');
    await new Promise((r) => setTimeout(r, 25));
  }
  control.kill('SIGKILL');
})();
`;
const BOMB = compressSync(Buffer.alloc(64 * MiB, 0x0a));

describe('aggregator under hostile input', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let agg: Proc;
  let url: string;
  let dataDir: string;
  let configPath: string;
  let seq = 1_000;
  const body = (batches: WireBatch[], producer = 'hostile/1') => batchesBody({ producer, epoch: 1, host: 'hostile', batches });
  const honest: Array<{ topic: string; partition: number; records: unknown[] }> = [];
  /** /healthz latency (ms) beside the control server's at the same moment */
  const health: Array<{ agg: number; control: number }> = [];
  const rss: number[] = [];
  let sampling = true;
  let crashes = 0;
  let samplers: Promise<void>[] = [];

  async function readAll(topic: string, partition: number): Promise<Array<{ offset: number; message: string; source_offset: number; flags?: number }>> {
    const out = [];
    let offset = 0;
    for (let i = 0; i < 10_000; i++) {
      const r = await http('GET', `${url}/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&max_bytes=65536`);
      expect(r.status, r.text.slice(0, 300)).toBe(200);
      out.push(...r.json.records.map((x: any) => ({ offset: x.offset, message: x.message, source_offset: x.source_offset, flags: x.flags })));
      if (r.json.next_offset >= r.json.high_watermark) return out;
      offset = r.json.next_offset;
    }
    throw new Error('read did not finish');
  }

  async function topicDirs(): Promise<string[]> {
    return (await readdir(join(dataDir, 'topics'))).sort();
  }

  /** One finding that kills the process must not hide the others (when this runs against an unfixed build). */
  async function ensureUp(): Promise<void> {
    if (agg.child.exitCode === null && agg.child.signalCode === null) return;
    crashes++;
    agg = startAggregator(configPath);
    await waitFor(`aggregator ready\n${agg.output()}`, async () => (await fetch(`${url}/readyz`)).ok, 30_000);
  }

  async function alive(): Promise<void> {
    expect(agg.child.exitCode, agg.output().slice(-3000)).toBeNull();
    expect((await http('GET', `${url}/healthz`)).status).toBe(200);
  }

  beforeAll(async () => {
    tmp = await tempDir('logship-hostile-');
    dataDir = join(tmp.dir, 'data');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    configPath = await writeYaml(join(tmp.dir, 'aggregator.yaml'), {
      listen: `127.0.0.1:${port}`,
      data_dir: dataDir,
      topics: { default: { partitions: 2 } },
      // Another build (LOGSHIP_HOSTILE_CLI, e.g. to show what fails before the fixes) may not know max_topics.
      limits: { max_body_bytes: '2MiB', max_decompressed_batch_bytes: '8MiB', ...(process.env.LOGSHIP_HOSTILE_CLI ? {} : { max_topics: 40 }) },
    });
    await writeLegacyBatches(dataDir);
    agg = startAggregator(configPath);
    await waitFor(`aggregator ready\n${agg.output()}`, async () => (await fetch(`${url}/readyz`)).ok, 30_000);

    // Honest data first: plain, zstd and framed batches; read back now and again at the end.
    const lines = Array.from({ length: 300 }, (_, i) => `honest line ${i} ${'x'.repeat(i % 50)}`);
    const framed = encodeFramed([
      { message: Buffer.from('multi\n  line'), sourceBytes: 13, flags: 0 },
      { message: Buffer.from('part'), sourceBytes: 4, flags: 1 },
    ]);
    const r = await postBatches(
      url,
      body([
        plainBatch({ topic: 'honest', source: '/a.log', seq: 1, lines: lines.slice(0, 100) }),
        zstdBatch({ topic: 'honest', source: '/a.log', seq: 2, raw: Buffer.from(lines.slice(100).join('\n') + '\n'), lines: 200 }),
        { ...zstdBatch({ topic: 'honest', source: '/a.log', seq: 3, raw: framed, lines: 2 }), flags: FLAG_FRAMED },
      ]),
    );
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    for (const p of [0, 1]) honest.push({ topic: 'honest', partition: p, records: await readAll('honest', p) });
    expect(honest.reduce((a, h) => a + h.records.length, 0)).toBe(302);

    const pid = agg.child.pid!;
    // /healthz is timed from a process of its own: this one blocks on purpose (compressing bombs).
    const sampler = spawn(process.execPath, ['-e', HEALTH_SAMPLER, `${url}/healthz`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let partial = '';
    sampler.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        const [a, c] = l.split(' ');
        health.push({ agg: Number(a), control: Number(c) });
      }
    });
    const samplerDone = new Promise<void>((res) => sampler.once('exit', () => res()));
    // The sampler starts two node processes before its first sample; the hostile tests wait for
    // it, so its samples cover them from the first (on a fast machine the suite takes ~2 s).
    await waitFor('the /healthz sampler to answer', async () => health.length > 0, 30_000);
    samplers = [
      (async () => {
        while (sampling) await new Promise((res) => setTimeout(res, 50));
        sampler.stdin!.end();
        await samplerDone;
      })(),
      (async () => {
        while (sampling) {
          try {
            const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
            if (m) rss.push(Number(m[1]) / 1024);
          } catch {
            /* exited: the checks below say so */
          }
          await new Promise((res) => setTimeout(res, 100));
        }
      })(),
    ];
  }, 60_000);

  afterAll(async () => {
    sampling = false;
    await Promise.all(samplers);
    agg?.child.kill('SIGKILL');
    await tmp?.cleanup();
  });

  it('finding 1: __proto__, constructor, prototype, hasOwnProperty as topic, group and partition keys', async () => {
    await ensureUp();
    for (const k of NAMES) {
      const r = await postBatches(url, body([plainBatch({ topic: k, source: '/p.log', seq: seq++, lines: [`to ${k}`] })]));
      expect(r.status, `${k}: ${JSON.stringify(r.json)}`).toBe(200);
      const p = r.json.acks[0].partition;
      // A partition key that is not a number is refused; the topic's real partition is fine.
      const badKey = await http('POST', `${url}/v1/groups/${k}/offsets`, JSON.stringify({ offsets: { [k]: { [k]: 0 } } }));
      expect(badKey.status, badKey.text).toBe(400);
      const raw = `{"offsets": {"${k}": {"${p}": 1}}}`;
      const ok = await http('POST', `${url}/v1/groups/${k}/offsets`, raw);
      expect(ok.status, ok.text).toBe(200);
      const got = await http('GET', `${url}/v1/groups/${k}/offsets`);
      expect(got.status).toBe(200);
      expect(JSON.stringify(got.json.offsets)).toBe(`{"${k}":{"${p}":1}}`);
      expect((await http('GET', `${url}/v1/topics/${k}/partitions/${k}/records`)).status).toBe(404);
      const rec = await http('GET', `${url}/v1/topics/${k}/partitions/${p}/records`);
      expect(rec.status, rec.text).toBe(200);
      expect(rec.json.records.map((x: any) => x.message)).toEqual([`to ${k}`]);
      // A topic that does not exist under a prototype name is 404, not a crash.
      expect((await http('GET', `${url}/v1/topics/${k}x/partitions/0/records`)).status).toBe(404);
      expect((await http('GET', `${url}/metrics`)).status).toBe(200);
      await alive();
    }
    const topics = await http('GET', `${url}/v1/topics`);
    for (const k of NAMES) expect(topics.json.topics.map((t: any) => t.name)).toContain(k);
  });

  it('finding 2: batch metadata that disagrees with the payload is refused (400, batch index) and nothing of the request is stored', async () => {
    await ensureUp();
    const before = await topicDirs();
    const good = () => plainBatch({ topic: 'victim', source: '/v.log', seq: seq++, lines: ['fine'] });
    // A zstd bomb: 64 MiB of zeros declared as 100 bytes (and as the real size, over the limit).
    const bomb = BOMB;
    const variants: Array<[string, WireBatch]> = [
      ['bomb declared small', { ...good(), codec: CODEC_ZSTD, rawLength: 100, lines: 100, payload: bomb }],
      ['bomb declared at the limit', { ...good(), codec: CODEC_ZSTD, rawLength: 8 * MiB, lines: 8 * MiB, payload: bomb }],
      ['timestamp above the Date range', { ...good(), timestamp: 2 ** 53 - 1 }],
      ['codec 1 with a non-zstd payload', { ...good(), codec: CODEC_ZSTD }],
      ['unknown codec', { ...good(), codec: 7 }],
      ['unknown flags', { ...good(), flags: 0x80 }],
      ['lines 2^32-1', { ...good(), lines: 2 ** 32 - 1 }],
    ];
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z ]{0,20}$/), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 40 }), (lines, delta) => {
        const raw = Buffer.from(lines.map((l) => l + '\n').join(''));
        variants.push([`${lines.length} lines declared as ${lines.length + delta}`, zstdBatch({ topic: 'victim', seq: seq++, raw, lines: lines.length + delta })]);
        variants.push([`raw ${raw.length} declared as ${raw.length + delta}`, zstdBatch({ topic: 'victim', seq: seq++, raw, lines: lines.length, rawLength: raw.length + delta })]);
        const framed = encodeFramed(lines.map((l) => ({ message: Buffer.from(l), sourceBytes: l.length + 1, flags: 0 })));
        variants.push([`framed cut by ${delta}`, { ...zstdBatch({ topic: 'victim', seq: seq++, raw: framed.subarray(0, Math.max(0, framed.length - delta)), lines: lines.length }), flags: FLAG_FRAMED }]);
      }),
      { numRuns: 8, seed: 9 },
    );
    for (const [what, bad] of variants) {
      // The bad batch comes second: the good one before it must not be stored either.
      const r = await postBatches(url, body([good(), bad]));
      expect(r.status, `${what}: ${JSON.stringify(r.json).slice(0, 300)}`).toBe(400);
      expect(r.json.error.reason, what).toMatch(/^(malformed batch request at byte \d+: )?batch 1\b/);
    }
    expect(await topicDirs()).toEqual(before);
    expect(agg.output()).not.toMatch(/"level":(50|60).*request failed/);
    const m = await (await fetch(`${url}/metrics`)).text();
    expect(m).toMatch(/^logship_aggregator_refused_batches_total\{check="payload"\} [1-9]\d*$/m);
    expect(m).toMatch(/^logship_aggregator_refused_batches_total\{check="header"\} [1-9]\d*$/m);
    await alive();
  }, 120_000);

  it('finding 2, readers: stored batches that disagree with their header are skipped (logged, counted), never a crash', async () => {
    for (const maxBytes of [1, 1 << 20]) {
      const r = await http('GET', `${url}/v1/topics/legacy/partitions/0/records?offset=0&max_bytes=${maxBytes}`);
      expect(r.status, r.text.slice(0, 300)).toBe(200);
      expect(r.json.records.map((x: any) => [x.offset, x.message])).toEqual([[107, 'still here']]);
      expect(r.json.next_offset).toBe(108);
    }
    // Starting inside a skipped batch lands after it too.
    const mid = await http('GET', `${url}/v1/topics/legacy/partitions/0/records?offset=102&max_bytes=1`);
    expect(mid.json.records.map((x: any) => x.offset)).toEqual([107]);
    const m = await (await fetch(`${url}/metrics`)).text();
    expect(m).toMatch(/^logship_aggregator_read_skipped_batches_total\{topic="legacy"\} ([4-9]|\d\d+)$/m);
    expect(agg.output()).toMatch(/skipped a stored batch whose payload disagrees with its header/);
    await alive();
  });

  it('finding 6: max_bytes holds inside one big batch (1 MiB of newlines)', async () => {
    await ensureUp();
    const raw = Buffer.alloc(MiB, 0x0a);
    const r = await postBatches(url, body([zstdBatch({ topic: 'newlines', source: '/n.log', seq: seq++, raw, lines: MiB })]));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const { partition } = r.json.acks[0];
    for (const [offset, maxBytes] of [[0, 1], [500_000, 1], [MiB - 1, 1], [1000, 65_536]]) {
      const res = await http('GET', `${url}/v1/topics/newlines/partitions/${partition}/records?offset=${offset}&max_bytes=${maxBytes}`);
      expect(res.status).toBe(200);
      expect(res.text.length).toBeLessThan(2 * MiB);
      expect(res.json.records[0].offset).toBe(offset);
      expect(res.json.next_offset).toBe(offset + res.json.records.length);
      if (maxBytes === 1) expect(res.json.records).toHaveLength(1);
    }
    await alive();
  }, 60_000);

  it('finding 8: strict offsets, partitions, bodies and paths', async () => {
    await ensureUp();
    const t = await http('GET', `${url}/v1/topics`);
    const honestParts = t.json.topics.find((x: any) => x.name === 'honest').partitions;
    const p0 = honestParts[0];
    const beyond = await http('POST', `${url}/v1/groups/g8/offsets`, JSON.stringify({ offsets: { honest: { '0': p0.next_offset + 1 } } }));
    expect(beyond.status).toBe(400);
    expect(beyond.json.error.reason).toMatch(new RegExp(`from 0 to next_offset ${p0.next_offset}`));
    for (const key of ['00', '1e0', ' 1', '-0', '0x1', '1.0', '']) {
      const r = await http('POST', `${url}/v1/groups/g8/offsets`, JSON.stringify({ offsets: { honest: { [key]: 0 } } }));
      expect(r.status, `partition key ${JSON.stringify(key)}`).toBe(400);
    }
    for (const b of ['null', '[]', '"x"', '{"offsets": null}', '{"offsets": {"honest": null}}', '{"offsets": {"honest": {"0": "1"}}}', '{', '\u0000']) {
      const r = await http('POST', `${url}/v1/groups/g8/offsets`, b);
      expect(r.status, b).toBe(400);
    }
    expect((await http('GET', `${url}/v1/groups/g8/offsets`)).json.offsets).toEqual({});
    for (const path of ['/v1/topics/%E0%A4%A/partitions/0/records', '/v1/groups/%ZZ/offsets', '/v1/topics/honest/partitions/%/records']) {
      const r = await http('GET', `${url}${path}`);
      expect(r.status, path).toBe(400);
    }
    for (const q of ['offset=0x1', 'offset=1e0', 'offset=%201', 'max_bytes=-1', 'wait_ms=1.5', 'offset=99999999999999999999']) {
      const r = await http('GET', `${url}/v1/topics/honest/partitions/0/records?${q}`);
      expect(r.status, q).toBe(400);
    }
    for (const p of ['%20', '00', '0x0', '+0', '1e0']) expect((await http('GET', `${url}/v1/topics/honest/partitions/${p}/records`)).status, p).toBe(404);
    expect(agg.output()).not.toMatch(/URIError/);
    await alive();
  });

  it('finding 9: media types, chunked bodies over the limit, all-or-nothing topic creation, private directories', async () => {
    await ensureUp();
    const ok = await request(`${url}/v1/batches`, {
      method: 'POST',
      body: body([plainBatch({ topic: 'media', source: '/m.log', seq: seq++, lines: ['m'] })]),
      headers: { 'content-type': 'Application/VND.Logship.Batches.V1; charset=binary' },
    });
    await ok.body.text();
    expect(ok.statusCode).toBe(200);

    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${url}/v1/batches`);
      const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/vnd.logship.batches.v1', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < 4 * MiB) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);

    const before = await topicDirs();
    const mixed = await postBatches(url, body([plainBatch({ topic: 'valid-a', source: '/x', seq: seq++, lines: ['a'] }), plainBatch({ topic: 'bad name', source: '/x', seq: seq++, lines: ['b'] })]));
    expect(mixed.status).toBe(400);
    expect(await topicDirs()).toEqual(before);

    for (const d of [dataDir, join(dataDir, 'topics'), join(dataDir, 'topics', 'media'), join(dataDir, 'topics', 'media', '0'), join(dataDir, 'groups')]) {
      expect(((await stat(d)).mode & 0o777).toString(8), d).toBe('700');
    }
    await alive();
  });

  it('finding 5: topic creation is limited; the limit is checked for the whole request first; restart with many topics', async () => {
    await ensureUp();
    const existing = (await topicDirs()).length;
    const many = Array.from({ length: 200 }, (_, i) => plainBatch({ topic: `flood-${i}`, source: '/f', seq: seq++, lines: ['f'] }));
    const r = await postBatches(url, body(many));
    expect(r.status).toBe(403);
    expect(r.json.error.reason).toMatch(/limits\.max_topics \(40/);
    expect((await topicDirs()).length).toBe(existing);
    // Up to the limit one by one, then one more is refused.
    let created = existing;
    for (let i = 0; created < 40 && i < 100; i++) {
      const one = await postBatches(url, body([plainBatch({ topic: `fill-${i}`, source: '/f', seq: seq++, lines: ['f'] })]));
      expect(one.status, JSON.stringify(one.json)).toBe(200);
      created++;
    }
    expect((await postBatches(url, body([plainBatch({ topic: 'one-too-many', source: '/f', seq: seq++, lines: ['f'] })]))).status).toBe(403);
    await alive();
  });

  it('afterwards: alive, /healthz within 100 ms throughout, RSS under 300 MiB, honest records unchanged (also after a restart)', async () => {
    await ensureUp();
    await alive();
    expect(crashes, 'the aggregator died during the suite').toBe(0);
    // Enough samples to judge by, whatever the suite's speed: a fast machine runs the hostile
    // tests in ~2 s (20 samples once); the sampler goes on through the aggregator's aftermath.
    await waitFor('30 /healthz samples', async () => health.length >= 30, 30_000);
    sampling = false;
    await Promise.all(samplers);
    const sorted = health.map((h) => h.agg).sort((a, b) => a - b);
    const control = health.map((h) => h.control).sort((a, b) => a - b);
    const maxRss = Math.max(...rss);
    // A sample is the aggregator's slowness when /healthz took over 100 ms more than the control
    // server took at the same moment (an aggregator that fails or blocks for seconds counts; a
    // machine that is busy delays both and does not).
    const slow = health.map((h) => h.agg - (Number.isFinite(h.control) ? h.control : 0) > 100);
    const over = slow.filter(Boolean).length;
    const q = (xs: number[], f: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * f))]!.toFixed(1);
    console.log(
      `hostile suite (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}): ${health.length} /healthz samples, p50 ${q(sorted, 0.5)} ms, p99 ${q(sorted, 0.99)} ms, max ${sorted.at(-1)!.toFixed(1)} ms; ` +
        `control server p50 ${q(control, 0.5)} ms, p99 ${q(control, 0.99)} ms; ${over} samples over 100 ms beyond the control; RSS max ${maxRss.toFixed(0)} MiB over ${rss.length} samples`,
    );
    expect(health.length).toBeGreaterThanOrEqual(30);
    // Generous, as the issue asks: a lone slow sample is scheduling noise; three in a row (over
    // 100 ms of the suite) or more than 5% of all samples over 100 ms beyond the control is the aggregator.
    let run = 0;
    let longestRun = 0;
    for (const x of slow) longestRun = Math.max(longestRun, (run = x ? run + 1 : 0));
    expect(longestRun, 'consecutive /healthz samples over 100 ms beyond the control').toBeLessThan(3);
    expect(over / health.length).toBeLessThan(0.05);
    expect(maxRss).toBeLessThan(300);
    for (const h of honest) expect(await readAll(h.topic, h.partition)).toEqual(h.records);

    agg.child.kill('SIGTERM');
    await agg.exited;
    agg = startAggregator(configPath);
    await waitFor(`aggregator ready after restart\n${agg.output()}`, async () => (await fetch(`${url}/readyz`)).ok, 60_000);
    for (const h of honest) expect(await readAll(h.topic, h.partition)).toEqual(h.records);
    const topics = await http('GET', `${url}/v1/topics`);
    expect(topics.json.topics.length).toBe(40);
  }, 120_000);
});
