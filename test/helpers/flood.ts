import { connect, type Socket } from 'node:net';

/**
 * `n` idle connections to 127.0.0.1:`port`, from `from` (any 127/8 address: all of it is loopback);
 * `closed()` counts those the server has closed.
 */
export function floodConnections(port: number, n: number, from?: string): { sockets: Socket[]; closed: () => number; destroy: () => void } {
  let closed = 0;
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ port, host: '127.0.0.1', ...(from ? { localAddress: from } : {}) });
    s.on('error', () => undefined);
    s.on('close', () => closed++);
    sockets.push(s);
  }
  return { sockets, closed: () => closed, destroy: () => sockets.forEach((s) => s.destroy()) };
}
