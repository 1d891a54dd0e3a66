/**
 * A TCP proxy on 127.0.0.1 for tests that need to see or break the bytes a
 * real client sends: it keeps the first bytes each connection sends (to read
 * the request line, headers and first body lines a shipper really used), and
 * it can be armed to reset one connection, either mid-request (after N more
 * request bytes have gone through) or when the server's answer starts (the
 * server has done the work; the client never hears about it). A reset is a
 * TCP RST to the client (socket.resetAndDestroy) and a destroy towards the server.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ResetMode = { kind: 'mid-request'; afterBytes: number } | { kind: 'on-response' };

export interface TcpProxy {
  port: number;
  url: string;
  /** The first `captureBytes` bytes each connection sent, in connection order. */
  captured: () => Buffer[];
  /** Resets the next connection that reaches the armed point; resolves when it did. */
  arm: (mode: ResetMode) => Promise<void>;
  resets: () => number;
  close: () => Promise<void>;
}

export async function startTcpProxy(targetPort: number, o: { captureBytes?: number } = {}): Promise<TcpProxy> {
  const cap = o.captureBytes ?? 64 * 1024;
  const captures: Buffer[][] = [];
  const sockets = new Set<Socket>();
  let armed: { mode: ResetMode; sent: number; done: () => void } | undefined;
  let resets = 0;

  const cut = (client: Socket, server: Socket) => {
    resets++;
    const a = armed;
    armed = undefined;
    client.resetAndDestroy();
    server.destroy();
    a?.done();
  };

  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const mine: Buffer[] = [];
    let kept = 0;
    captures.push(mine);
    client.on('data', (chunk: Buffer) => {
      if (kept < cap) {
        const part = chunk.subarray(0, cap - kept);
        mine.push(Buffer.from(part));
        kept += part.length;
      }
      if (armed?.mode.kind === 'mid-request') {
        const room = armed.mode.afterBytes - armed.sent;
        if (chunk.length >= room) {
          // Forward exactly up to the armed point, then cut once those bytes are on their way.
          upstream.write(chunk.subarray(0, room), () => cut(client, upstream));
          client.pause();
          return;
        }
        armed.sent += chunk.length;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (armed?.mode.kind === 'on-response') {
        cut(client, upstream);
        return;
      }
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    const gone = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('error', gone);
    upstream.on('error', gone);
    client.on('close', gone);
    upstream.on('close', gone);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    captured: () => captures.map((c) => Buffer.concat(c)),
    arm: (mode) =>
      new Promise<void>((done) => {
        armed = { mode, sent: 0, done };
      }),
    resets: () => resets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** Splits captured bytes into HTTP requests' heads: request line and lower-cased headers (body bytes follow each head). */
export function requestHeads(bytes: Buffer): Array<{ line: string; headers: Record<string, string>; bodyStart: number }> {
  const out: Array<{ line: string; headers: Record<string, string>; bodyStart: number }> = [];
  const text = bytes.toString('latin1');
  const re = /(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP\/1\.[01]\r\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const end = text.indexOf('\r\n\r\n', m.index);
    if (end < 0) break;
    const headers: Record<string, string> = {};
    for (const l of text.slice(m.index, end).split('\r\n').slice(1)) {
      const c = l.indexOf(':');
      if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
    }
    out.push({ line: `${m[1]} ${m[2]}`, headers, bodyStart: end + 4 });
  }
  return out;
}
