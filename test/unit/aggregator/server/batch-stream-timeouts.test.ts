/**
 * The batch stream's clocks (aggregator/server/batch-stream.ts), shortened through the host's
 * `timeouts` so that they run in a test: a stream idle for idleMs is closed, but not while its
 * frame is being stored (a slow disk), and it idles out again once that frame is answered; a frame
 * begun must be complete within frameMs even while bytes keep trickling in (which keeps the idle
 * clock from firing), and closing for it is logged. Real sockets on 127.0.0.1, a real node:http
 * server taking the upgrade.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { BatchStreams } from '../../../../aggregator/server/batch-stream.js';
import { createAggregatorMetrics } from '../../../../aggregator/metrics.js';

const FRAME_MS = 400;
const IDLE_MS = 700;

interface Harness {
  port: number;
  warnings: string[];
  /** resolves the frame being stored, if any */
  release: () => void;
  stored: number;
}

const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A server whose frames are stored when the test says so (`release`), or at once. */
async function harness(hold: boolean): Promise<Harness> {
  const h: Harness = { port: 0, warnings: [], release: () => undefined, stored: 0 };
  const streams = new BatchStreams({
    metrics: createAggregatorMetrics(false),
    logger: { warn: (_o, msg) => h.warnings.push(msg), error: (_o, msg) => h.warnings.push(msg) },
    auth: { check: () => undefined, requireScope: () => undefined },
    isReady: () => true,
    maxBodyBytes: 1 << 20,
    store: () =>
      new Promise<string>((resolve) => {
        const done = () => {
          h.stored++;
          resolve('{"acks":[]}');
        };
        if (hold) h.release = done;
        else done();
      }),
    timeouts: { frameMs: FRAME_MS, idleMs: IDLE_MS },
  });
  const server = createServer((_req, res) => res.end());
  server.on('upgrade', streams.upgrade);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.port = (server.address() as AddressInfo).port;
  return h;
}

/** An upgraded stream: resolves once the 101 is in; `closedAt` is set when the server closes it. */
async function open(port: number): Promise<{ sock: Socket; answers: () => number; closedAt: () => number | undefined }> {
  const sock = connect({ port, host: '127.0.0.1' });
  sockets.push(sock);
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let closedAt: number | undefined;
  sock.on('error', () => undefined);
  sock.on('close', () => (closedAt = performance.now()));
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.toString('latin1', 0, 12).endsWith('101')) return reject(new Error(buf.toString('latin1', 0, end)));
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve();
      }
    });
    sock.write('GET /v1/batches HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade\r\nupgrade: logship-batches/1\r\n\r\n');
  });
  /** answer frames received so far */
  const answers = () => {
    let n = 0;
    for (let p = 0; p + 4 <= buf.length; ) {
      const len = buf.readUInt32BE(p);
      if (p + 4 + len > buf.length) break;
      p += 4 + len;
      n++;
    }
    return n;
  };
  return { sock, answers, closedAt: () => closedAt };
}

/** A frame: u32 length, u16 status length 0, then `body` (the store above never looks at it). */
function frame(body: Buffer): Buffer {
  const out = Buffer.alloc(6 + body.length);
  out.writeUInt32BE(2 + body.length, 0);
  body.copy(out, 6);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!fn()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('batch stream timeouts', () => {
  it('closes a stream idle for idleMs', async () => {
    const h = await harness(false);
    const s = await open(h.port);
    const t0 = performance.now();
    await until('the idle stream to be closed', () => s.closedAt() !== undefined, IDLE_MS * 4);
    expect(s.closedAt()! - t0).toBeGreaterThanOrEqual(IDLE_MS - 50);
  });

  it('keeps a stream whose frame is being stored past idleMs, answers it, then idles it out', async () => {
    const h = await harness(true);
    const s = await open(h.port);
    s.sock.write(frame(Buffer.from('slow disk')));
    await sleep(IDLE_MS * 2);
    expect(s.closedAt(), 'closed while its frame was being stored').toBeUndefined();
    h.release();
    await until('the answer', () => s.answers() === 1, 2_000);
    const answered = performance.now();
    await until('the stream to idle out after its answer', () => s.closedAt() !== undefined, IDLE_MS * 4);
    expect(s.closedAt()! - answered).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(h.stored).toBe(1);
  });

  it('closes a stream whose frame is not complete within frameMs, though bytes keep coming', async () => {
    const h = await harness(false);
    const s = await open(h.port);
    // A whole frame first: answered, the stream goes on.
    s.sock.write(frame(Buffer.from('whole')));
    await until('the first answer', () => s.answers() === 1, 2_000);
    // Then a frame of 1,000 bytes, one byte every 50 ms: never idle, never complete.
    const header = Buffer.alloc(6);
    header.writeUInt32BE(1_000, 0);
    s.sock.write(header);
    const t0 = performance.now();
    const trickle = setInterval(() => s.sock.write(Buffer.from('x')), 50);
    try {
      await until('the stream to be closed for its slow frame', () => s.closedAt() !== undefined, FRAME_MS * 5);
    } finally {
      clearInterval(trickle);
    }
    const after = s.closedAt()! - t0;
    expect(after).toBeGreaterThanOrEqual(FRAME_MS - 50);
    expect(after).toBeLessThan(IDLE_MS * 4);
    expect(h.stored).toBe(1);
    expect(h.warnings.some((w) => w.includes(`a frame was not complete within ${FRAME_MS} ms`))).toBe(true);
  });
});
