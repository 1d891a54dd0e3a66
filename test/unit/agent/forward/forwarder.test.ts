/**
 * Forwarder, in process: a real DiskBuffer in a temp dir, fake aggregators on 127.0.0.1 that
 * decode what they receive, and a real pino logger whose lines the test reads.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskBuffer } from '../../../../agent/buffer/disk-buffer.js';
import type { BufferedMeta } from '../../../../agent/buffer/buffered-meta.js';
import { Forwarder, type ForwarderOptions } from '../../../../agent/forward/forwarder.js';
import { CODEC_NONE, decodeRequest } from '../../../../lib/protocol/batches.js';
import { freePort, waitFor } from '../../../helpers/procs.js';
import { randomFillSync } from 'node:crypto';
import { PayloadSlabs } from '../../../../agent/buffer/payload-slabs.js';

interface Hit {
  server: string;
  seqs: number[];
  producer: string;
  epoch: number;
  host: string;
  auth: string | undefined;
  at: number;
}
type Answer = { status: number; body?: unknown };

let dir: string;
let buffer: DiskBuffer;
let logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
let hits: Hit[];
const servers: Server[] = [];
/** upgraded connections: a server's close() waits for them, so they are cut first */
const streamSockets: Socket[] = [];
const forwarders: Forwarder[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-fwd-'));
  logs = [];
  hits = [];
  buffer = await DiskBuffer.open({ dir: join(dir, 'buffer'), maxBytes: 16 << 20, whenFull: 'block', logger: pino({ level: 'silent' }), fsync: false });
});

