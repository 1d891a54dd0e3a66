/**
 * A lean HTTP/1.1 client for the fan-in scenarios (fleet-fan-in, many-producers): one keep-alive
 * socket per simulated agent, the request bytes an agent sends, answers parsed by Content-Length.
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
  constructor(
    private readonly port: number,
    private readonly events: { error: (what: 'connect' | 'reset', err: Error) => void; stopping: () => boolean },
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
    return sock;
  }

  request(head: string, body: Buffer): Promise<{ status: number; body: string }> {
    if (this.#waiting) return Promise.reject(new Error('a request is already in flight'));
    if (!this.#sock) this.#sock = this.#open();
    const sock = this.#sock;
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      sock.cork();
      sock.write(head);
      sock.write(body);
      sock.uncork();
    });
  }

  #data(d: Buffer): void {
    const buf = this.#buf ? Buffer.concat([this.#buf, d]) : d;
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
