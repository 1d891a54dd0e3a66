/**
 * The alert engine inside a real aggregator (temp dir, 127.0.0.1), records
 * appended straight to storage with chosen record times, notifications
 * caught by small HTTP receivers standing in for Alertmanager and a webhook:
 * a log-match rule fires once past its threshold, is resent, resolves when
 * the window empties; a restart while firing neither re-fires nor loses the
 * resolve; stale records open nothing (counted); a metric rule goes pending
 * -> firing -> resolved; GET /v1/alerts shows it all.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { request } from 'undici';
import { Aggregator } from '../../../../aggregator/index.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { FLAG_METRICS } from '../../../../lib/protocol/batches.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir, waitFor } from '../../../helpers/procs.js';
import { appendLines, receiver } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function appendMetrics(agg: Aggregator, host: string, samples: Array<{ name: string; labels: Record<string, string>; value: number }>, timestamp = Date.now()): Promise<void> {
  await agg.storage.withTopic('metrics', true, async (t) => {
    const payload = Buffer.from(JSON.stringify({ metrics: samples }) + "\n");
    await t!.partitions[0]!.appendPlain([{ meta: { flags: FLAG_METRICS, codec: 0, host, source: 'host_metrics', sourceOffset: 0, rawLength: payload.length }, payload, lines: 1, timestamp }]);
  });
}

function config(dir: string, amUrl: string, hookUrl: string, rules: string): string {
  return `listen: 127.0.0.1:0
data_dir: ${join(dir, 'data')}
topics:
  default: {partitions: 1}
sinks:
  - {name: am, type: alertmanager, urls: ["${amUrl}"], resend_interval: 1s}
  - {name: hook, type: webhook, url: "${hookUrl}/hook"}
alerts:
${rules}
`;
}

const errorBurst = `  - {name: ErrorBurst, topic: app, match: "ERROR|FATAL", threshold: 3, window: 3s,
     labels: {severity: critical}, annotations: {summary: "{{host}}: {{count}} errors"}, sinks: [am, hook]}`;

async function start(text: string): Promise<{ agg: Aggregator; url: string }> {
  const agg = new Aggregator({ config: parseAggregatorConfig(text, 'agg.yaml', {}), logger: silentLogger(), fsync: false });
  const addr = await agg.start();
  return { agg, url: `http://127.0.0.1:${addr.port}` };
}

describe('alert engine', () => {
  it('a log-match rule fires once past its threshold, is resent with a lease, resolves when the window empties; webhook gets version-4 payloads', async () => {
    const tmp = await tempDir('logship-alerts-');
    cleanups.push(tmp.cleanup);
    const am = await receiver(cleanups);
    const hook = await receiver(cleanups);
    const { agg } = await start(config(tmp.dir, am.url, hook.url, errorBurst));
    cleanups.push(() => agg.close());

    await appendLines(agg, 'app', 'web-01', ['INFO ok', 'ERROR one', 'ERROR two', 'ERROR three']);
    await appendLines(agg, 'app', 'web-02', ['ERROR other host']);
    // three matches: not more than the threshold
    await new Promise((r) => setTimeout(r, 1500)); // time itself is tested: nothing may be sent for 3 matches
    expect(am.got.filter((g) => g.body.length > 0)).toHaveLength(0);

    await appendLines(agg, 'app', 'web-01', ['FATAL four']);
    const fired = await waitFor('alert posted to Alertmanager', () => am.got.find((g) => g.body.some((a: any) => a.labels.alertname === 'ErrorBurst')), 20_000);
    expect(fired.path).toBe('/api/v2/alerts');
    const alert = fired.body[0];
    expect(alert.labels).toEqual({ alertname: 'ErrorBurst', host: 'web-01', severity: 'critical' });
    expect(alert.annotations.summary).toBe('web-01: 4 errors');
    expect(Date.parse(alert.endsAt) - Date.parse(alert.startsAt)).toBeGreaterThanOrEqual(3_000); // now + 4 x 1 s lease
    expect(alert.generatorURL).toMatch(/\/v1\/topics\/app\/partitions\/0\/records\?offset=\d+$/);

    // resent while firing
    await waitFor('a resend', () => am.got.filter((g) => g.body.some((a: any) => a.labels.alertname === 'ErrorBurst')).length >= 2, 20_000);

    // the webhook: Alertmanager's version-4 message
    const hf = await waitFor('webhook fire', () => hook.got.find((g) => g.body.status === 'firing'), 20_000);
    expect(hf.body).toMatchObject({ version: '4', status: 'firing', receiver: 'hook', truncatedAlerts: 0, groupLabels: { alertname: 'ErrorBurst', host: 'web-01' } });
    expect(hf.body.alerts[0].endsAt).toBe('0001-01-01T00:00:00Z');
    expect(hf.body.alerts[0].fingerprint).toMatch(/^[0-9a-f]{16}$/);

    // the window (3 s) empties: resolved with endsAt <= now
    const resolved = await waitFor(
      'resolve posted',
      () => am.got.find((g) => g.body.some((a: any) => a.labels.alertname === 'ErrorBurst' && Date.parse(a.endsAt) <= g.at)),
      20_000,
    );
    expect(resolved.body.find((a: any) => a.labels.alertname === 'ErrorBurst').labels).toEqual(alert.labels);
    const hr = await waitFor('webhook resolve', () => hook.got.find((g) => g.body.status === 'resolved'), 20_000);
    expect(hr.body.alerts[0].fingerprint).toBe(hf.body.alerts[0].fingerprint);
    expect(hook.got.filter((g) => g.body.status === 'firing')).toHaveLength(1); // one page

    const web01 = () => agg.alerts!.view().rules[0]!.groups.find((g) => g.group.host === 'web-01')!;
    expect(web01().state).toBe('resolved');
    // the receiver has the resolve; the sink's answer reaches the state a moment later
    await waitFor('resolve recorded as accepted', () => web01().notifications.hook?.status === 'resolved', 20_000);
    expect(web01().notifications.hook).toMatchObject({ status: 'resolved', ok: true });
    // web-02 never passed the threshold
    expect(agg.alerts!.view().rules[0]!.groups.find((g) => g.group.host === 'web-02')?.state).toBe('inactive');
  });

  it('after a restart while firing: no second page, and the resolve still arrives; records are not counted twice', async () => {
    const tmp = await tempDir('logship-alerts-');
    cleanups.push(tmp.cleanup);
    const am = await receiver(cleanups);
    const hook = await receiver(cleanups);
    const rules = `  - {name: ErrorBurst, topic: app, match: "ERROR", threshold: 3, window: 4s, sinks: [am, hook]}`;
    let { agg } = await start(config(tmp.dir, am.url, hook.url, rules));
    await appendLines(agg, 'app', 'web-01', ['ERROR 1', 'ERROR 2', 'ERROR 3', 'ERROR 4']);
    await waitFor('webhook fire', () => hook.got.find((g) => g.body.status === 'firing'), 20_000);
    await agg.close();
    const state = JSON.parse(await readFile(join(tmp.dir, 'data', 'alerts', 'state.json'), 'utf8'));
    expect(state.version).toBe(1);
    expect(state.offsets.app['0']).toBe(4);

    ({ agg } = await start(config(tmp.dir, am.url, hook.url, rules)));
    cleanups.push(() => agg.close());
    const g = agg.alerts!.view().rules[0]!.groups[0]!;
    expect(g.state).toBe('firing');
    expect(g.count).toBe(4); // the 4 records were not evaluated again
    const amAfter = am.got.length;
    // Alertmanager hears the firing alert again at once (same labels: same fingerprint)
    await waitFor('Alertmanager resend after restart', () => am.got.slice(amAfter).find((x) => x.body.some((a: any) => a.labels.host === 'web-01')), 20_000);
    await waitFor('webhook resolve after restart', () => hook.got.find((x) => x.body.status === 'resolved'), 20_000);
    expect(hook.got.filter((x) => x.body.status === 'firing')).toHaveLength(1);
  });

  it('stale records (older than max_age) open no incident, and are counted', async () => {
    const tmp = await tempDir('logship-alerts-');
    cleanups.push(tmp.cleanup);
    const am = await receiver(cleanups);
    const hook = await receiver(cleanups);
    const rules = `  - {name: ErrorBurst, topic: app, match: "ERROR", threshold: 2, window: 1m, max_age: 5m, sinks: [hook]}`;
    const { agg, url } = await start(config(tmp.dir, am.url, hook.url, rules));
    cleanups.push(() => agg.close());
    const scrape = async () => (await (await request(`${url}/metrics`)).body.text()) as string;
    // the agent was connected (the engine reads the topic), then sends an hour of buffered lines
    await appendLines(agg, 'app', 'web-01', ['INFO connected']);
    await waitFor('first record evaluated', async () => /logship_aggregator_alert_evaluations_total\{rule="ErrorBurst"\} 1\b/.test(await scrape()), 20_000);
    const hourAgo = Date.now() - 3_600_000;
    for (let i = 0; i < 5; i++) await appendLines(agg, 'app', 'web-01', ['ERROR old a', 'ERROR old b', 'ERROR old c'], hourAgo + i * 1000);
    await waitFor('stale suppression counted', async () => /logship_aggregator_alert_stale_suppressed_total\{rule="ErrorBurst"\} [1-9]/.test(await scrape()), 20_000);
    expect(hook.got).toHaveLength(0);
    expect(agg.alerts!.view().rules[0]!.groups[0]!.state).toBe('inactive');
    // fresh errors still fire
    await appendLines(agg, 'app', 'web-01', ['ERROR new a', 'ERROR new b', 'ERROR new c']);
    await waitFor('fresh errors fire', () => hook.got.find((g) => g.body.status === 'firing'), 20_000);
    const body = await (await request(`${url}/v1/alerts`)).body.json() as any;
    expect(body.rules[0]).toMatchObject({ name: 'ErrorBurst', kind: 'match', sinks: ['hook'] });
    expect(body.rules[0].groups[0]).toMatchObject({ group: { host: 'web-01' }, state: 'firing' });
    expect(await scrape()).toMatch(/logship_aggregator_alert_notifications_sent_total\{sink="hook"\} [1-9]/);
  });

  it('a metric rule with for: pending, firing after for, resolved (record time)', async () => {
    const tmp = await tempDir('logship-alerts-');
    cleanups.push(tmp.cleanup);
    const am = await receiver(cleanups);
    const hook = await receiver(cleanups);
    const rules = `  - {name: HighCPU, metric: node_cpu_utilization, above: 0.9, for: 20s, sinks: [hook], annotations: {summary: "cpu {{value}} on {{host}}"}}`;
    const { agg } = await start(config(tmp.dir, am.url, hook.url, rules));
    cleanups.push(() => agg.close());
    const t0 = Date.now() - 60_000;
    const cpu = (v: number) => [{ name: 'node_cpu_utilization', labels: {}, value: v }, { name: 'node_load1', labels: {}, value: 3 }];
    const state = () => agg.alerts!.view().rules[0]!.groups[0]?.state;
    await appendMetrics(agg, 'db-1', cpu(0.95), t0);
    await waitFor('pending', () => state() === 'pending', 20_000);
    await appendMetrics(agg, 'db-1', cpu(0.97), t0 + 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(state()).toBe('pending');
    await appendMetrics(agg, 'db-1', cpu(0.99), t0 + 20_000);
    const fired = await waitFor('firing', () => hook.got.find((g) => g.body.status === 'firing'), 20_000);
    expect(fired.body.alerts[0].annotations.summary).toBe('cpu 0.99 on db-1');
    expect(state()).toBe('firing');
    await appendMetrics(agg, 'db-1', cpu(0.2), t0 + 30_000);
    await waitFor('resolved', () => hook.got.find((g) => g.body.status === 'resolved'), 20_000);
    expect(state()).toBe('resolved');
  });

  it('absence: a host seen before that sends nothing for absent_for fires once, and resolves when it sends again', async () => {
    const tmp = await tempDir('logship-alerts-');
    cleanups.push(tmp.cleanup);
    const am = await receiver(cleanups);
    const hook = await receiver(cleanups);
    const rules = `  - {name: HostSilent, absent_for: 2s, labels: {severity: warning}, annotations: {summary: "{{host}} is silent"}, sinks: [hook]}`;
    const { agg } = await start(config(tmp.dir, am.url, hook.url, rules));
    cleanups.push(() => agg.close());
    // two hosts; only one keeps sending
    let alive = true;
    const beat = (async () => {
      while (alive) {
        await appendLines(agg, 'app', 'web-02', ['INFO alive']);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    await appendLines(agg, 'app', 'web-01', ['INFO hello']);
    // known hosts are listed (inactive) before any goes silent
    const listed = await waitFor('both hosts listed', () => {
      const groups = agg.alerts!.view().rules[0]!.groups;
      return groups.some((g) => g.group.host === 'web-01') && groups.find((g) => g.group.host === 'web-02')?.state === 'inactive' ? groups : undefined;
    }, 20_000);
    expect(listed.find((g) => g.group.host === 'web-02')).toMatchObject({ state: 'inactive', count: 0, notifications: {} });
    const fired = await waitFor('web-01 silent', () => hook.got.find((g) => g.body.status === 'firing'), 20_000);
    expect(fired.body.alerts[0].labels).toEqual({ alertname: 'HostSilent', host: 'web-01', severity: 'warning' });
    expect(fired.body.alerts[0].annotations.summary).toBe('web-01 is silent');
    await appendLines(agg, 'app', 'web-01', ['INFO back']);
    await waitFor('web-01 resolved', () => hook.got.find((g) => g.body.status === 'resolved'), 20_000);
    alive = false;
    await beat;
    expect(hook.got.filter((g) => g.body.status === 'firing').map((g) => g.body.alerts[0].labels.host)).toEqual(['web-01']);
    // one group per host (the state's key is the dedup key): the sink's acceptance is recorded on it
    const groups = agg.alerts!.view().rules[0]!.groups.filter((g) => g.group.host === 'web-01');
    expect(groups).toHaveLength(1);
    expect(groups[0]!.state).toBe('resolved');
    expect(groups[0]!.notifications.hook).toMatchObject({ status: 'resolved', ok: true });
  });
});