afterEach(async () => {
  for (const f of forwarders.splice(0)) await f.close(1_000);
  for (const sock of streamSockets.splice(0)) sock.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await buffer.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * How the fake aggregators take requests: 'stream', the batch stream (what the agent uses); 'post',
 * an aggregator from before it, which answers the handshake 400 so the agent falls back to POSTs.
 * Every test below runs both ways.
 */
let transport: 'stream' | 'post' = 'stream';

/** A fake aggregator: `answer` decides each request's status from the decoded sequences. */
async function fakeAggregator(name: string, answer: (seqs: number[], n: number) => Answer): Promise<string> {
  let n = 0;
  const handle = (body: Buffer, auth: string | undefined): { status: number; json: string } => {
    let r: ReturnType<typeof decodeRequest>;
    try {
      r = decodeRequest(body, { maxBatchRawBytes: 1 << 30 });
    } catch (err) {
      // A request cut off as a test closes its forwarder (the 40 ms gathering can leave one in
      // flight) reaches here incomplete: answer it as the aggregator would, never throw out of
      // the handler (an uncaught error fails the whole run, not this test).
      return { status: 400, json: JSON.stringify({ error: { type: 'bad_batch', reason: (err as Error).message } }) };
    }
    const seqs = r.batches.map((b) => b.seq);
    hits.push({ server: name, seqs, producer: r.producer, epoch: r.epoch, host: r.host, auth, at: Date.now() });
    const a = answer(seqs, n++);
    return { status: a.status, json: JSON.stringify(a.body ?? (a.status === 200 ? { acks: seqs.map((seq) => ({ seq, duplicate: false })) } : { error: { type: 'test', reason: `refused by ${name}` } })) };
  };
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = handle(Buffer.concat(chunks), req.headers.authorization);
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.json);
    });
  });
  s.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => {
    sock.on('error', () => undefined);
    streamSockets.push(sock);
    if (transport === 'post') {
      const json = '{"error":{"type":"bad_request","reason":"method GET not allowed here; use POST"}}';
      sock.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\nconnection: close\r\n\r\n${json}`);
      return;
    }
    sock.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: logship-batches/1\r\n\r\n');
    let buf = head;
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const st = buf.readUInt16BE(4);
        const a = handle(buf.subarray(6 + st, 4 + len), req.headers.authorization);
        buf = buf.subarray(4 + len);
        const out = Buffer.alloc(6 + Buffer.byteLength(a.json));
        out.writeUInt32BE(2 + Buffer.byteLength(a.json), 0);
        out.writeUInt16BE(a.status, 4);
        out.write(a.json, 6);
        sock.write(out);
      }
    };
    sock.on('data', onData);
    if (head.length) onData(Buffer.alloc(0));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

const ok = (): Answer => ({ status: 200 });

function meta(i: number): BufferedMeta {
  return { codec: CODEC_NONE, flags: 0, topic: 'app', source: `/logs/${i % 2}.log`, key: `k${i % 2}`, start: i * 100, end: i * 100 + 20, lines: 2, rawLength: 20, dev: 0, ino: 0, fpLen: 0, fpCrc: 0 };
}

async function fill(n: number): Promise<void> {
  const start = buffer.log.nextOffset;
  for (let i = start; i < start + n; i++) await buffer.append([{ meta: meta(i), payload: Buffer.from(`line ${i} a\nline ${i} b\n`), timestamp: 1_700_000_000_000 + i }]);
}

function forwarder(o: Partial<ForwarderOptions> & { urls: string[] }): { f: Forwarder; acked: number[]; sent: number[]; retries: string[]; rejected: Array<[number, number]> } {
  const acked: number[] = [];
  /** buffer offsets reported as delivered (counted in lines/batches sent) */
  const sent: number[] = [];
  const retries: string[] = [];
  const rejected: Array<[number, number]> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const f = new Forwarder({
    requestTimeout: 5_000,
    maxBackoff: 50,
    maxRequestBytes: 1 << 20,
    producer: 'host-a/1',
    epoch: 3,
    host: 'host-a',
    buffer,
    dataDir: dir,
    logger,
    onAcked: (next, batches) => {
      acked.push(next);
      sent.push(...batches.map((b) => b.offset));
    },
    onRetry: (reason) => void retries.push(reason),
    onRejected: (b, l) => void rejected.push([b, l]),
    ...o,
  });
  forwarders.push(f);
  f.start();
  return { f, acked, sent, retries, rejected };
}

const ERROR = 50;
const WARN = 40;
const delivered = () => hits.filter((h) => h.seqs.length > 0);

for (const way of ['stream', 'post'] as const) {
  describe(`over ${way === 'stream' ? 'the batch stream' : 'POST (the aggregator does not take the stream)'}`, () => {
    beforeEach(() => {
      transport = way;
    });

    describe('Forwarder: delivery', () => {
      it('sends the buffer oldest first, with the producer, epoch, host, token and buffer offsets as sequences, then acknowledges', async () => {
        await fill(6);
        const url = await fakeAggregator('a', ok);
        // room for about two batches per request, so the buffer goes out in several requests, in order
        const { acked } = forwarder({ urls: [url], token: 's3cret', maxRequestBytes: 40 });
        await waitFor('all 6 acknowledged and reported', () => acked.at(-1) === 6, 10_000, 10);
        expect(buffer.ackedOffset).toBe(6);
        expect(hits.length).toBeGreaterThan(1);
        expect(hits.flatMap((h) => h.seqs)).toEqual([0, 1, 2, 3, 4, 5]);
        for (const h of hits) expect(h).toMatchObject({ producer: 'host-a/1', epoch: 3, host: 'host-a', auth: 'Bearer s3cret' });
        expect(acked).toEqual([...acked].sort((a, b) => a - b));
        expect(acked.at(-1)).toBe(6);
        // and it keeps going with what is appended later
        await fill(2);
        await waitFor('the later batches acknowledged', () => buffer.ackedOffset === 8, 10_000, 10);
        expect(hits.flatMap((h) => h.seqs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      });

      it('a short request holding all there is waits briefly for the next appends, so a stream goes out in few larger requests', async () => {
        const url = await fakeAggregator('a', ok);
        // The wait is widened from 10 ms so that a loaded machine's slow fsyncs between the two appends
        // cannot send the first batch alone; what is tested is that the wait gathers them.
        const { acked } = forwarder({ urls: [url], lingerMs: 3_000, lingerGapMs: 3_000 });
        await new Promise((r) => setTimeout(r, 50)); // the forwarder waits for data
        await buffer.append([{ meta: meta(0), payload: Buffer.from('line 0 a\nline 0 b\n'), timestamp: 1_700_000_000_000 }]);
        // the next appends land while the first request would already be going out without the wait
        await buffer.append(Array.from({ length: 9 }, (_, k) => ({ meta: meta(k + 1), payload: Buffer.from(`line ${k + 1} a\nline ${k + 1} b\n`), timestamp: 1_700_000_000_001 + k })));
        await waitFor('all 10 acknowledged', () => acked.at(-1) === 10, 10_000, 10);
        expect(hits.flatMap((h) => h.seqs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(hits[0]!.seqs.length).toBeGreaterThan(1);
      });

      it('the wait for each next append is shorter than the whole wait: a request stops gathering when appends stop coming', async () => {
        const url = await fakeAggregator('a', ok);
        // Each next append may come up to 1 s after the one before, all of them within 20 s. The gaps
        // below are 20 ms (joins) and 3 s (does not): wide enough apart for a loaded machine.
        const { acked } = forwarder({ urls: [url], lingerMs: 20_000, lingerGapMs: 1_000 });
        await new Promise((r) => setTimeout(r, 50)); // the forwarder waits for data
        const append = (k: number) => buffer.append([{ meta: meta(k), payload: Buffer.from(`line ${k} a\nline ${k} b\n`), timestamp: 1_700_000_000_000 + k }]);
        await append(0);
        await new Promise((r) => setTimeout(r, 20));
        await append(1);
        await waitFor('the first two acknowledged', () => acked.at(-1) === 2, 10_000, 10);
        await new Promise((r) => setTimeout(r, 3_000));
        await append(2);
        await waitFor('all 3 acknowledged', () => acked.at(-1) === 3, 10_000, 10);
        expect(hits.map((h) => h.seqs)).toEqual([[0, 1], [2]]);
      });

      it('fails over across urls in order, stays on the one that works, and wraps around to the first after the last', async () => {
        let cFails = false;
        const a = await fakeAggregator('a', (_s, n) => (n === 0 ? { status: 500 } : ok()));
        const b = await fakeAggregator('b', () => ({ status: 503 }));
        const c = await fakeAggregator('c', () => (cFails ? { status: 502 } : ok()));
        const { f, retries } = forwarder({ urls: [a, b, c] });
        await fill(1);
        await waitFor('batch 0 delivered', () => buffer.ackedOffset === 1, 10_000, 10);
        expect(hits.map((h) => h.server)).toEqual(['a', 'b', 'c']);
        expect(retries).toEqual(['500', '503']);
        expect(f.currentUrl).toBe(c);
        await fill(1);
        await waitFor('batch 1 delivered', () => buffer.ackedOffset === 2, 10_000, 10);
        expect(hits.map((h) => h.server)).toEqual(['a', 'b', 'c', 'c']); // sticky: no detour through a and b
        cFails = true;
        await fill(1);
        await waitFor('batch 2 delivered', () => buffer.ackedOffset === 3, 10_000, 10);
        expect(hits.map((h) => h.server)).toEqual(['a', 'b', 'c', 'c', 'c', 'a']); // after the last url: the first again
        expect(hits.at(-1)!.seqs).toEqual([2]);
      });

      it('a url that refuses connections is a network failure: retried on the next url, reported unreachable meanwhile', async () => {
        const dead = `http://127.0.0.1:${await freePort()}`;
        let live = false;
        const b = await fakeAggregator('b', () => (live ? ok() : { status: 503 }));
        const { f, retries } = forwarder({ urls: [dead, b] });
        await fill(1);
        await waitFor('a network failure and a 503', () => retries.includes('network') && retries.includes('503'), 10_000, 10);
        expect(f.reachable).toBe(false);
        expect(buffer.ackedOffset).toBe(0);
        expect(f.lastError).toMatch(/127\.0\.0\.1/);
        live = true;
        await waitFor('delivered through b', () => buffer.ackedOffset === 1, 10_000, 10);
        expect(f.reachable).toBe(true);
        expect(f.lastError).toBeUndefined();
      });

      it('backs off exponentially between failed attempts (at least half of 100 ms doubling), capped by max_backoff', async () => {
        const url = await fakeAggregator('a', (_s, n) => (n < 5 ? { status: 500 } : ok()));
        forwarder({ urls: [url], maxBackoff: 60_000 });
        await fill(1);
        await waitFor('delivered after 5 failures', () => buffer.ackedOffset === 1, 30_000, 10);
        const gaps = hits.slice(1).map((h, i) => h.at - hits[i]!.at);
        // jittered in [base/2, base] with base 100, 200, 400, 800, 1600 ms: only the lower bound is
        // asserted (a timer never fires early; a busy machine only makes gaps longer)
        gaps.forEach((g, k) => expect(g, `gap ${k + 1} of ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual((100 * 2 ** k) / 2 - 5));

        // the cap: 14 failures in a row with max_backoff 20 ms end well inside the wait; uncapped,
        // the 14th backoff alone would be at least 100 * 2^13 / 2 ms = 6.8 minutes
        hits = [];
        const url2 = await fakeAggregator('b', (_s, n) => (n < 14 ? { status: 500 } : ok()));
        for (const f of forwarders.splice(0)) await f.close(1_000);
        forwarder({ urls: [url2], maxBackoff: 20 });
        await fill(1);
        await waitFor('delivered after 14 failures', () => buffer.ackedOffset === 2, 60_000, 10);
        expect(hits.filter((h) => h.server === 'b')).toHaveLength(15);
      });
    });

    describe('Forwarder: refusals', () => {
      for (const [status, what] of [
        [401, /refuses our token/],
        [403, /does not allow this write.*the error says which/],
        [409, /fenced this producer/],
      ] as const) {
        it(`${status} is retried (the batch stays buffered, never set aside) and logged at error with what to check`, async () => {
          const url = await fakeAggregator('a', (_s, n) => (n < 3 ? { status } : ok()));
          await fill(2);
          const { retries, rejected } = forwarder({ urls: [url] });
          await waitFor('delivered once accepted', () => buffer.ackedOffset === 2, 10_000, 10);
          expect(retries).toEqual([String(status), String(status), String(status)]);
          expect(rejected).toEqual([]);
          const refusals = logs.filter((l) => what.test(l.msg));
          expect(refusals).toHaveLength(3);
          expect(refusals.every((l) => l.level === ERROR)).toBe(true);
          expect(hits.map((h) => h.seqs)).toEqual([[0, 1], [0, 1], [0, 1], [0, 1]]);
          await expect(readdir(join(dir, 'rejected'))).rejects.toThrow(/ENOENT/);
        });
      }

      it('5xx is retried with the data kept: the first failure logs at error, the next ones at warn', async () => {
        const url = await fakeAggregator('a', (_s, n) => (n < 3 ? { status: 500 } : ok()));
        const { f, retries } = forwarder({ urls: [url] });
        await fill(1);
        await waitFor('delivered after three 500s', () => buffer.ackedOffset === 1, 10_000, 10);
        expect(retries).toEqual(['500', '500', '500']);
        const failures = logs.filter((l) => /delivery failed; data stays in the buffer/.test(l.msg));
        expect(failures.map((l) => l.level)).toEqual([ERROR, WARN, WARN]);
        expect(logs.some((l) => /reachable again/.test(l.msg))).toBe(true);
        expect(f.reachable).toBe(true);
        expect(hits.map((h) => h.seqs)).toEqual([[0], [0], [0], [0]]);
      });

      for (const status of [400, 413]) {
        it(`${status} on a request of several batches: only the refused batch is set aside (saved with a description, counted, logged at error); the others are delivered`, async () => {
          const stored: number[] = [];
          const url = await fakeAggregator('a', (seqs) => {
            if (seqs.includes(2)) return { status, body: { error: { type: 'bad_batch', reason: 'batch 2 is bad' } } };
            stored.push(...seqs);
            return ok();
          });
          await fill(5);
          const { rejected, acked, sent } = forwarder({ urls: [url] });
          await waitFor('everything acknowledged or set aside', () => acked.at(-1) === 5, 10_000, 10);
          expect(buffer.ackedOffset).toBe(5);
          expect(stored).toEqual([0, 1, 3, 4]);
          // the set-aside batch moves the cursor but is not reported as sent (lines/batches sent metrics)
          expect(sent).toEqual([0, 1, 3, 4]);
          expect(hits.map((h) => h.seqs)).toEqual([[0, 1, 2, 3, 4], [0], [1], [2], [3], [4]]);
          expect(rejected).toEqual([[1, 2]]);
          expect(acked.at(-1)).toBe(5);
          // kept where an operator finds it: the payload byte for byte and what it was
          expect((await readdir(join(dir, 'rejected'))).sort()).toEqual(['2.bin', '2.json']);
          expect((await readFile(join(dir, 'rejected', '2.bin'))).toString()).toBe('line 2 a\nline 2 b\n');
          const about = JSON.parse(await readFile(join(dir, 'rejected', '2.json'), 'utf8'));
          expect(about).toMatchObject({ offset: 2, topic: 'app', source: '/logs/0.log', source_start: 200, source_end: 220, lines: 2, codec: 'none', reason: `HTTP ${status}: batch 2 is bad` });
          const err = logs.filter((l) => /rejected a batch as malformed/.test(l.msg));
          expect(err).toHaveLength(1);
          expect(err[0]).toMatchObject({ level: ERROR, offset: 2, lines: 2, saved_to: join(dir, 'rejected', '2.bin') });
        });
      }

      it('a refused batch that cannot be saved is not skipped: it stays unacknowledged, is logged at error, and is saved once it can be', async () => {
        // data_dir/rejected is a file, so the directory cannot be made
        await writeFile(join(dir, 'rejected'), 'in the way');
        const stored: number[] = [];
        const url = await fakeAggregator('a', (seqs) => {
          if (seqs.includes(1)) return { status: 400 };
          stored.push(...seqs);
          return ok();
        });
        await fill(3);
        const { rejected, retries } = forwarder({ urls: [url] });
        await waitFor('two failed saves', () => logs.filter((l) => /saving it under data_dir\/rejected failed/.test(l.msg)).length >= 2, 10_000, 10);
        expect(buffer.ackedOffset).toBe(1); // 0 delivered; 1 neither delivered nor saved; 2 waits behind it
        expect(stored).toEqual([0]);
        expect(rejected).toEqual([]);
        expect(retries).toContain('reject_unsaved');
        expect(logs.filter((l) => /saving it under data_dir\/rejected failed/.test(l.msg)).every((l) => l.level === ERROR)).toBe(true);
        await rm(join(dir, 'rejected'));
        await waitFor('saved and moved on', () => buffer.ackedOffset === 3 && stored.includes(2), 10_000, 10);
        expect(stored).toEqual([0, 2]);
        expect(rejected).toEqual([[1, 2]]);
        expect((await readdir(join(dir, 'rejected'))).sort()).toEqual(['1.bin', '1.json']);
      });
    });

    describe('Forwarder: close', () => {
      it('close() stops retrying and leaves what is unacknowledged in the buffer', async () => {
        const url = await fakeAggregator('a', () => ({ status: 503 }));
        await fill(3);
        const { f } = forwarder({ urls: [url] });
        await waitFor('a few attempts', () => hits.length >= 2, 10_000, 10);
        await f.close(1_000);
        const n = hits.length;
        expect(buffer.ackedOffset).toBe(0);
        expect(buffer.unackedBatches).toBe(3);
        await new Promise((r) => setTimeout(r, 200)); // time itself is tested: no attempt after close
        expect(hits.length).toBe(n);
      });
    });
  });
}

/**
 * Payload memory goes back only once node wrote the whole request: a buffer whose payloads come from
 * slabs filled with a poison byte the moment their last reference goes, so a payload released while
 * node still writes it goes out poisoned and fails the CRC where the server decodes it. 12 MiB of
 * incompressible payload in one request (more than the kernel's socket buffers take: the rest waits in
 * node's queue), to a server `listen` starts, which answers before it reads the body.
 */
async function poisonedDelivery(listen: (bodies: Array<{ batches: number; error?: string }>) => Server): Promise<void> {
  await buffer.close();
  const slabs = new PayloadSlabs({ maxSlabs: 32, slabBytes: 1 << 20, poison: true });
  // A recent cache larger than the default, so the request is sent from it.
  buffer = await DiskBuffer.open({ dir: join(dir, 'slab-buffer'), maxBytes: 64 << 20, whenFull: 'block', logger: pino({ level: 'silent' }), fsync: false, slabs, recentMaxBytes: 16 << 20 });
  const bodies: Array<{ batches: number; error?: string }> = [];
  const s = listen(bodies);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  const n = 24;
  for (let i = 0; i < n; i++) {
    const p = slabs.take(512 << 10);
    randomFillSync(p);
    await buffer.append([{ meta: { ...meta(i), rawLength: p.length }, payload: p, timestamp: 1_700_000_000_000 + i }]);
    buffer.releasePayload(p);
  }
  const { acked } = forwarder({ urls: [url], maxRequestBytes: 16 << 20 });
  await waitFor('all acknowledged', () => acked.at(-1) === n, 10_000, 10);
  await waitFor('every body read by the aggregator', () => bodies.some((b) => b.error) || bodies.reduce((k, b) => k + b.batches, 0) >= n, 10_000, 10);
  expect(bodies.filter((b) => b.error)).toEqual([]);
  expect(bodies.reduce((k, b) => k + b.batches, 0)).toBe(n);
  // and every reference was given back in the end: the slabs are free for reuse
  await waitFor('no reference left', () => slabs.references === 0, 5_000, 10);
}

describe('Forwarder: payload slabs', () => {
  it('over POST: memory goes back only after node wrote the whole request, even when the answer comes first (poisoned slabs catch an early release)', async () => {
    await poisonedDelivery((bodies) =>
      createServer((req, res) => {
        // The batch stream's handshake: refused as an aggregator from before it does (this test is about POSTs).
        if (req.method !== 'POST') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"type":"bad_request","reason":"use POST"}}');
        const chunks: Buffer[] = [];
        // Marked as being consumed (read), so node does not discard the body once the answer is sent.
        req.read(0);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ acks: [] }));
        setTimeout(() => req.on('data', (c: Buffer) => chunks.push(c)), 300);
        req.on('end', () => {
          try {
            bodies.push({ batches: decodeRequest(Buffer.concat(chunks), { maxBatchRawBytes: 1 << 30 }).batches.length });
          } catch (err) {
            bodies.push({ batches: 0, error: `${(err as Error).message} (${chunks.reduce((k, c) => k + c.length, 0)} bytes)` });
          }
        });
      }),
    );
  });

  it('over the batch stream: memory goes back only after node wrote the whole frame, even when the answer comes first', async () => {
    await poisonedDelivery((bodies) => {
      const s = createServer((_req, res) => res.writeHead(500).end());
      // Answers a frame as soon as its first bytes arrive, stops reading for 300 ms (the rest waits in
      // the agent's socket queue), then reads the whole frame and checks it.
      s.on('upgrade', (_req: IncomingMessage, sock: Socket, head: Buffer) => {
        sock.on('error', () => undefined);
        streamSockets.push(sock);
        sock.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: logship-batches/1\r\n\r\n');
        let buf = head;
        let answered = false;
        sock.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (!answered) {
            answered = true;
            const json = JSON.stringify({ acks: [] });
            const out = Buffer.alloc(6 + json.length);
            out.writeUInt32BE(2 + json.length, 0);
            out.writeUInt16BE(200, 4);
            out.write(json, 6);
            sock.write(out);
            sock.pause();
            setTimeout(() => sock.resume(), 300);
          }
          if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
            const len = buf.readUInt32BE(0);
            const st = buf.readUInt16BE(4);
            try {
              bodies.push({ batches: decodeRequest(buf.subarray(6 + st, 4 + len), { maxBatchRawBytes: 1 << 30 }).batches.length });
            } catch (err) {
              bodies.push({ batches: 0, error: (err as Error).message });
            }
            buf = buf.subarray(4 + len);
          }
        });
      });
      return s;
    });
  });
});

describe('aggregator.transport: post', () => {
  beforeEach(() => {
    transport = 'stream';
  });

  it('sends POST /v1/batches only, to an aggregator that would take the stream: no handshake, no fallback warning', async () => {
    await fill(4);
    const url = await fakeAggregator('a', ok);
    const { acked } = forwarder({ urls: [url], maxRequestBytes: 40, transport: 'post' });
    await waitFor('all 4 acknowledged', () => acked.at(-1) === 4, 10_000, 10);
    expect(hits.flatMap((h) => h.seqs)).toEqual([0, 1, 2, 3]);
    expect(streamSockets, 'upgrade requests the fake aggregator saw').toHaveLength(0);
    expect(logs.filter((l) => String(l.msg).includes('batch stream'))).toEqual([]);
  });
});
