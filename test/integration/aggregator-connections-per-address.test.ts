/**
 * limits.max_connections_per_address against a real aggregator process: one host (127.0.0.2; all
 * of 127/8 is loopback) opens far more connections than its share; those beyond the cap are closed
 * as they are accepted, counted, and reported in one warning that says what to do, while an agent
 * on another address (127.0.0.1) connects and stores as usual. When the host lets go, it is
 * served again. With ingest processes each process holds its own share.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { join } from 'node:path';
import { floodConnections } from '../helpers/flood.js';
import { batchesBody, freePort, killAll, plainBatch, postBatches, spawnLogship, stop, tempDir, waitFor, writeYaml } from '../helpers/procs.js';

afterAll(killAll);

const TOKEN = 'ingest-token-0123456789abcdef';
const PER_ADDRESS = 4;
const FLOOD = 60;
const HOST = '127.0.0.2';

/** GET `path` from `from`; the status, or 0 when the connection was closed without an answer. */
function getFrom(port: number, path: string, from: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress: from, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(10_000, () => req.destroy());
    req.end();
  });
}

describe('limits.max_connections_per_address', () => {
  it.each([{ processes: 0 }, { processes: 2 }])('closes what one address opens beyond its share, counts and reports it, and serves the others (ingest.processes $processes)', async ({ processes }) => {
    const share = PER_ADDRESS * Math.max(1, processes);
    const tmp = await tempDir('logship-per-address-');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const cfg = await writeYaml(join(tmp.dir, 'agg.yaml'), {
      listen: `127.0.0.1:${port}`,
      data_dir: join(tmp.dir, 'data'),
      auth: { tokens: [{ name: 'agents', token: TOKEN, scopes: ['ingest', 'read'] }] },
      topics: { default: { partitions: 1 } },
      limits: { max_connections_per_address: PER_ADDRESS },
      ingest: { processes },
    });
    const agg = spawnLogship(['aggregator', '--config', cfg]);
    let flood: ReturnType<typeof floodConnections> | undefined;
    try {
      await waitFor(() => `aggregator ready\n${agg.output().slice(-2000)}`, async () => (await fetch(`${url}/readyz`)).ok, 30_000, 100);

      flood = floodConnections(port, FLOOD, HOST);
      const closed = flood.closed;
      await waitFor(() => `${FLOOD - share} of ${FLOOD} connections from ${HOST} closed (${closed()} so far)`, async () => closed() >= FLOOD - share, 20_000, 50);
      // and no more than that: the share stays open
      await new Promise((r) => setTimeout(r, 300));
      expect(closed()).toBeLessThanOrEqual(FLOOD - PER_ADDRESS);
      // that host gets nothing more while it holds its share
      if (processes === 0) expect(await getFrom(port, '/healthz', HOST)).toBe(0);

      // An agent on another address stores as usual.
      for (let seq = 0; seq < 5; seq++) {
        const body = batchesBody({ producer: 'per-address/1', epoch: 1, host: 'h', batches: [plainBatch({ topic: 'app', source: '/var/log/app.log', seq, lines: [`line ${seq}`] })] });
        const r = await postBatches(url, body, TOKEN);
        expect(r.status, JSON.stringify(r.json)).toBe(200);
      }
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const refused = Number(/^logship_aggregator_connections_refused_per_address_total (\d+)/m.exec(metrics)?.[1]);
      expect(refused).toBeGreaterThanOrEqual(FLOOD - share);
      expect(Number(/^logship_aggregator_connections_refused_total (\d+)/m.exec(metrics)?.[1])).toBe(0);

      // One warning per process for the whole flood, naming the address and what to do.
      const warnings = agg
        .output()
        .split('\n')
        .filter((l) => l.includes('limits.max_connections_per_address') && l.includes('"level":40'));
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThanOrEqual(Math.max(1, processes));
      expect(warnings[0]).toContain(`"client":"${HOST}"`);
      expect(warnings[0]).toMatch(/raise or unset limits\.max_connections_per_address/);

      // The host lets go: it is served again.
      flood.destroy();
      await waitFor(() => `${HOST} served again`, async () => (await getFrom(port, '/healthz', HOST)) === 200, 20_000, 100);
      expect(agg.child.exitCode).toBeNull();
    } finally {
      flood?.destroy();
      await stop(agg);
      await tmp.cleanup();
    }
  }, 90_000);
});
