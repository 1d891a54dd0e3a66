/** The agent's loopback status listener: GET /status (JSON), /metrics, /healthz; GET and HEAD only (405 otherwise). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen } from '../../lib/config/listen.js';
import { httpDate } from '../../lib/util/utc-time.js';
import { capConnections } from '../../lib/util/connection-cap.js';

export interface StatusSource {
  status(): Promise<unknown>;
  metrics(): Promise<{ contentType: string; text: string }>;
  health(): { ok: boolean; state?: string; problems: string[] };
}

/**
 * Connections the status listener holds open at once; one more is closed as it is accepted. A
 * scraper, `logship status` and a health check need a few: the cap keeps a local flood of
 * connections from taking the descriptors the agent's inputs and buffer need.
 */
export const STATUS_MAX_CONNECTIONS = 64;

export async function startStatusServer(
  listen: string,
  src: StatusSource,
  refusals: Parameters<typeof capConnections>[2] = { count: () => undefined, report: () => undefined },
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // The Date header is written here: node's own (Date#toUTCString) would keep ~0.95 MiB of ICU resident (lib/util/utc-time.ts).
    res.sendDate = false;
    const reply = (status: number, body: string, type = 'application/json', extra: Record<string, string> = {}) => {
      res.writeHead(status, { date: httpDate(Date.now()), 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
      res.end(body); // Node sends no body for HEAD
    };
    // Read-only: anything but GET and HEAD is refused before any work is done.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return reply(405, JSON.stringify({ error: { type: 'method_not_allowed', reason: `method ${req.method} not allowed; use GET or HEAD` } }), 'application/json', { allow: 'GET, HEAD' });
    }
    (async () => {
      if (path === '/status') return reply(200, JSON.stringify(await src.status(), null, 2));
      if (path === '/metrics') {
        const m = await src.metrics();
        return reply(200, m.text, m.contentType);
      }
      if (path === '/healthz') {
        const h = src.health();
        return reply(h.ok ? 200 : 503, JSON.stringify({ status: h.ok ? 'ok' : 'degraded', state: h.state, problems: h.problems }));
      }
      reply(404, JSON.stringify({ error: { type: 'not_found', reason: `no route ${path}; try /status, /metrics, /healthz` } }));
    })().catch((err: Error) => reply(500, JSON.stringify({ error: { type: 'internal', reason: err.message } })));
  });
  capConnections(server, STATUS_MAX_CONNECTIONS, refusals);
  const parsed = parseListen(listen);
  if (!parsed.ok) throw new Error(parsed.message);
  const { host, port } = parsed.value;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, address: server.address() as AddressInfo };
}
