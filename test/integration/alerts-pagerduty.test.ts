/**
 * Issue 12 acceptance, against the strict fake PagerDuty Events API v2 (test/fakes/pagerduty.ts):
 * a HostSilent rule (absent_for) with two real agents, web-01 and web-02, each sending host
 * metrics every second.
 *
 *  - web-01 SIGKILLed: one incident opens within absent_for + 15 s, payload.source = web-01,
 *    severity from the rule's label; web-02 (still sending) opens none; web-01 restarted: the
 *    incident is resolved by an event with the same dedup_key;
 *  - the fake then answers the next two triggers 429; web-02 SIGKILLed: the notifier retries
 *    and web-02 gets exactly one incident (same dedup_key on every attempt), resolved when it
 *    returns;
 *  - every event passed the fake's validation (32-char routing key, enums, payload), the two
 *    hosts' dedup_keys differ (derived from rule and host), and the routing key is in no log line.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePagerDuty, type PagerDutyEvent } from '../fakes/pagerduty.js';
import { alertState, lastAlerts } from '../helpers/alerts.js';
import { freePort, killAll, makeStack, runLogship, spawnLogship, tempDir, waitFor, writeYaml, type Proc, type Stack } from '../helpers/procs.js';

const ABSENT_S = 3;
const ROUTING_KEY = 'R0UT1NGK3Y0123456789abcdefABCDEF';

let tmp: { dir: string; cleanup: () => Promise<void> };
let pd: FakePagerDuty;
let stack: Stack;
let agg: Proc;
const agents = new Map<string, { config: string; statusPort: number; proc?: Proc }>();

const outputs = () => `\n--- logship alerts ---\n${lastAlerts().slice(0, 4000)}\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- pagerduty ---\n${pd?.describe()}`;
const incidentsOf = (host: string) => pd.incidents().filter((i) => i.payload.source === host);

async function startAgent(host: string): Promise<Proc> {
  const a = agents.get(host)!;
  const p = spawnLogship(['agent', '--config', a.config]);
  await waitFor(() => `agent ${host} status listener\n${p.output()}`, async () => (await fetch(`http://127.0.0.1:${a.statusPort}/healthz`)).status > 0, 30_000);
  a.proc = p;
  return p;
}

async function sigkill(host: string): Promise<number> {
  const p = agents.get(host)!.proc!;
  p.child.kill('SIGKILL');
  await p.exited;
  return Date.now();
}

beforeAll(async () => {
  expect(ROUTING_KEY).toHaveLength(32);
  tmp = await tempDir('logship-alerts-pd-');
  pd = await FakePagerDuty.start();
  const keyFile = join(tmp.dir, 'pd.key');
  await writeFile(keyFile, ROUTING_KEY + '\n', { mode: 0o600 });
  const metrics = [{ type: 'host_metrics', topic: 'metrics', interval: '1s' }];
  stack = await makeStack(tmp.dir, metrics, {
    agent: { id: 'web-01' },
    aggregator: {
      sinks: [{ name: 'pd', type: 'pagerduty', routing_key_file: keyFile, url: pd.enqueueUrl }],
      alerts: [{ name: 'HostSilent', absent_for: `${ABSENT_S}s`, labels: { severity: 'warning' }, annotations: { summary: '{{host}} is silent' }, sinks: ['pd'] }],
    },
  });
  agents.set('web-01', { config: stack.agentConfig, statusPort: stack.statusPort });
  const statusPort = await freePort();
  const config = await writeYaml(join(tmp.dir, 'agent-web-02.yaml'), {
    id: 'web-02',
    data_dir: join(tmp.dir, 'agent-data-web-02'),
    aggregator: { urls: [stack.aggUrl], max_backoff: '1s' },
    inputs: metrics,
    batch: { max_bytes: '1MiB', max_wait: '100ms' },
    status: { listen: `127.0.0.1:${statusPort}` },
  });
  agents.set('web-02', { config, statusPort });
  agg = await stack.startAggregator();
  await startAgent('web-01');
  await startAgent('web-02');
});

afterAll(async () => {
  await killAll();
  await pd?.close();
  await tmp?.cleanup();
});

function eventsFor(dedupKey: string): PagerDutyEvent[] {
  return pd.events().filter((e) => e.dedup_key === dedupKey);
}

describe('HostSilent to PagerDuty', () => {
  it('one incident when an agent is SIGKILLed, resolved with the same dedup_key when it returns', async () => {
    // both hosts seen: records from each are stored before one goes silent
    await waitFor(() => `metric records from web-01 and web-02${outputs()}`, async () => {
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'metrics', '--from-beginning', '--format', 'json'], {}, 30_000);
      const hosts = new Set(r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { host: string }).host));
      return hosts.has('web-01') && hosts.has('web-02');
    }, 30_000, 500);
    expect(pd.requests()).toEqual([]);

    const killedAt = await sigkill('web-01');
    const incident = await pd.waitFor(`a HostSilent incident for web-01 within absent_for + 15 s${outputs()}`, (p) => p.incidents().find((i) => i.payload.source === 'web-01'), (ABSENT_S + 15) * 1000);
    console.log(`HostSilent incident for web-01 opened ${incident.openedAt - killedAt} ms after the SIGKILL (absent_for ${ABSENT_S} s)`);
    expect(incident.openedAt - killedAt).toBeGreaterThanOrEqual(0);
    expect(incident.routingKey).toBe(ROUTING_KEY);
    expect(incident.payload).toMatchObject({ source: 'web-01', severity: 'warning', summary: 'web-01 is silent' });
    expect(incident.dedupKey).toMatch(/\S/);
    expect(incidentsOf('web-02')).toEqual([]);
    expect(await alertState(stack.aggUrl, 'HostSilent', 'web-01')).toBe('firing');
    expect(await alertState(stack.aggUrl, 'HostSilent', 'web-02')).not.toBe('firing');

    await startAgent('web-01');
    await pd.waitFor(`the web-01 incident resolved once it is back${outputs()}`, () => incident.status === 'resolved', 30_000);
    const resolves = eventsFor(incident.dedupKey).filter((e) => e.event_action === 'resolve');
    expect(resolves.length).toBeGreaterThanOrEqual(1);
    expect(resolves.every((e) => e.routing_key === ROUTING_KEY)).toBe(true);
    expect(incidentsOf('web-01')).toHaveLength(1);
    expect(incidentsOf('web-02')).toEqual([]);
  });

  it('429 answers to the trigger are retried with the same dedup_key and open no second incident', async () => {
    pd.inject(429, 2, (b) => (b as { event_action?: string }).event_action === 'trigger');
    const before = pd.requests().length;
    await sigkill('web-02');
    const incident = await pd.waitFor(`a HostSilent incident for web-02 after two 429s${outputs()}`, (p) => p.incidents().find((i) => i.payload.source === 'web-02'), 120_000);
    const attempts = pd.requests().slice(before).filter((r) => (r.body as { event_action?: string }).event_action === 'trigger');
    expect(attempts.filter((r) => r.injected).map((r) => r.status)).toEqual([429, 429]);
    expect(pd.pendingInjections()).toBe(0);
    // every attempt, refused or accepted, carried the incident's dedup_key
    expect(new Set(attempts.map((r) => (r.body as { dedup_key?: string }).dedup_key))).toEqual(new Set([incident.dedupKey]));

    await startAgent('web-02');
    await pd.waitFor(`the web-02 incident resolved once it is back${outputs()}`, () => incident.status === 'resolved', 30_000);
    expect(incidentsOf('web-02')).toHaveLength(1);

    // over the whole run: one incident per outage, dedup_key per host, all events valid, key never logged
    const all = pd.incidents();
    expect(all.map((i) => [i.payload.source, i.status])).toEqual([
      ['web-01', 'resolved'],
      ['web-02', 'resolved'],
    ]);
    expect(all[0]!.dedupKey).not.toBe(all[1]!.dedupKey);
    expect(pd.requests().filter((r) => !r.injected && r.status !== 202)).toEqual([]);
    expect(agg.output()).not.toContain(ROUTING_KEY);
  });
});
