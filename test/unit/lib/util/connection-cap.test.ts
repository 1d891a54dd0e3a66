/**
 * The per-client connection cap (lib/util/connection-cap.ts): what counts as one client, and a
 * real listener on loopback closing the connections one address opens beyond its cap while
 * another address (127.0.0.2: all of 127/8 is loopback) is still served.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { capPerClient, clientKey } from '../../../../lib/util/connection-cap.js';

describe('clientKey', () => {
  it('takes an IPv4 address as it is, also IPv4-mapped', () => {
    expect(clientKey('10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('::FFFF:127.0.0.2')).toBe('127.0.0.2');
  });

  it('takes an IPv6 address by its /64, however it is written', () => {
    expect(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('1:2::3:4:5:6:7')).toBe('1:2:0:3::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    // two addresses of one /64 are one client; of two /64s, two
    expect(clientKey('2001:db8:1:2::a')).toBe(clientKey('2001:db8:1:2:ffff::b'));
    expect(clientKey('2001:db8:1:2::a')).not.toBe(clientKey('2001:db8:1:3::a'));
  });

  it('keeps what does not parse as its own key, and has none for no address', () => {
    expect(clientKey('1::2::3')).toBe('1::2::3');
    expect(clientKey('1:2:3:4:5:6:7:8:9')).toBe('1:2:3:4:5:6:7:8:9');
    expect(clientKey('1:2:3:4:5:6:7:8::')).toBe('1:2:3:4:5:6:7:8::');
    expect(clientKey(undefined)).toBeUndefined();
    expect(clientKey('')).toBeUndefined();
  });
});

describe('capPerClient on a real listener', () => {
  let server: Server | undefined;
  const clients: Socket[] = [];
  afterEach(async () => {
    clients.splice(0).forEach((s) => s.destroy());
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A connection from `from`; resolves with whether the server served it (answered "ok"). */
  function open(port: number, from: string): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect({ port, host: '127.0.0.1', localAddress: from });
      clients.push(s);
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(false));
      s.on('data', (d) => resolve(d.toString() === 'ok'));
    });
  }

  it('closes one more connection from an address at its cap, counts and reports it, and serves other addresses', async () => {
    let count = 0;
    const reports: Array<[number, string]> = [];
    server = createServer((s) => s.write('ok'));
    const cap = capPerClient(server, 3, { count: () => count++, report: (n, from) => reports.push([n, from]) });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;

    const first = await Promise.all([1, 2, 3].map(() => open(port, '127.0.0.2')));
    expect(first).toEqual([true, true, true]);
    const beyond = await Promise.all([1, 2, 3, 4, 5].map(() => open(port, '127.0.0.2')));
    expect(beyond).toEqual([false, false, false, false, false]);
    expect(count).toBe(5);
    // one report for the first refusal, the rest wait for REPORT_MS
    expect(reports).toEqual([[1, '127.0.0.2']]);
    // another address is served
    expect(await open(port, '127.0.0.3')).toBe(true);
    expect(Object.fromEntries(cap.open())).toEqual({ '127.0.0.2': 3, '127.0.0.3': 1 });

    // a slot freed is a slot taken again
    clients[0]!.destroy();
    const until = Date.now() + 5_000;
    while ((cap.open().get('127.0.0.2') ?? 0) > 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(cap.open().get('127.0.0.2')).toBe(2);
    expect(await open(port, '127.0.0.2')).toBe(true);
  });
});
