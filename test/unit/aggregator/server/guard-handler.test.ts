/**
 * The last line of defence of every aggregator listener (guardHandler, used by the single-process
 * server in aggregator/index.ts and by each ingest process in aggregator/ingest/worker-main.ts):
 * a handler that fails is answered 503 `internal` with the same body, the connection closed, and
 * the process goes on serving. Real HTTP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HANDLER_FAILED_BODY, HANDLER_FAILED_STATUS, guardHandler } from '../../../../aggregator/server/http-util.js';

describe('guardHandler', () => {
  let server: Server;
  let url: string;
  const logged: Array<{ obj: object; msg: string }> = [];

  beforeAll(async () => {
    const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      if (req.url === '/throws') throw new Error('sync-looking failure');
      if (req.url === '/rejects') {
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('failure after a wait');
      }
      if (req.url === '/begun') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        throw new Error('failure after the answer began');
      }
      res.end('fine');
    };
    // A route that throws before its first await, like an async function; and one that is not async at all.
    const plain = (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      if (req.url === '/plain-throws') throw new Error('thrown synchronously');
      return route(req, res);
    };
    server = createServer(guardHandler(plain, { error: (obj, msg) => logged.push({ obj, msg }) }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('answers a failed handler 503 internal with one body, closes that connection, logs it, and keeps serving', async () => {
    for (const path of ['/throws', '/rejects', '/plain-throws']) {
      const r = await fetch(url + path);
      expect(r.status, path).toBe(HANDLER_FAILED_STATUS);
      expect(r.headers.get('connection'), path).toBe('close');
      expect(r.headers.get('content-type'), path).toBe('application/json');
      expect(await r.text(), path).toBe(HANDLER_FAILED_BODY);
    }
    expect(HANDLER_FAILED_STATUS).toBe(503);
    expect(JSON.parse(HANDLER_FAILED_BODY)).toEqual({ error: { type: 'internal', reason: 'internal error' } });
    expect(logged.map((l) => [l.msg, (l.obj as { url?: string }).url])).toEqual([
      ['request handler failed', '/throws'],
      ['request handler failed', '/rejects'],
      ['request handler failed', '/plain-throws'],
    ]);
    expect(await (await fetch(`${url}/ok`)).text()).toBe('fine');
  });

  it('cuts the connection when the answer had already begun', async () => {
    await expect(fetch(`${url}/begun`).then((r) => r.text())).rejects.toThrow();
    expect(await (await fetch(`${url}/ok`)).text()).toBe('fine');
  });
});
