/**
 * Issue 12 acceptance, backlog guard: an agent reconnecting with an hour-old backlog of ERROR
 * lines opens no incident for the stale part.
 *
 * Record time is the agent's read time (each batch carries it; the aggregator stores it), so an
 * hour-old backlog is made the way one happens: the lines were read an hour before they reach the
 * aggregator. The agent's first run has its clock an hour behind (libfaketime, FAKETIME=-1h; only
 * the wall clock is shifted) while the aggregator is down: 120 ERROR lines are read and buffered
 * with record times an hour old. The agent is stopped and started again with the real clock, still
 * with the aggregator down, and reads 5 fresh ERROR lines (under the threshold). Then the
 * aggregator starts and the agent delivers the whole backlog in file order.
 *
 * The rule is the CONTRACT's ErrorBurst (more than 10 in 1m) with the default max_age (5m), paging
 * the strict fake PagerDuty, so "no incident" is exact. Checks: the stored records really carry
 * hour-old and fresh times (the premise); after delivery `logship alerts` lists the host and it is
 * not firing, and no event reaches PagerDuty; then 11 more fresh ERROR lines open exactly one
 * incident, so the rule was live for that host and topic all along, and its custom_details carry
 * offsets of the matched lines.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePagerDuty } from '../fakes/pagerduty.js';
import { alertState, lastAlerts, logLines, writeLines } from '../helpers/alerts.js';
import { agentStatus, killAll, makeStack, runLogship, spawnLogship, stop, tempDir, waitFor, waitSettled, type Proc, type Stack } from '../helpers/procs.js';

const HOST = 'backlog-host';
const HOUR = 3_600_000;
const STALE = 120;
const ROUTING_KEY = '0123456789abcdef0123456789abcdef';

/** libfaketime's multi-threaded preload library (Debian's faketime package), or a clear error. */
function libfaketime(): string {
  for (const d of readdirSync('/usr/lib').filter((x) => x.endsWith('-linux-gnu'))) {
    const p = join('/usr/lib', d, 'faketime', 'libfaketimeMT.so.1');
    if (existsSync(p)) return p;
  }
  throw new Error('libfaketime not found under /usr/lib/*-linux-gnu/faketime: the backlog-guard test runs an agent with its clock an hour behind; run deploy/test-deps.sh (it installs faketime)');
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let pd: FakePagerDuty;
let stack: Stack;
let agg: Proc | undefined;
let logFile: string;

const outputs = () => `\n--- logship alerts ---\n${lastAlerts().slice(0, 4000)}\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- pagerduty ---\n${pd?.describe()}`;

async function startAgent(env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const p = spawnLogship(['agent', '--config', stack.agentConfig], env);
  await waitFor(() => `agent status listener\n${p.output()}`, async () => (await fetch(`http://127.0.0.1:${stack.statusPort}/healthz`)).status > 0, 30_000);
  return p;
}

/** The agent has read the whole file (its position is at the end). */
async function readAll(agent: Proc): Promise<void> {
  await waitFor(() => `the agent to read ${logFile} to its end\n${agent.output()}`, async () => {
    const f = (await agentStatus(stack.statusPort)).files.find((x) => x.path === logFile);
    return f !== undefined && f.size > 0 && f.offset === f.size;
  }, 30_000, 100);
}

beforeAll(async () => {
  tmp = await tempDir('logship-alerts-backlog-');
  pd = await FakePagerDuty.start();
  const keyFile = join(tmp.dir, 'pd.key');
  await writeFile(keyFile, ROUTING_KEY + '\n', { mode: 0o600 });
  await mkdir(join(tmp.dir, 'logs'));
  logFile = join(tmp.dir, 'logs', 'app.log');
  await writeFile(logFile, '');
  stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(tmp.dir, 'logs', '*.log')], start_at: 'beginning' }], {
    agent: { id: HOST },
    aggregator: {
      sinks: [{ name: 'pd', type: 'pagerduty', routing_key_file: keyFile, url: pd.enqueueUrl }],
      alerts: [
        {
          name: 'ErrorBurst',
          topic: 'app',
          match: 'ERROR|FATAL',
          threshold: 10,
          window: '1m',
          labels: { severity: 'critical' },
          annotations: { summary: '{{host}}: {{count}} errors in 1m' },
          sinks: ['pd'],
        },
      ],
    },
  });
});

