/**
 * A lean client for the fan-in scenarios (fleet-fan-in, many-producers): one socket per simulated
 * agent, the bytes an agent sends: the batch stream's handshake and frames (as the agent sends by
 * default), or HTTP/1.1 keep-alive POSTs with answers parsed by Content-Length.
 * It costs this process a fraction of undici's CPU per request, which matters when the simulated
 * agents and the aggregator share two cores: the aggregator, not the load generator, should be
 * what is measured.
 */
import { connect, type Socket } from 'node:net';

/** One keep-alive HTTP/1.1 connection speaking POST /v1/batches, one request at a time. */
export class AgentConn {
  #sock: Socket | undefined;
  #buf: Buffer | undefined;
  #waiting: { resolve: (r: { status: number; body: string }) => void; reject: (e: Error) => void } | undefined;
  connects = 0;
  /** stream: the handshake's answer (101) is still to come on this socket */
  #handshake = false;
  constructor(
    private readonly port: number,
    private readonly events: { error: (what: 'connect' | 'reset', err: Error) => void; stopping: () => boolean },
    /** 'stream': the batch stream (aggregator/server/batch-stream.ts) instead of one POST per request */
    private readonly transport: 'http' | 'stream' = 'http',
  ) {}

  #open(): Socket {
    const sock = connect({ port: this.port, host: '127.0.0.1', noDelay: true });
    let connected = false;
    sock.on('connect', () => {
      connected = true;
      this.connects++;
    });
    sock.on('data', (d: Buffer) => this.#data(d));
    const fail = (err: Error) => {
      if (this.#sock !== sock) return;
      this.#sock = undefined;
      this.#buf = undefined;
      if (!this.events.stopping()) this.events.error(connected ? 'reset' : 'connect', err);
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(err);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed by the aggregator')));
    if (this.transport === 'stream') {
      // The first frame may follow the handshake at once: the aggregator takes bytes after it as frames.
      this.#handshake = true;
      sock.write(`GET /v1/batches HTTP/1.1\r\nhost: 127.0.0.1:${this.port}\r\nconnection: Upgrade\r\nupgrade: logship-batches/1\r\n\r\n`);
    }
    return sock;
  }

  request(head: string, body: Buffer): Promise<{ status: number; body: string }> {
    if (this.#waiting) return Promise.reject(new Error('a request is already in flight'));
    if (!this.#sock) this.#sock = this.#open();
    const sock = this.#sock;
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      if (this.transport === 'stream') {
        const frame = Buffer.allocUnsafe(6 + body.length);
        frame.writeUInt32BE(2 + body.length, 0);
        frame.writeUInt16BE(0, 4);
        body.copy(frame, 6);
        sock.write(frame);
        return;
      }
      sock.cork();
      sock.write(head);
      sock.write(body);
      sock.uncork();
    });
  }

  #data(d: Buffer): void {
    let buf = this.#buf ? Buffer.concat([this.#buf, d]) : d;
    if (this.transport === 'stream') {
      if (this.#handshake) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          this.#buf = buf;
          return;
        }
        if (!buf.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) {
          this.#buf = undefined;
          const w = this.#waiting;
          this.#waiting = undefined;
          w?.resolve({ status: Number(buf.toString('latin1', 9, 12)), body: buf.toString('utf8', end + 4) });
          return;
        }
        this.#handshake = false;
        buf = buf.subarray(end + 4);
      }
      if (buf.length < 6 || buf.length < 4 + buf.readUInt32BE(0)) {
        this.#buf = buf.length ? buf : undefined;
        return;
      }
      const n = buf.readUInt32BE(0);
      this.#buf = buf.length > 4 + n ? buf.subarray(4 + n) : undefined;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.resolve({ status: buf.readUInt16BE(4), body: buf.toString('utf8', 6, 4 + n) });
      return;
    }
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      this.#buf = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const len = m ? Number(m[1]) : 0;
    if (buf.length < end + 4 + len) {
      this.#buf = buf;
      return;
    }
    this.#buf = buf.length > end + 4 + len ? buf.subarray(end + 4 + len) : undefined;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.resolve({ status: Number(head.slice(9, 12)), body: buf.toString('utf8', end + 4, end + 4 + len) });
  }

  close(): void {
    const s = this.#sock;
    this.#sock = undefined;
    s?.destroy();
  }
}

/**
 * BENCH_FANIN_TRANSPORT: how the simulated agents send. stream (default: what the agent does,
 * agent/forward/stream-post.ts): the batch stream; http: one POST /v1/batches per request, as
 * agents before the batch stream did and as they still do where the upgrade is not taken.
 */
export function fanInTransport(): 'http' | 'stream' {
  const t = process.env.BENCH_FANIN_TRANSPORT ?? 'stream';
  if (t !== 'http' && t !== 'stream') throw new Error(`BENCH_FANIN_TRANSPORT must be http or stream, not ${t}`);
  return t;
}
