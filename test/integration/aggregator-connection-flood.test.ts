/**
 * A flood of connections against a real aggregator process whose `ulimit -n` is small (400): with
 * `limits.max_connections: 40`, the connections beyond 40 are closed as they are accepted and
 * counted, an error line says what to do (once, not once per connection), and storage keeps the
 * descriptors it needs: an agent connected before the flood goes on storing batches that each roll
 * a segment (a new file every time) and that create a topic, every one acknowledged and read back.
 * Once the flood ends, new connections are taken again. Without the cap the same flood takes every
 * descriptor: accept stops at EMFILE, and so does opening the next segment.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'undici';
import { BATCHES_CONTENT_TYPE } from '../../lib/protocol/batches.js';
import { floodConnections } from '../helpers/flood.js';
import { CLI, batchesBody, freePort, killAll, plainBatch, stop, tempDir, tracked, waitFor, writeYaml, type Proc } from '../helpers/procs.js';

afterAll(killAll);

const TOKEN = 'ingest-token-0123456789abcdef';
const FD_LIMIT = 400;
const MAX_CONNECTIONS = 40;
const FLOOD = 500;

/** The aggregator under `ulimit -n FD_LIMIT` (sh sets soft and hard, so node cannot raise it). */
function aggregatorWithFdLimit(config: string): Proc {
  return tracked(
    spawn('/bin/sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$1" aggregator --config "$2"`, process.execPath, CLI, config], {
      env: { ...process.env, LOGSHIP_LOG_PRETTY: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** A request of one batch over `client`'s connection: `lines` lines of 100 bytes each. */
async function post(client: Client, topic: string, seq: number, lines: number): Promise<{ status: number; text: string }> {
  const body = batchesBody({
    producer: 'flood-test/1',
    epoch: 1,
    host: 'flood-host',
    batches: [plainBatch({ topic, source: '/var/log/app.log', seq, lines: Array.from({ length: lines }, (_, i) => `${topic} ${seq} ${i} `.padEnd(99, 'x')) })],
  });
  const res = await client.request({ path: '/v1/batches', method: 'POST', body, headers: { 'content-type': BATCHES_CONTENT_TYPE, authorization: `Bearer ${TOKEN}` } });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('a connection flood against a small descriptor budget', () => {
  // processes 2: each ingest process holds its own connections, up to its own cap.
  it.each([{ processes: 0 }, { processes: 2 }])('closes connections beyond limits.max_connections at accept, counts and logs them, and storage keeps its descriptors (ingest.processes $processes)', async ({ processes }) => {
    const cap = MAX_CONNECTIONS * Math.max(1, processes);
    const tmp = await tempDir('logship-flood-');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const cfg = await writeYaml(join(tmp.dir, 'agg.yaml'), {
      listen: `127.0.0.1:${port}`,
      data_dir: join(tmp.dir, 'data'),
      auth: { tokens: [{ name: 'agents', token: TOKEN, scopes: ['ingest', 'read'] }] },
      // 1 KiB segments: every batch below (~1.6 KiB) rolls to a new segment file.
      topics: { default: { partitions: 1, segment_bytes: '1KiB' } },
      limits: { max_connections: MAX_CONNECTIONS, max_topics: 20 },
      ingest: { processes },
    });
    const agg = aggregatorWithFdLimit(cfg);
    const client = new Client(url, { pipelining: 1, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 });
    let flood: ReturnType<typeof floodConnections> | undefined;
    try {
      await waitFor(
        // Ready, not only alive: with ingest processes /healthz answers before the writer takes batches.
        () => `aggregator ready\n${agg.output().slice(-2000)}`,
        async () => (await fetch(`${url}/readyz`)).ok,
        30_000,
        100,
      );
      // The agent's connection, before the flood.
      expect((await post(client, 'before', 0, 16)).status).toBe(200);

      flood = floodConnections(port, FLOOD);
      const closed = flood.closed;
      // All but the cap's worth (less the agent's own connection and /healthz's, if still open) are closed by the server.
      // Waited for at most 10 s, then storage is tried anyway: without the cap, that is what fails.
      const until = Date.now() + 10_000;
      while (closed() < FLOOD - cap && Date.now() < until) await new Promise((r) => setTimeout(r, 50));

      // Storage still opens files: 30 batches on the agent's connection, each rolling a segment, one a new topic.
      for (let seq = 1; seq <= 30; seq++) {
        const r = await post(client, seq === 15 ? 'fresh' : 'before', seq, 16);
        expect(r.status, r.text).toBe(200);
      }
      expect(closed(), 'flood connections closed by the server').toBeGreaterThanOrEqual(FLOOD - cap);
      const metrics = await (await client.request({ path: '/metrics', method: 'GET' })).body.text();
      const refused = Number(/^logship_aggregator_connections_refused_total (\d+)/m.exec(metrics)?.[1]);
      expect(refused).toBeGreaterThanOrEqual(FLOOD - cap);
      expect(metrics).toMatch(new RegExp(`^logship_aggregator_max_connections ${cap}$`, 'm'));

      // One error line for the whole flood (a minute at most), saying what to do.
      const lines = agg
        .output()
        .split('\n')
        .filter((l) => l.includes('limits.max_connections') && l.includes('"level":50'));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(Math.max(1, processes));
      expect(lines[0]).toMatch(/raise limits\.max_connections and LimitNOFILE/);
      expect(agg.output()).not.toMatch(/EMFILE/);

      // The flood ends: new connections are taken again, and everything acknowledged reads back.
      flood.destroy();
      await waitFor(
        () => 'a new connection after the flood',
        async () => (await fetch(`${url}/healthz`)).ok,
        30_000,
        200,
      );
      const topics = JSON.parse(await (await fetch(`${url}/v1/topics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()) as {
        topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }>;
      };
      const count = (name: string) => topics.topics.find((t) => t.name === name)?.partitions.reduce((a, p) => a + p.next_offset - p.first_offset, 0);
      expect(count('before')).toBe(30 * 16);
      expect(count('fresh')).toBe(16);
      expect(agg.child.exitCode).toBeNull();
    } finally {
      flood?.destroy();
      await client.close().catch(() => undefined);
      await stop(agg);
      await tmp.cleanup();
    }
  }, 120_000);
});
