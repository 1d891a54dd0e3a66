/**
 * Issue 12 gap, a rule changed by SIGHUP while it fires, with a real Alertmanager (Debian's
 * prometheus-alertmanager 0.25, private instance) and the strict fake PagerDuty: an ErrorBurst
 * fed by a real agent fires in both; the rule's threshold is changed in the config file and the
 * aggregator gets SIGHUP; the alert is resolved in Alertmanager (gone from GET /api/v2/alerts:
 * the sink's resend_interval is 1m, so the firing lease would last 4 minutes; going away within
 * the test's bound is the explicit resolve) and PagerDuty gets `resolve` with the trigger's
 * dedup_key, closing the one incident. A second SIGHUP on the same config sends nothing more.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAlerts, startAlertmanager, stopAllAlertmanagers, type Alertmanager } from '../helpers/alertmanager.js';
import { FakePagerDuty } from '../fakes/pagerduty.js';
import { logLines, writeLines } from '../helpers/alerts.js';
import { killAll, makeStack, tempDir, waitFor, writeYaml, type Proc, type Stack } from '../helpers/procs.js';

const HOST = 'web-07';
let tmp: { dir: string; cleanup: () => Promise<void> };
let am: Alertmanager;
let pd: FakePagerDuty;
let stack: Stack;
let agg: Proc;
let logFile: string;
let extra: { sinks: unknown[]; alerts: Array<Record<string, unknown>> };

const burst = () => listAlerts(am.url, { filter: ['alertname="ErrorBurst"'] });
const outputs = () => `\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- alertmanager ---\n${am?.output().slice(-2000)}\n--- pagerduty ---\n${pd?.describe()}`;
const rewrite = (threshold: number) =>
  writeYaml(stack.aggConfig, { listen: `127.0.0.1:${stack.aggPort}`, data_dir: join(tmp.dir, 'agg-data'), topics: { default: { partitions: 4 } }, ...extra, alerts: [{ ...extra.alerts[0], threshold }] });

beforeAll(async () => {
  tmp = await tempDir('logship-alerts-reload-');
  am = await startAlertmanager();
  pd = await FakePagerDuty.start();
  await mkdir(join(tmp.dir, 'logs'));
  logFile = join(tmp.dir, 'logs', 'app.log');
  await writeFile(logFile, '');
  const keyFile = join(tmp.dir, 'pd.key');
  await writeFile(keyFile, 'c'.repeat(32) + '\n', { mode: 0o600 });
  extra = {
    sinks: [
      { name: 'am', type: 'alertmanager', urls: [am.url], resend_interval: '1m' },
      { name: 'pd', type: 'pagerduty', url: pd.enqueueUrl, routing_key_file: keyFile },
    ],
    alerts: [{ name: 'ErrorBurst', topic: 'app', match: 'ERROR', threshold: 2, window: '1m', labels: { severity: 'critical' }, annotations: { summary: '{{host}}: {{count}} errors' }, sinks: ['am', 'pd'] }],
  };
  stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [logFile], start_at: 'beginning' }], { agent: { id: HOST }, aggregator: extra });
  agg = await stack.startAggregator();
  await stack.startAgent();
});

afterAll(async () => {
  await killAll();
  await stopAllAlertmanagers();
  await pd?.close();
  await tmp?.cleanup();
});

describe('a rule changed by SIGHUP while firing', () => {
  it('is resolved in Alertmanager and PagerDuty (same dedup_key), once', { timeout: 120_000 }, async () => {
    await writeLines(logFile, logLines('ERROR', 3));
    const listed = await waitFor(() => `Alertmanager lists ErrorBurst${outputs()}`, async () => (await burst()).find((a) => a.labels.host === HOST), 30_000);
    expect(listed.labels).toMatchObject({ alertname: 'ErrorBurst', host: HOST, severity: 'critical' });
    const trigger = await pd.waitFor(`a trigger${outputs()}`, (p) => p.events().find((e) => e.event_action === 'trigger'));
    // both sinks' acceptance is saved before the reload (else the resolve would go to a sink never told)
    await waitFor(`acceptance saved${outputs()}`, async () => {
      const v = (await (await fetch(`${stack.aggUrl}/v1/alerts`)).json()) as { rules: Array<{ groups: Array<{ notifications: Record<string, { ok: boolean }> }> }> };
      const n = v.rules[0]?.groups[0]?.notifications ?? {};
      return n.am?.ok === true && n.pd?.ok === true;
    }, 30_000);

    await rewrite(100);
    agg.child.kill('SIGHUP');
    await waitFor(() => `Alertmanager no longer lists ErrorBurst (resolved)${outputs()}`, async () => (await burst()).length === 0, 40_000);
    const resolve = await pd.waitFor(`a resolve${outputs()}`, (p) => p.events().find((e) => e.event_action === 'resolve'), 40_000);
    expect(resolve.dedup_key).toBe(trigger.dedup_key);
    expect(pd.incidents().map((i) => [i.dedupKey, i.status])).toEqual([[trigger.dedup_key, 'resolved']]);
    expect(agg.output()).toContain('its rule was changed by the configuration');

    // the same config again: nothing more is sent about it
    const events = pd.events().length;
    agg.child.kill('SIGHUP');
    await waitFor(() => `second reload done${outputs()}`, () => agg.output().split('SIGHUP: reloading').length === 3, 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(pd.events().length).toBe(events);
    expect(await burst()).toEqual([]);
  });
});
