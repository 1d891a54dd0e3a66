/**
 * The batch stream (aggregator/server/batch-stream.ts, agent/forward/stream-post.ts) against real
 * aggregator processes: the handshake's refusals are plain HTTP answers; frames are answered in
 * order with what POST /v1/batches answers; a refused frame leaves the stream usable; lying or
 * oversized lengths end the stream with a counted 413; frames cut anywhere are put back together;
 * ingest processes speak it too; the agent sends over it, and falls back to POST where the other
 * side does not take the upgrade.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { createServer, type IncomingMessage } from 'node:http';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchesBody, freePort, killAll, makeStack, plainBatch, spawnLogship, stop, tempDir, topicCount, waitFor, waitSettled, writeYaml } from '../helpers/procs.js';
import { StreamPoster } from '../../agent/forward/stream-post.js';
import { BATCHES_CONTENT_TYPE } from '../../lib/protocol/batches.js';

afterAll(killAll);

const INGEST = 'ingest-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';

/** A raw client of the batch stream: the handshake's answer, then answer frames as they come. */
class RawStream {
  readonly sock: Socket;
  #buf = Buffer.alloc(0);
  #head: string | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(port: number, request: string) {
    this.sock = connect({ port, host: '127.0.0.1' });
    this.sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake?.();
    });
    this.sock.on('close', () => {
      this.#closed = true;
      this.#wake?.();
    });
    this.sock.on('error', () => undefined);
    this.sock.write(request);
  }

  static handshake(port: number, o: { token?: string; method?: string; path?: string; upgrade?: string } = {}): RawStream {
    return new RawStream(
      port,
      `${o.method ?? 'GET'} ${o.path ?? '/v1/batches'} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade\r\nupgrade: ${o.upgrade ?? 'logship-batches/1'}\r\n` +
        `${o.token ? `authorization: Bearer ${o.token}\r\n` : ''}content-length: 0\r\n\r\n`,
    );
  }

  async #until<T>(fn: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const v = fn();
      if (v !== undefined) return v;
      if (this.#closed) throw new Error(`stream closed while waiting for ${what}; had ${this.#buf.length} bytes`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 200);
      });
    }
  }

  /** The handshake's answer: status line and headers (and for a refusal, the JSON body after them). */
  async answerHead(): Promise<{ status: number; head: string; body: string }> {
    const end = await this.#until(() => {
      const i = this.#buf.indexOf('\r\n\r\n');
      return i < 0 ? undefined : i;
    }, 'the handshake answer');
    this.#head = this.#buf.toString('latin1', 0, end);
    const status = Number(this.#head.slice(9, 12));
    if (status === 101) {
      this.#buf = this.#buf.subarray(end + 4);
      return { status, head: this.#head, body: '' };
    }
    const len = Number(/content-length: (\d+)/i.exec(this.#head)?.[1] ?? 0);
    await this.#until(() => (this.#buf.length >= end + 4 + len ? true : undefined), 'the refusal body');
    return { status, head: this.#head, body: this.#buf.toString('utf8', end + 4, end + 4 + len) };
  }

  send(body: Buffer, agentStatus = ''): void {
    this.sock.write(frame(body, agentStatus));
  }

  async answer(): Promise<{ status: number; json: any }> {
    const n = await this.#until(() => (this.#buf.length >= 6 && this.#buf.length >= 4 + this.#buf.readUInt32BE(0) ? this.#buf.readUInt32BE(0) : undefined), 'an answer frame');
    const status = this.#buf.readUInt16BE(4);
    const json = JSON.parse(this.#buf.toString('utf8', 6, 4 + n));
    this.#buf = this.#buf.subarray(4 + n);
    return { status, json };
  }

  async closedByPeer(): Promise<void> {
    await this.#until(() => (this.#closed ? true : undefined), 'the aggregator to close the stream');
  }
}

function frame(body: Buffer, agentStatus = ''): Buffer {
  const st = Buffer.from(agentStatus, 'latin1');
  const head = Buffer.alloc(6);
  head.writeUInt32BE(2 + st.length + body.length, 0);
  head.writeUInt16BE(st.length, 4);
  return Buffer.concat([head, st, body]);
}

const body = (topic: string, seq: number, producer = 'stream-test/1'): Buffer =>
  batchesBody({ producer, epoch: 1, host: 'h1', batches: [plainBatch({ topic, source: '/s.log', seq, lines: [`line ${seq} a`, `line ${seq} b`] })] });

async function metricsText(aggUrl: string): Promise<string> {
  return (await fetch(`${aggUrl}/metrics`)).text();
}

function counter(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function aggregator(dir: string, extra: Record<string, unknown> = {}): Promise<{ port: number; url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const cfg = await writeYaml(join(dir, `agg-${port}.yaml`), {
    listen: `127.0.0.1:${port}`,
    data_dir: join(dir, `data-${port}`),
    auth: { tokens: [{ name: 'agents', token: INGEST, scopes: ['ingest', 'read'] }, { name: 'reader', token: READER, scopes: ['read'] }] },
    limits: { max_body_bytes: '64KiB' },
    ...extra,
  });
  const p = spawnLogship(['aggregator', '--config', cfg]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => `aggregator ready\n${p.output()}`, async () => (await fetch(`${url}/readyz`)).ok, 30_000);
  return { port, url, stop: async () => void (await stop(p)) };
}

async function storedLines(url: string, topic: string): Promise<number> {
  const res = await fetch(`${url}/v1/topics`, { headers: { authorization: `Bearer ${READER}` } });
  const j = (await res.json()) as { topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }> };
  const x = j.topics.find((y) => y.name === topic);
  return x ? x.partitions.reduce((a, q) => a + q.next_offset - q.first_offset, 0) : 0;
}

describe('batch stream (issue 17)', () => {
  it('refuses a handshake as POST /v1/batches would, as plain HTTP, and closes', { timeout: 60_000 }, async () => {
    const t = await tempDir();
    const agg = await aggregator(t.dir);
    try {
      const cases: Array<[Parameters<typeof RawStream.handshake>[1], number, string]> = [
        [{}, 401, 'unauthorized'],
        [{ token: 'not-a-valid-token-0123456789' }, 401, 'unauthorized'],
        [{ token: READER }, 403, 'forbidden'],
        [{ token: INGEST, upgrade: 'websocket' }, 400, 'bad_request'],
        [{ token: INGEST, method: 'POST' }, 400, 'bad_request'],
        [{ token: INGEST, path: '/v1/topics' }, 404, 'not_found'],
      ];
      for (const [o, status, type] of cases) {
        const s = RawStream.handshake(agg.port, o);
        const a = await s.answerHead();
        expect(a.status, JSON.stringify(o)).toBe(status);
        expect(a.head.toLowerCase()).toContain('connection: close');
        expect(JSON.parse(a.body).error.type).toBe(type);
        await s.closedByPeer();
      }
      const m = await metricsText(agg.url);
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches_stream",status="401"')).toBe(2);
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches_stream",status="400"')).toBe(2);
    } finally {
      await agg.stop();
      await t.cleanup();
    }
  });

  it('answers frames in order as POST would; a refused frame leaves the stream usable; cut frames are joined', { timeout: 60_000 }, async () => {
    const t = await tempDir();
    const agg = await aggregator(t.dir);
    try {
      const s = RawStream.handshake(agg.port, { token: INGEST });
      expect((await s.answerHead()).status).toBe(101);
      // Three frames in one write: two batches and the first again (a re-send after a lost answer).
      s.sock.write(Buffer.concat([frame(body('st', 0)), frame(body('st', 1), 'buffer_bytes=10'), frame(body('st', 0))]));
      const a0 = await s.answer();
      const a1 = await s.answer();
      const a2 = await s.answer();
      expect([a0.status, a1.status, a2.status]).toEqual([200, 200, 200]);
      expect(a0.json.acks[0]).toMatchObject({ seq: 0, topic: 'st', duplicate: false });
      expect(a1.json.acks[0]).toMatchObject({ seq: 1, topic: 'st', duplicate: false });
      expect(a2.json.acks[0]).toMatchObject({ seq: 0, topic: 'st', duplicate: true });
      // The same bytes as POST /v1/batches answers for the same re-send.
      const posted = await fetch(`${agg.url}/v1/batches`, { method: 'POST', body: body('st', 0), headers: { 'content-type': BATCHES_CONTENT_TYPE, authorization: `Bearer ${INGEST}` } });
      expect(posted.status).toBe(200);
      expect(await posted.json()).toEqual(a2.json);

      // A batch whose CRC disagrees: 400 bad request, nothing stored, the stream goes on.
      const bad = body('st', 2);
      bad[bad.length - 3] ^= 0xff;
      s.send(bad);
      const refused = await s.answer();
      expect(refused.status).toBe(400);
      expect(typeof refused.json.error.reason).toBe('string');
      // An agent status longer than the frame: 400, the stream goes on.
      const lying = Buffer.alloc(6);
      lying.writeUInt32BE(2, 0);
      lying.writeUInt16BE(500, 4);
      s.sock.write(lying);
      expect((await s.answer()).status).toBe(400);
      // A frame written 7 bytes at a time.
      const slow = frame(body('st', 2));
      for (let i = 0; i < slow.length; i += 7) {
        s.sock.write(slow.subarray(i, i + 7));
        await new Promise((r) => setTimeout(r, 2));
      }
      const a3 = await s.answer();
      expect(a3.status).toBe(200);
      expect(a3.json.acks[0]).toMatchObject({ seq: 2, duplicate: false });
      expect(await storedLines(agg.url, 'st')).toBe(6);

      // A length past limits.max_body_bytes (64 KiB) plus the status field: 413, then the stream ends.
      const huge = Buffer.alloc(6);
      huge.writeUInt32BE(0xfffffff0, 0);
      s.sock.write(huge);
      const tooBig = await s.answer();
      expect(tooBig.status).toBe(413);
      expect(tooBig.json.error.type).toBe('too_large');
      await s.closedByPeer();

      // A length below the status field's two bytes: the same.
      const s2 = RawStream.handshake(agg.port, { token: INGEST });
      expect((await s2.answerHead()).status).toBe(101);
      s2.sock.write(Buffer.from([0, 0, 0, 1, 0]));
      expect((await s2.answer()).status).toBe(413);
      await s2.closedByPeer();

      const m = await metricsText(agg.url);
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches_stream",status="200"')).toBe(4);
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches_stream",status="413"')).toBe(2);
      expect(counter(m, 'logship_aggregator_bad_requests_total', 'type="too_large"')).toBe(2);
      expect(await storedLines(agg.url, 'st')).toBe(6);
    } finally {
      await agg.stop();
      await t.cleanup();
    }
  });

  it('stops reading a client that does not read its answers (bounded memory), and stays up', { timeout: 60_000 }, async () => {
    const t = await tempDir();
    const agg = await aggregator(t.dir);
    try {
      const s = RawStream.handshake(agg.port, { token: INGEST });
      expect((await s.answerHead()).status).toBe(101);
      // Frames of 2 bytes (an empty status, an empty request): each answered 400 with ~150 bytes of
      // JSON, 25 times what it costs to send. 24 MB of them, and none of the answers read.
      s.sock.pause();
      const one = Buffer.from([0, 0, 0, 2, 0, 0]);
      const chunk = Buffer.alloc(one.length * 100_000);
      for (let i = 0; i < chunk.length; i += one.length) one.copy(chunk, i);
      for (let i = 0; i < 40; i++) s.sock.write(chunk);
      // Answered until ~1 MiB waited unsent beyond what the kernel's buffers took, then nothing more
      // read: the count stops moving while most of the 4,000,000 frames still wait on this side.
      const answered = async () => counter(await metricsText(agg.url), 'logship_aggregator_requests_total', 'route="batches_stream",status="400"');
      let before = -1;
      let now = await answered();
      for (let i = 0; i < 30 && now !== before; i++) {
        await new Promise((r) => setTimeout(r, 1_000));
        before = now;
        now = await answered();
      }
      expect(now, 'the aggregator kept reading frames whose answers nobody reads').toBe(before);
      expect(now).toBeGreaterThan(1_000);
      expect(now).toBeLessThan(1_000_000);
      expect(s.sock.writableLength).toBeGreaterThan(0);
      const rss = Number(/^logship_aggregator_process_resident_memory_bytes (\d+)/m.exec(await metricsText(agg.url))?.[1]);
      expect(rss).toBeLessThan(400 * 1024 * 1024);
      expect((await fetch(`${agg.url}/healthz`)).status).toBe(200);
      s.sock.destroy();
    } finally {
      await agg.stop();
      await t.cleanup();
    }
  });

  it('is served by ingest processes too', { timeout: 60_000 }, async () => {
    const t = await tempDir();
    const agg = await aggregator(t.dir, { ingest: { processes: 2 } });
    try {
      for (let k = 0; k < 4; k++) {
        // Several connections, so both ingest processes are likely to take some.
        const s = RawStream.handshake(agg.port, { token: INGEST });
        expect((await s.answerHead()).status).toBe(101);
        s.send(body('ip', k, `ip-${k}/1`));
        const a = await s.answer();
        expect(a.status).toBe(200);
        expect(a.json.acks[0]).toMatchObject({ seq: k, topic: 'ip', duplicate: false });
        s.send(body('ip', k, `ip-${k}/1`));
        expect((await s.answer()).json.acks[0].duplicate).toBe(true);
        s.sock.end();
      }
      expect(await storedLines(agg.url, 'ip')).toBe(8);
    } finally {
      await agg.stop();
      await t.cleanup();
    }
  });

  it('carries an agent: every line once, over the stream, no POST', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    try {
      const log = join(t.dir, 'app.log');
      await writeFile(log, '');
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [log], start_at: 'beginning' }]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      let n = 0;
      for (let round = 0; round < 20; round++) {
        let chunk = '';
        for (let i = 0; i < 500; i++) chunk += `line ${n++}\n`;
        await appendFile(log, chunk);
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: n, statusPort: stack.statusPort });
      expect(await topicCount(stack.aggUrl, 'app')).toBe(n);
      const res = await fetch(`${stack.aggUrl}/metrics`);
      const m = await res.text();
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches_stream",status="101"')).toBeGreaterThanOrEqual(1);
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches_stream",status="200"')).toBeGreaterThan(0);
      expect(counter(m, 'logship_aggregator_requests_total', 'route="batches",status="200"')).toBe(0);
      await stop(agent);
      await stop(agg);
    } finally {
      await t.cleanup();
    }
  });
});