afterAll(async () => {
  await killAll();
  await pd?.close();
  await tmp?.cleanup();
});

describe('backlog guard', () => {
  it('an agent reconnecting with an hour-old backlog of ERROR lines opens no incident for it; fresh errors after it still page once', async () => {
    // 1. an hour ago, by the agent's clock: 120 ERROR lines read and buffered, the aggregator down
    const behind = await startAgent({ LD_PRELOAD: libfaketime(), FAKETIME: '-1h', FAKETIME_DONT_FAKE_MONOTONIC: '1' });
    await writeLines(logFile, logLines('ERROR', STALE, 'stale failure'));
    await readAll(behind);
    expect((await agentStatus(stack.statusPort)).buffer.unacked_batches).toBeGreaterThan(0);
    expect(await stop(behind)).toBe(0);

    // 2. the real clock, the aggregator still down: 5 fresh ERROR lines (under the threshold)
    const agent = await startAgent();
    await writeLines(logFile, logLines('ERROR', 5, 'fresh failure'));
    await readAll(agent);

    // 3. the aggregator comes up and the agent delivers the backlog
    agg = await stack.startAggregator();
    await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: STALE + 5, statusPort: stack.statusPort, detail: outputs });
    const read = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--from-beginning', '--format', 'json']);
    expect(read.code).toBe(0);
    const records = read.stdout.trim().split('\n').map((l) => JSON.parse(l) as { timestamp: string; message: string });
    expect(records).toHaveLength(STALE + 5);
    const age = (r: { timestamp: string }) => Date.now() - Date.parse(r.timestamp);
    const stale = records.filter((r) => r.message.includes('stale failure'));
    expect(stale).toHaveLength(STALE);
    for (const r of stale) expect(age(r)).toBeGreaterThan(HOUR - 5 * 60_000); // the premise: an hour old, well past max_age
    for (const r of records.filter((x) => x.message.includes('fresh failure'))) expect(age(r)).toBeLessThan(5 * 60_000);

    // 4. the engine has seen the host; nothing fires and nothing is paged for the stale part
    await waitFor(() => `logship alerts to list ErrorBurst for ${HOST}${outputs()}`, async () => (await alertState(stack.aggUrl, 'ErrorBurst', HOST)) !== undefined, 30_000, 500);
    // Time is what is tested here: a page for the backlog would be sent right after evaluation, so
    // watch for one over a few seconds (a notifier retrying with backoff would still show a request).
    const quietUntil = Date.now() + 5_000;
    while (Date.now() < quietUntil) {
      expect(await alertState(stack.aggUrl, 'ErrorBurst', HOST)).not.toBe('firing');
      expect(pd.requests()).toEqual([]);
      await new Promise((r) => setTimeout(r, 500));
    }

    // 5. eleven more fresh errors (a burst on their own, however long the steps above took on a
    //    loaded machine) -> exactly one incident
    const writtenAt = Date.now();
    await writeLines(logFile, logLines('ERROR', 11, 'fresh failure', 5));
    const incident = await pd.waitFor(`an incident for the fresh burst${outputs()}`, (p) => p.incidents()[0], 30_000);
    expect(incident.openedAt).toBeGreaterThanOrEqual(writtenAt);
    expect(incident.payload).toMatchObject({ source: HOST, severity: 'critical' });
    expect(await alertState(stack.aggUrl, 'ErrorBurst', HOST)).toBe('firing');
    expect(pd.incidents()).toHaveLength(1);

    // custom_details carries the matched lines' offsets: some are offsets of the burst's lines
    await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: STALE + 16, statusPort: stack.statusPort, detail: outputs });
    const after = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--from-beginning', '--format', 'json']);
    const burst = after.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; source_offset: number; message: string }).filter((r) => /fresh failure #(\d+)$/.exec(r.message) && Number(/#(\d+)$/.exec(r.message)![1]) >= 5);
    expect(burst).toHaveLength(11);
    const offsets = new Set(burst.flatMap((r) => [r.offset, r.source_offset]));
    const numbers: number[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'number') numbers.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(incident.payload.custom_details);
    expect(numbers.filter((n) => offsets.has(n)).length, JSON.stringify(incident.payload.custom_details)).toBeGreaterThan(0);
  });
});
