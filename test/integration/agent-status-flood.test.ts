/**
 * A flood of connections to a real agent's status listener: it holds 64 open and closes the rest
 * as they are accepted (counted, one warning), shipping goes on meanwhile (every line written
 * during the flood is stored once), and the listener answers again once the flood ends.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';
import { floodConnections } from '../helpers/flood.js';
import { STATUS_MAX_CONNECTIONS } from '../../agent/status/server.js';

afterAll(killAll);

const FLOOD = 300;

describe('agent status listener under a connection flood', () => {
  it(`holds ${STATUS_MAX_CONNECTIONS} connections, closes the rest at accept, counts them, and shipping goes on`, { timeout: 120_000 }, async () => {
    const t = await tempDir();
    let flood: ReturnType<typeof floodConnections> | undefined;
    try {
      const log = join(t.dir, 'app.log');
      await writeFile(log, '');
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [log], start_at: 'beginning' }]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();

      const f = (flood = floodConnections(stack.statusPort, FLOOD));
      await waitFor(() => `status connections closed by the agent: ${f.closed()} of ${FLOOD}`, () => f.closed() >= FLOOD - STATUS_MAX_CONNECTIONS, 30_000, 50);

      // Shipping is not affected: lines written during the flood are all stored, once.
      const lines = Array.from({ length: 2_000 }, (_, i) => `flood line ${i}`);
      await appendFile(log, lines.join('\n') + '\n');
      await waitFor(() => 'the lines written during the flood', async () => (await topicCount(stack.aggUrl, 'app')) >= lines.length, 60_000, 200);

      f.destroy();
      const metrics = await waitFor(
        () => 'the status listener after the flood',
        async () => {
          const r = await fetch(`http://127.0.0.1:${stack.statusPort}/metrics`).catch(() => undefined);
          return r?.ok ? r.text() : undefined;
        },
        30_000,
        200,
      );
      const refused = Number(/^logship_agent_status_connections_refused_total (\d+)/m.exec(metrics)?.[1]);
      expect(refused).toBeGreaterThanOrEqual(FLOOD - STATUS_MAX_CONNECTIONS);
      const warnings = agent.output().split('\n').filter((l) => l.includes('refused a connection to the status listener'));
      expect(warnings).toHaveLength(1);
      expect(await topicCount(stack.aggUrl, 'app')).toBe(lines.length);
      await stop(agent);
      await stop(agg);
    } finally {
      flood?.destroy();
      await t.cleanup();
    }
  });
});
