/** Listen addresses `host:port`, IPv6 as `[::1]:9400`. Port 0 asks the OS for a free port. */

import { isIP } from 'node:net';

export interface ListenAddress {
  /** without brackets: "127.0.0.1", "::1", "localhost" */
  host: string;
  port: number;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function parseListen(text: string): { ok: true; value: ListenAddress } | { ok: false; message: string } {
  const fail = (why: string) => ({ ok: false as const, message: `invalid listen address "${text}": ${why} (examples: 127.0.0.1:9400, 0.0.0.0:9400, [::1]:9400)` });
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return fail('expected [IPv6]:port');
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (isIP(host) !== 6) return fail(`"${host}" is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail('expected host:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return fail('write IPv6 addresses in brackets');
    if (host === '') return fail('the host is missing (0.0.0.0 listens on every interface)');
    if (isIP(host) !== 4 && !HOSTNAME_RE.test(host)) return fail(`"${host}" is not an IPv4 address or host name`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return fail('the port must be 0-65535');
  return { ok: true, value: { host, port: Number(portText) } };
}

/** True when `listen` only accepts connections from this host (127.0.0.0/8, ::1, localhost). */
export function isLoopbackListen(listen: string): boolean {
  const parsed = parseListen(listen);
  if (!parsed.ok) return false;
  const host = parsed.value.host.toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

/** A URL a client on this host can use to reach `listen`: wildcard hosts become loopback. */
export function listenToUrl(listen: string, scheme: 'http' | 'https' = 'http'): string {
  const parsed = parseListen(listen);
  if (!parsed.ok) return `${scheme}://${listen}`;
  let host = parsed.value.host;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `${scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${parsed.value.port}`;
}
