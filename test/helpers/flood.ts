import { connect, type Socket } from 'node:net';

/** `n` idle connections to 127.0.0.1:`port`; `closed()` counts those the server has closed. */
export function floodConnections(port: number, n: number): { sockets: Socket[]; closed: () => number; destroy: () => void } {
  let closed = 0;
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.on('close', () => closed++);
    sockets.push(s);
  }
  return { sockets, closed: () => closed, destroy: () => sockets.forEach((s) => s.destroy()) };
}
