/**
 * Alert rules on parsed fields, routes, and rules retired by a reload, inside
 * a real aggregator (temp dir, 127.0.0.1; records appended straight to
 * storage, notifications caught by small HTTP receivers and the strict fake
 * PagerDuty):
 *  - a rule with `where` over the nginx preset's fields, grouped by source.ip,
 *    fires for the one address past its threshold, with the field in its
 *    labels and templates; a plain rule on a topic whose pipeline fails on
 *    every line never runs it (no failure counted);
 *  - a record the topic's pipeline routes to other sinks is not counted by a
 *    rule notifying the sinks it was routed away from (counted, metric), and
 *    is by a rule notifying the sink it was routed to;
 *  - a rule removed or changed between two runs (a reload is the same: close,
 *    start on the new config) while firing is resolved at every sink
 *    (Alertmanager endsAt <= now, webhook resolved, PagerDuty resolve with the
 *    same dedup_key), saved as such: a third run sends nothing more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { Aggregator } from '../../../../aggregator/index.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { FakePagerDuty } from '../../../fakes/pagerduty.js';
import { tempDir, waitFor } from '../../../helpers/procs.js';
import { appendLines as appendShared, receiver } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
const appendLines = (agg: Aggregator, topic: string, host: string, lines: string[], timestamp = Date.now()): Promise<void> => appendShared(agg, topic, host, lines, timestamp, '/var/log/nginx/access.log');
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(text: string): Promise<Aggregator> {
  const agg = new Aggregator({ config: parseAggregatorConfig(text, 'agg.yaml', {}), logger: silentLogger(), fsync: false });
  await agg.start();
  return agg;
}

const nginx = (ip: string, status: number, path = '/api/orders?id=1') =>
  `${ip} - - [02/Dec/2026:00:10:00 +0000] "GET ${path} HTTP/1.1" ${status} 512 "-" "curl/8.5.0"`;

async function counter(agg: Aggregator, name: string, labels: Record<string, string>): Promise<number> {
  const m = await agg.metrics.registry.getSingleMetric(name)?.get();
  return m?.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0) ?? 0;
}

const firing = (hook: { got: Received[] }, rule: string) => hook.got.filter((g) => g.body.status === 'firing' && g.body.alerts.some((a: any) => a.labels.alertname === rule));

describe('alert rules on parsed fields', () => {
  it('where over nginx fields, grouped by source.ip, with the field in labels and templates; plain rules never run the pipeline', async () => {
    const tmp = await tempDir('logship-alerts-parsed-');
    cleanups.push(tmp.cleanup);
    const hook = await receiver(cleanups);
    const agg = await start(`listen: 127.0.0.1:0
data_dir: ${join(tmp.dir, 'data')}
topics:
  default: {partitions: 1}
sinks:
  - {name: hook, type: webhook, url: "${hook.url}/hook"}
pipelines:
  nginx:
    topics: [web]
    steps:
      - {type: pattern, preset: nginx_access}
  never:
    topics: [plain]
    steps:
      - {type: regex, pattern: "^(?<never>NEVER)$"}
alerts:
  - name: Nginx5xxBurst
    topic: web
    where: http.response.status_code >= 500
    group_by: [source.ip]
    threshold: 2
    window: 1m
    labels: {severity: page}
    annotations: {summary: "{{labels.source_ip}}: {{count}} 5xx, last {{field.url.original}} ({{field.http.response.status_code}})"}
    sinks: [hook]
  - {name: PlainError, topic: plain, match: ERROR, threshold: 1, window: 1m, sinks: [hook]}
`);
    cleanups.push(() => agg.close());

    await appendLines(agg, 'web', 'web-01', [
      nginx('10.0.0.1', 500),
      nginx('10.0.0.2', 200),
      nginx('10.0.0.2', 200),
      nginx('10.0.0.2', 200),
      nginx('10.0.0.3', 503),
      nginx('10.0.0.1', 502),
      nginx('10.0.0.3', 504),
      nginx('10.0.0.1', 503, '/api/pay?x=%C3%A9'),
    ]);
    await appendLines(agg, 'plain', 'app-01', ['ERROR one', 'ERROR two']);
    const fired = await waitFor('Nginx5xxBurst fires', () => firing(hook, 'Nginx5xxBurst')[0], 20_000);
    const alert = fired.body.alerts[0];
    expect(alert.labels).toEqual({ alertname: 'Nginx5xxBurst', source_ip: '10.0.0.1', severity: 'page' });
    expect(alert.annotations.summary).toBe('10.0.0.1: 3 5xx, last /api/pay?x=%C3%A9 (503)');
    await waitFor('PlainError fires', () => firing(hook, 'PlainError')[0], 20_000);
    // 10.0.0.3 has 2 (not more than the threshold), 10.0.0.2 none over 500
    await new Promise((r) => setTimeout(r, 1500));
    const groups = agg.alerts!.view().rules.find((r) => r.name === 'Nginx5xxBurst')!.groups;
    expect(groups.map((g) => [g.group['source.ip'], g.state]).sort()).toEqual([
      ['10.0.0.1', 'firing'],
      ['10.0.0.3', 'inactive'],
    ]);
    expect(firing(hook, 'Nginx5xxBurst')).toHaveLength(1);
    // the plain rule never ran its topic's pipeline (which fails on every line)
    expect(await counter(agg, 'logship_aggregator_pipeline_failures_total', { pipeline: 'never' })).toBe(0);
  });

  it('a record routed away from a rule\'s sinks is not counted by it; the rule notifying the sink it was routed to counts it', async () => {
    const tmp = await tempDir('logship-alerts-route-');
    cleanups.push(tmp.cleanup);
    const hook = await receiver(cleanups);
    const other = await receiver(cleanups);
    const agg = await start(`listen: 127.0.0.1:0
data_dir: ${join(tmp.dir, 'data')}
topics:
  default: {partitions: 1}
sinks:
  - {name: hook, type: webhook, url: "${hook.url}/hook"}
  - {name: other, type: webhook, url: "${other.url}/other"}
pipelines:
  nginx:
    topics: [web]
    steps:
      - {type: pattern, preset: nginx_access}
      - {type: route, if: 'url.original contains "/healthz"', sinks: [other]}
alerts:
  - {name: HealthOnHook, topic: web, match: healthz, threshold: 1, window: 1m, sinks: [hook]}
  - {name: HealthOnOther, topic: web, match: healthz, threshold: 1, window: 1m, sinks: [other]}
  - {name: OrdersOnHook, topic: web, match: orders, threshold: 1, window: 1m, sinks: [hook]}
`);
    cleanups.push(() => agg.close());
    await appendLines(agg, 'web', 'web-01', [nginx('10.0.0.9', 200, '/healthz'), nginx('10.0.0.9', 200, '/healthz'), nginx('10.0.0.9', 200), nginx('10.0.0.9', 200)]);
    await waitFor('HealthOnOther fires', () => firing(other, 'HealthOnOther')[0], 20_000);
    await waitFor('OrdersOnHook fires', () => firing(hook, 'OrdersOnHook')[0], 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(firing(hook, 'HealthOnHook')).toHaveLength(0);
    const health = agg.alerts!.view().rules.find((r) => r.name === 'HealthOnHook')!;
    expect(health.groups).toEqual([]);
    expect(await counter(agg, 'logship_aggregator_alert_records_routed_away_total', { rule: 'HealthOnHook' })).toBe(2);
    expect(await counter(agg, 'logship_aggregator_alert_records_routed_away_total', { rule: 'OrdersOnHook' })).toBe(0);
  });
});

describe('a rule removed or changed by a reload while firing', () => {
  const conf = (dir: string, am: string, hook: string, pd: string, keyFile: string, rules: string) => `listen: 127.0.0.1:0
data_dir: ${join(dir, 'data')}
topics:
  default: {partitions: 1}
sinks:
  - {name: am, type: alertmanager, urls: ["${am}"], resend_interval: 1s}
  - {name: hook, type: webhook, url: "${hook}/hook"}
  - {name: pd, type: pagerduty, url: "${pd}", routing_key_file: ${keyFile}}
alerts:
${rules}
`;
  const burst = (threshold: number) =>
    `  - {name: ErrorBurst, topic: app, match: ERROR, threshold: ${threshold}, window: 1m, labels: {severity: critical}, annotations: {summary: "{{host}} errors"}, sinks: [am, hook, pd]}`;
  const other = '  - {name: Other, topic: app, match: NEVERMATCHES, threshold: 1, window: 1m, sinks: [hook]}';

  for (const change of ['removed', 'changed'] as const) {
    it(`${change}: resolved at Alertmanager, the webhook and PagerDuty (same dedup_key), and saved so`, async () => {
      const tmp = await tempDir('logship-alerts-retire-');
      cleanups.push(tmp.cleanup);
      const am = await receiver(cleanups);
      const hook = await receiver(cleanups);
      const pd = await FakePagerDuty.start();
      cleanups.push(() => pd.close());
      const keyFile = join(tmp.dir, 'pd.key');
      await writeFile(keyFile, 'a'.repeat(32) + '\n', { mode: 0o600 });
      const c = (rules: string) => conf(tmp.dir, am.url, hook.url, pd.enqueueUrl, keyFile, rules);

      let agg = await start(c(`${burst(1)}\n${other}`));
      await appendLines(agg, 'app', 'web-01', ['ERROR a', 'ERROR b']);
      const trigger = await pd.waitFor('PagerDuty trigger', (p) => p.events().find((e) => e.event_action === 'trigger'));
      await waitFor('webhook fire', () => firing(hook, 'ErrorBurst')[0], 20_000);
      await waitFor('every sink accepted', () => Object.keys(agg.alerts!.view().rules[0]!.groups[0]?.notifications ?? {}).length === 3, 20_000);
      await agg.close();

      const amBefore = am.got.length;
      agg = await start(c(change === 'removed' ? other : `${burst(5)}\n${other}`));
      const resolve = await pd.waitFor('PagerDuty resolve', (p) => p.events().find((e) => e.event_action === 'resolve'));
      expect(resolve.dedup_key).toBe(trigger.dedup_key);
      expect(pd.incidents().filter((i) => i.dedupKey === trigger.dedup_key).map((i) => i.status)).toEqual(['resolved']);
      const hr = await waitFor('webhook resolved', () => hook.got.find((g) => g.body.status === 'resolved'), 20_000);
      expect(hr.body.alerts[0]).toMatchObject({ status: 'resolved', labels: { alertname: 'ErrorBurst', host: 'web-01', severity: 'critical' } });
      const ar = await waitFor('Alertmanager resolve', () => am.got.slice(amBefore).find((g) => g.body.some((a: any) => a.labels.alertname === 'ErrorBurst' && Date.parse(a.endsAt) <= g.at)), 20_000);
      expect(ar.body[0].labels).toEqual({ alertname: 'ErrorBurst', host: 'web-01', severity: 'critical' });
      // saved: the retired incident is gone from the state once every sink accepted its resolve
      await waitFor('state saved without it', async () => {
        const s = JSON.parse(await readFile(join(tmp.dir, 'data', 'alerts', 'state.json'), 'utf8'));
        return (s.retired ?? []).length === 0 && !s.groups.some((g: any) => g.rule === 'ErrorBurst' && g.status === 'firing');
      }, 20_000);
      await agg.close();

      // a third run on the same config says nothing more about it
      const seen = { am: am.got.length, hook: hook.got.length, pd: pd.events().length };
      agg = await start(c(change === 'removed' ? other : `${burst(5)}\n${other}`));
      await new Promise((r) => setTimeout(r, 2500));
      await agg.close();
      expect(hook.got.length).toBe(seen.hook);
      expect(pd.events().length).toBe(seen.pd);
      expect(am.got.slice(seen.am).filter((g) => g.body.some((a: any) => a.labels.alertname === 'ErrorBurst'))).toEqual([]);
    });
  }
});