describe('StreamPoster (agent side)', () => {
  it('falls back to POST where the upgrade is not taken, once, and keeps to it', { timeout: 30_000 }, async () => {
    const seen: string[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      seen.push(`${req.method} ${req.headers.upgrade ?? ''}`);
      req.resume();
      req.on('end', () => {
        if (req.method !== 'POST') {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"type":"bad_request","reason":"method GET not allowed here; use POST"}}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"acks":[]}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const fallbacks: string[] = [];
    const p = new StreamPoster({ keepAliveMs: 5_000, onFallback: (origin, why) => fallbacks.push(`${origin} ${why}`) });
    try {
      const url = new URL(`http://127.0.0.1:${port}/v1/batches`);
      const o = { timeoutMs: 5_000, headers: { 'content-type': BATCHES_CONTENT_TYPE } };
      expect((await p.post(url, [Buffer.from('x')], o)).status).toBe(200);
      expect((await p.post(url, [Buffer.from('y')], o)).status).toBe(200);
      expect(seen).toEqual(['GET logship-batches/1', 'POST ', 'POST ']);
      expect(fallbacks).toHaveLength(1);
      expect(fallbacks[0]).toContain('HTTP 400');
    } finally {
      p.close();
      server.close();
    }
  });

  it('sends again on a new stream when a used one was closed, and passes a refused handshake through', { timeout: 30_000 }, async () => {
    let streams = 0;
    let refuse = false;
    const server = createServer((_req, res) => res.writeHead(500).end());
    server.on('upgrade', (req: IncomingMessage, sock: Socket) => {
      if (refuse) {
        sock.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 50\r\nconnection: close\r\n\r\n{"error":{"type":"unauthorized","reason":"nope!"}}');
        return;
      }
      streams++;
      sock.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: logship-batches/1\r\n\r\n');
      let buf = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          const n = buf.readUInt32BE(0);
          const st = buf.readUInt16BE(4);
          const status = buf.toString('latin1', 6, 6 + st);
          const json = JSON.stringify({ got: buf.toString('utf8', 6 + st, 4 + n), status });
          buf = buf.subarray(4 + n);
          const out = Buffer.alloc(6 + Buffer.byteLength(json));
          out.writeUInt32BE(2 + Buffer.byteLength(json), 0);
          out.writeUInt16BE(200, 4);
          out.write(json, 6);
          if (status === 'big') {
            // An answer of 200 KB (acks of a request of thousands of batches), written in three cuts.
            const big = `{"acks":[${'{"seq":1,"topic":"t","partition":0,"offset":1,"duplicate":false},'.repeat(3000)}{}]}`;
            const frame = Buffer.alloc(6 + big.length);
            frame.writeUInt32BE(2 + big.length, 0);
            frame.writeUInt16BE(200, 4);
            frame.write(big, 6);
            sock.write(frame.subarray(0, 3));
            sock.write(frame.subarray(3, 100_000));
            setTimeout(() => sock.end(frame.subarray(100_000)), 20);
            continue;
          }
          // Answers one frame per stream, then closes it (an aggregator restarting, an idle close).
          sock.end(out);
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const p = new StreamPoster({ keepAliveMs: 5_000 });
    try {
      const url = new URL(`http://127.0.0.1:${port}/v1/batches`);
      const o = { timeoutMs: 5_000, headers: { 'x-logship-agent-status': 'buffer_bytes=1' } };
      const a = await p.post(url, [Buffer.from('one')], o);
      expect(a.status).toBe(200);
      expect(JSON.parse(a.text)).toEqual({ got: 'one', status: 'buffer_bytes=1' });
      await new Promise((r) => setTimeout(r, 100));
      const b = await p.post(url, [Buffer.from('tw'), Buffer.from('o')], o);
      expect(JSON.parse(b.text).got).toBe('two');
      expect(streams).toBe(2);
      // A long answer is taken whole off the stream and its first 64 KiB kept, as over POST.
      await new Promise((r) => setTimeout(r, 100));
      const big = await p.post(url, [Buffer.from('x')], { ...o, headers: { 'x-logship-agent-status': 'big' } });
      expect(big.status).toBe(200);
      expect(big.text.length).toBe(64 * 1024);
      expect(big.text.startsWith('{"acks":[{"seq":1,')).toBe(true);
      refuse = true;
      await new Promise((r) => setTimeout(r, 100));
      const c = await p.post(url, [Buffer.from('three')], o);
      expect(c.status).toBe(401);
      expect(JSON.parse(c.text).error.reason).toBe('nope!');
    } finally {
      p.close();
      server.close();
    }
  });
});
