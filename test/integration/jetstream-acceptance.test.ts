/**
 * Issue 15's acceptance scenario: three nats-server nodes (R3 streams), two
 * aggregators on JetStream, one agent with both in `urls`, 500,000 lines in
 * two files. While the lines flow: (a) one NATS node is SIGKILLed and
 * restarted, (b) the aggregator the agent talks to is SIGKILLed (the agent
 * fails over to the other) and restarted, (c) the agent is SIGKILLed twice
 * and restarted. At the end every line is stored exactly once, in file order
 * per file. Each fault waits for progress (records stored), never for time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { freePort, killAll, runLogship, spawnLogship, tempDir, topicCount, waitFor, waitSettled, writeYaml, type Proc } from '../helpers/procs.js';
import { restartJsAggregator, startJsAggregator, startNatsCluster, type JsAggregator, type NatsCluster } from '../helpers/nats-cluster.js';

const TOTAL = 500_000;
const FILES = 2;
const PER_FILE = TOTAL / FILES;
const line = (f: number, i: number) => `f${f} ${String(i).padStart(7, '0')} ${'a'.repeat(30)}`;

describe('JetStream acceptance: 500,000 lines through faults', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let cluster: NatsCluster;

  beforeAll(async () => {
    tmp = await tempDir('logship-js-accept-');
    cluster = await startNatsCluster({ size: 3 });
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await cluster?.stop();
    await tmp?.cleanup();
  });

  it('stored exactly once, in file order, through a node kill, an aggregator kill and two agent kills', { timeout: 900_000 }, async () => {
    let a: JsAggregator = await startJsAggregator(tmp.dir, 'agg-a', cluster.urls);
    let b: JsAggregator = await startJsAggregator(tmp.dir, 'agg-b', cluster.urls);
    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    const files = Array.from({ length: FILES }, (_, f) => join(logs, `app-${f}.log`));
    for (const f of files) await writeFile(f, '');
    const statusPort = await freePort();
    const agentConfig = await writeYaml(join(tmp.dir, 'agent.yaml'), {
      id: 'accept-host',
      data_dir: join(tmp.dir, 'agent-data'),
      aggregator: { urls: [a.url, b.url], max_backoff: '1s', request_timeout: '10s' },
      inputs: [{ type: 'file', topic: 'acc', include: [join(logs, '*.log')], start_at: 'beginning' }],
      batch: { max_bytes: '256KiB', max_wait: '200ms' },
      status: { listen: `127.0.0.1:${statusPort}` },
    });
    let agent: Proc = spawnLogship(['agent', '--config', agentConfig]);
    const outputs = () => `agent:\n${agent.output().slice(-2000)}\nA:\n${a.proc.output().slice(-2000)}\nB:\n${b.proc.output().slice(-2000)}`;

    // The writer: both files grow in steps until each holds PER_FILE lines.
    let written = 0;
    const writer = (async () => {
      const step = 5000;
      for (let i = 0; i < PER_FILE; i += step) {
        for (let f = 0; f < FILES; f++) {
          let s = '';
          for (let j = i; j < Math.min(PER_FILE, i + step); j++) s += line(f, j) + '\n';
          await appendFile(files[f]!, s);
        }
        written = Math.min(PER_FILE, i + step) * FILES;
        // paces the writer (about 50 steps) so the faults below happen while lines flow, not a wait for anything
        await new Promise((r) => setTimeout(r, 600));
      }
    })();
    const topicCountVia = (url: string) => waitFor('a record count', async () => (await topicCount(url, 'acc')) + 1, 60_000, 100).then((n) => n - 1);
    const stored = () => topicCount(b.url, 'acc');
    // Right after a fault an aggregator may answer 503 for a moment (reconnecting): ask until it answers.
    const storedNow = () => waitFor(() => `a record count\n${outputs()}`, async () => (await stored()) + 1, 60_000, 100).then((n) => n - 1);
    const reach = (n: number, what: string) => waitFor(() => `${what}: ${n} records stored (written ${written})\n${outputs()}`, async () => (await stored()) >= n, 300_000, 250);
    const log: string[] = [];
    // Each fault must come while the files are still growing (the test says "while the lines flow").
    const whileFlowing = (what: string) => {
      expect(written, `${what} came after the writer finished`).toBeLessThan(TOTAL);
      log.push(`${what} at ${written} written`);
    };

    // (a) one NATS node SIGKILLed, then restarted.
    await reach(50_000, 'before the node kill');
    await cluster.kill(1);
    whileFlowing('node n2 SIGKILL');
    const atNodeKill = await storedNow();
    await reach(atNodeKill + 40_000, 'progress with one node down');
    await cluster.restart(1);
    await cluster.waitReady(60_000);
    log.push(`node n2 killed at ${atNodeKill} stored, restarted`);

    // (b) the aggregator the agent talks to SIGKILLed: the agent fails over to the other. The agent's
    // failover is sticky (it keeps the URL that worked), so find which one it sends to: the one whose
    // appended-batches counter moves.
    await reach(150_000, 'before the aggregator kill');
    const appended = async (x: JsAggregator) => Number(/^logship_aggregator_appended_batches_total\{topic="acc"\} (\d+)/m.exec(await (await fetch(`${x.url}/metrics`)).text())?.[1] ?? 0);
    const base = [await appended(a), await appended(b)];
    const talking = await waitFor(() => `the agent to send to an aggregator\n${outputs()}`, async () => {
      const now = [await appended(a), await appended(b)];
      return now[0]! > base[0]! ? 'A' : now[1]! > base[1]! ? 'B' : undefined;
    }, 60_000, 100);
    const victim = talking === 'A' ? a : b;
    victim.proc.child.kill('SIGKILL');
    await victim.proc.exited;
    whileFlowing(`aggregator ${talking} (the agent's) SIGKILL`);
    const survivor = talking === 'A' ? b : a;
    const atAggKill = await topicCountVia(survivor.url);
    await waitFor(() => `progress through the other aggregator\n${outputs()}`, async () => (await topicCountVia(survivor.url)) >= atAggKill + 40_000, 300_000, 250);
    if (talking === 'A') a = await restartJsAggregator(a);
    else b = await restartJsAggregator(b);
    log.push(`aggregator ${talking} killed at ${atAggKill} stored, restarted`);

    // (c) the agent SIGKILLed twice, restarted each time.
    for (const at of [250_000, 350_000]) {
      await reach(at, 'before an agent kill');
      agent.child.kill('SIGKILL');
      await agent.exited;
      whileFlowing('agent SIGKILL');
      log.push(`agent killed at ${await storedNow()} stored`);
      agent = spawnLogship(['agent', '--config', agentConfig]);
    }
    await writer;
    const settled = await waitSettled({ aggUrl: b.url, topic: 'acc', atLeast: TOTAL, statusPort, timeoutMs: 400_000, detail: outputs });
    console.log(`${log.join('; ')}; settled at ${settled} (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
    expect(settled).toBe(TOTAL);

    // Read everything back through A (restarted): every line once, in file order per file.
    const r = await runLogship(['read', '--url', a.url, '--topic', 'acc', '--format', 'json'], {}, 300_000);
    expect(r.code, r.stderr).toBe(0);
    const byFile: string[][] = Array.from({ length: FILES }, () => []);
    for (const l of r.stdout.split('\n')) {
      if (!l) continue;
      const rec = JSON.parse(l) as { source: string; message: string };
      byFile[files.indexOf(rec.source)]!.push(rec.message);
    }
    for (let f = 0; f < FILES; f++) {
      expect(byFile[f]!.length, `file ${f}`).toBe(PER_FILE);
      const bad = byFile[f]!.findIndex((m, i) => m !== line(f, i));
      expect(bad, `file ${f}: first line out of order or repeated at index ${bad}: ${byFile[f]![bad]}`).toBe(-1);
    }
  });
});
