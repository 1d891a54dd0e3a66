/**
 * JetStream without quorum (issue 15): two of three nats-server nodes are
 * SIGKILLed while an agent ships a growing file through an aggregator on
 * JetStream. Ingest answers 503 within 5 s and readiness turns false; the
 * agent keeps its backlog in its buffer; once the nodes are back every line
 * is stored exactly once, in file order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentStatus, batchesBody, freePort, killAll, plainBatch, postBatches, runLogship, spawnLogship, tempDir, topicCount, waitFor, waitSettled, writeYaml } from '../helpers/procs.js';
import { startJsAggregator, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';

describe('JetStream quorum lost and back', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let cluster: NatsCluster;

  beforeAll(async () => {
    tmp = await tempDir('logship-js-quorum-');
    cluster = await startNatsCluster({ size: 3 });
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('quorum lost: 503 within 5 s, readiness false, the agent buffers; quorum back: every line once, in order', { timeout: 240_000 }, async () => {
    // Connected to the node that stays up: JetStream is reachable but has no quorum (the harder case;
    // a connection to a killed node simply drops).
    const agg = await startJsAggregator(tmp.dir, 'agg', [cluster.urls[2]!]);
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const file = join(logs, 'app.log');
    await writeFile(file, '');
    const statusPort = await freePort();
    const agentConfig = await writeYaml(join(tmp.dir, 'agent.yaml'), {
      id: 'q-host',
      data_dir: join(tmp.dir, 'agent-data'),
      aggregator: { urls: [agg.url], max_backoff: '1s' },
      inputs: [{ type: 'file', topic: 'q', include: [join(logs, '*.log')], start_at: 'beginning' }],
      batch: { max_bytes: '256KiB', max_wait: '100ms' },
      status: { listen: `127.0.0.1:${statusPort}` },
    });
    const agent = spawnLogship(['agent', '--config', agentConfig]);
    let seq = 0;
    const write = async (n: number) => {
      let s = '';
      for (let i = 0; i < n; i++) s += `line ${String(seq++).padStart(7, '0')} ${'q'.repeat(40)}\n`;
      await appendFile(file, s);
    };
    await write(2000);
    await waitFor(() => `lines flowing\n${agent.output().slice(-2000)}\n${agg.proc.output().slice(-2000)}`, async () => (await topicCount(agg.url, 'q')) > 0, 60_000);

    // Two of three nodes down: no quorum for the meta group or any R3 stream.
    const killedAt = Date.now();
    await cluster.kill(0);
    await cluster.kill(1);
    await waitFor(() => `readiness to turn false\n${agg.proc.output().slice(-3000)}`, async () => (await fetch(`${agg.url}/readyz`)).status === 503, 5000, 50);
    const notReadyMs = Date.now() - killedAt;
    const t0 = Date.now();
    const direct = await postBatches(agg.url, batchesBody({ producer: 'direct/1', epoch: 1, host: 'd', batches: [plainBatch({ topic: 'q-direct', source: '/d.log', seq: 0, lines: ['x'] })] }));
    const answerMs = Date.now() - t0;
    console.log(`quorum lost: readiness false after ${notReadyMs} ms, ingest answered ${direct.status} in ${answerMs} ms (load: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')})`);
    expect(direct.status).toBe(503);
    expect(notReadyMs).toBeLessThanOrEqual(5000);

    // The agent keeps what it reads in its buffer meanwhile.
    await write(3000);
    await waitFor('the agent to buffer unacknowledged batches', async () => (await agentStatus(statusPort)).buffer.unacked_batches > 0, 30_000, 200);

    await cluster.restart(0);
    await cluster.restart(1);
    await cluster.waitReady(60_000);
    await write(1000);
    await waitFor(() => `readiness back\n${agg.proc.output().slice(-3000)}`, async () => (await fetch(`${agg.url}/readyz`)).ok, 60_000, 200);
    const total = seq;
    await waitSettled({ aggUrl: agg.url, topic: 'q', atLeast: total, statusPort, timeoutMs: 120_000, detail: () => `${agent.output().slice(-2000)}\n${agg.proc.output().slice(-3000)}` });

    const r = await runLogship(['read', '--url', agg.url, '--topic', 'q', '--format', 'raw'], {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(total);
    // One file, so one partition: the order is the file's order.
    expect(lines).toEqual(Array.from({ length: total }, (_, i) => `line ${String(i).padStart(7, '0')} ${'q'.repeat(40)}`));
  });
});
