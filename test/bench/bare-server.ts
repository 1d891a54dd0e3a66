/**
 * The ceiling of the fan-in scenarios on this machine (issue 17): a bare node:http server with no
 * logship code, started in place of the aggregator by `many-producers` and `fleet-fan-in` when
 * BENCH_FANIN_BARE=1. Keep-alive as node:http does by default; every POST reads its body to the end
 * and answers 200 with a fixed JSON of the size of one ack; GET /readyz answers 200 so the bench can
 * wait for it as for the aggregator; the batch stream's upgrade (GET /v1/batches) is taken and every
 * frame answered with the same ack. Nothing is decoded, checked or stored, so what the bench
 * measures against it is what node:http and the load generator alone cost on these cores.
 *
 * Run as a program: node dist/test/bench/bare-server.js <port>
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';

const ACK = '{"acks":[{"seq":0,"topic":"many","partition":0,"offset":0,"duplicate":false}]}';
const ACK_LEN = String(Buffer.byteLength(ACK));
/** The aggregator's accept backlog (LISTEN_BACKLOG in aggregator/server/http-util.ts; not imported: no logship code here). */
const LISTEN_BACKLOG = 4096;
/** A body larger than this is refused (the aggregator's own default bound is larger; the bench sends KiBs). */
const MAX_BODY = 16 * 1024 * 1024;

export function bareServer(port: number): Promise<() => Promise<void>> {
  const server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(200, ['content-type', 'application/json', 'content-length', '2']);
      res.end('{}');
      return;
    }
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      res.writeHead(200, ['content-type', 'application/json', 'content-length', ACK_LEN]);
      res.end(ACK);
    });
  });
  // The batch stream (aggregator/server/batch-stream.ts) as bare: each whole frame answered with the
  // same fixed ack, in a frame; nothing decoded.
  const ackFrame = Buffer.alloc(6 + Buffer.byteLength(ACK));
  ackFrame.writeUInt32BE(2 + Buffer.byteLength(ACK), 0);
  ackFrame.writeUInt16BE(200, 4);
  ackFrame.write(ACK, 6);
  server.on('upgrade', (_req, sock: Socket, head: Buffer) => {
    sock.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: logship-batches/1\r\n\r\n');
    sock.setNoDelay(true);
    let buf = head;
    const onData = (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let off = 0;
      let answers = 0;
      while (buf.length - off >= 4) {
        const n = buf.readUInt32BE(off);
        if (n > MAX_BODY) return void sock.destroy();
        if (buf.length - off < 4 + n) break;
        off += 4 + n;
        answers++;
      }
      buf = buf.subarray(off);
      for (let i = 0; i < answers; i++) sock.write(ackFrame);
    };
    sock.on('data', onData);
    sock.on('error', () => sock.destroy());
    if (head.length) onData(Buffer.alloc(0));
  });
  // The aggregator's settings (aggregator/server/http-util.ts), so only its code differs.
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 120_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', backlog: LISTEN_BACKLOG }, () =>
      resolve(
        () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      ),
    );
  });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    process.stderr.write('usage: bare-server.js <port>\n');
    process.exit(2);
  }
  const close = await bareServer(port);
  const stop = (): void => void close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
