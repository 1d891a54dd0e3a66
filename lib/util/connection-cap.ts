/**
 * A cap on the connections a listening server holds open: node closes one more as it is accepted,
 * before any byte is read (`server.maxConnections`, the 'drop' event). Every refusal is counted;
 * the report (a log line saying what to do) comes at most once per REPORT_MS with how many were
 * refused since the last one, so a flood costs one line a minute, not one per connection. Used by
 * the aggregator's listeners (limits.max_connections) and the agent's status listener.
 */
import type { Server, Socket } from 'node:net';

/** How often, at most, a server reports the connections it refused at its cap. */
export const REPORT_MS = 60_000;

/** What a cap does with the connections it refuses. */
export interface Refusals<From> {
  /** each refused connection */
  count(): void;
  /** at most once per REPORT_MS: connections refused since the last report, and the last one's address */
  report(refused: number, lastFrom: From): void;
}

/** One refusal: counted at once, reported with those since the last report at most once per REPORT_MS. */
function refuser<From>(o: Refusals<From>): (from: From) => void {
  let refused = 0;
  let reportedAt = -Infinity;
  return (from) => {
    o.count();
    refused++;
    const now = performance.now();
    if (now - reportedAt < REPORT_MS) return;
    reportedAt = now;
    o.report(refused, from);
    refused = 0;
  };
}

export function capConnections(server: Server, max: number, o: Refusals<string | undefined>): void {
  server.maxConnections = max;
  const refuse = refuser(o);
  server.on('drop', (d?: { remoteAddress?: string }) => refuse(d?.remoteAddress));
}

/**
 * What one client is, for a per-address cap: an IPv4 address (also when it arrives IPv4-mapped on
 * a dual-stack socket, `::ffff:a.b.c.d`), or an IPv6 address's /64, the least a host is usually
 * given, so one host cannot step around the cap by taking new addresses in its own subnet.
 * Undefined when the socket has no address (closed before it was seen).
 */
export function clientKey(remote: string | undefined): string | undefined {
  if (!remote) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote);
  if (mapped) return mapped[1];
  if (!remote.includes(':')) return remote;
  const groups = ipv6Groups(remote.replace(/%.*$/, ''));
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : remote;
}

/** The eight 16-bit groups of an IPv6 address as short hex, or undefined when it does not parse. */
function ipv6Groups(addr: string): string[] | undefined {
  const halves = addr.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string): string[] | undefined => {
    if (s === '') return [];
    const out: string[] = [];
    const fields = s.split(':');
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (i === fields.length - 1 && f.includes('.')) {
        const q = f.split('.').map(Number);
        if (q.length !== 4 || q.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return undefined;
        out.push(((q[0]! << 8) | q[1]!).toString(16), ((q[2]! << 8) | q[3]!).toString(16));
      } else if (/^[0-9a-f]{1,4}$/i.test(f)) out.push(parseInt(f, 16).toString(16));
      else return undefined;
    }
    return out;
  };
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  return [...head, ...Array<string>(fill).fill('0'), ...tail];
}

/**
 * A cap on the connections one client (clientKey) holds open on `server`: one more from the same
 * client is closed as it is accepted, before a byte is read, so a single host, with a token or
 * without, cannot hold every slot of the server's own cap (capConnections) and lock the rest of
 * the fleet out. Counted and reported like capConnections (a report a REPORT_MS at most).
 * Runs before the server's own connection handler (prependListener).
 */
export function capPerClient(server: Server, max: number, o: Refusals<string>): { open(): ReadonlyMap<string, number> } {
  const open = new Map<string, number>();
  const refuse = refuser(o);
  server.prependListener('connection', (sock: Socket) => {
    const key = clientKey(sock.remoteAddress);
    if (key === undefined) return;
    const n = open.get(key) ?? 0;
    if (n >= max) {
      sock.destroy();
      refuse(key);
      return;
    }
    open.set(key, n + 1);
    sock.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
  return { open: () => open };
}
