/**
 * The PagerDuty notifier against the strict fake (test/fakes/pagerduty.ts):
 * a trigger and its resolve share the dedup_key, so one incident opens and
 * closes; injected 429 and 500 are retried with the same dedup_key (still one
 * incident); a 400 is not retried; the routing key comes from its file and
 * never reaches a log line; severity and summary follow the documented rules.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { FakePagerDuty } from '../../../fakes/pagerduty.js';
import { PagerDutyNotifier, pagerdutyEvent, pagerdutySeverity } from '../../../../aggregator/sinks/pagerduty/index.js';
import type { DeliveryResult, NotifierContext } from '../../../../aggregator/alerts/notifier.js';
import type { AlertNotice } from '../../../../aggregator/alerts/types.js';
import type { Logger } from '../../../../lib/obs/logger.js';
import { tempDir, waitFor } from '../../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEY = '0123456789abcdef0123456789abcdef';

function notice(status: 'firing' | 'resolved', over: Partial<AlertNotice> = {}): AlertNotice {
  return {
    rule: 'HostSilent',
    key: 'logship/HostSilent/web-01',
    status,
    labels: { alertname: 'HostSilent', host: 'web-01', severity: 'warning' },
    annotations: { summary: 'web-01 is silent' },
    startsAt: Date.now() - 1000,
    ...(status === 'resolved' ? { endsAt: Date.now() } : {}),
    host: 'web-01',
    count: 0,
    evidence: [{ topic: 'app', partition: 0, offset: 41, source: '/var/log/app.log', source_offset: 1200 }],
    generatorURL: 'http://agg:9400/v1/alerts',
    createdAt: performance.now(),
    ...over,
  };
}

async function setup() {
  const pd = await FakePagerDuty.start();
  cleanups.push(() => pd.close());
  const tmp = await tempDir('logship-pd-');
  cleanups.push(tmp.cleanup);
  const keyFile = join(tmp.dir, 'pd.key');
  await writeFile(keyFile, `${KEY}\n`, { mode: 0o600 });
  let logged = '';
  const logger = pino({ level: 'trace' }, new Writable({ write: (c, _e, cb) => ((logged += c.toString()), cb()) })) as unknown as Logger;
  const results: Array<{ sink: string } & DeliveryResult> = [];
  const ctx: NotifierContext = { logger, onResult: (sink, r) => results.push({ sink, ...r }), onDropped: () => undefined, clock: () => performance.now() };
  const n = new PagerDutyNotifier({ type: 'pagerduty', name: 'pd', routing_key_file: keyFile, url: pd.enqueueUrl }, ctx, { backoffMs: { min: 50, max: 200 } });
  await n.start();
  cleanups.push(() => n.close(0));
  return { pd, n, results, logs: () => logged };
}

describe('PagerDuty notifier', () => {
  it('trigger then resolve with one dedup_key: one incident, opened and closed; 429 and 500 retried without a second incident', async () => {
    const { pd, n, results, logs } = await setup();
    pd.inject(429, 2);
    pd.inject(500, 1);
    n.notify(notice('firing'));
    await pd.waitFor('trigger accepted', (x) => x.incidents().find((i) => i.dedupKey === 'logship/HostSilent/web-01'));
    n.notify(notice('resolved'));
    await pd.waitFor('resolved', (x) => x.incidents().find((i) => i.status === 'resolved'));
    await waitFor('both results reported', () => results.filter((r) => r.ok).length === 2, 10_000);
    expect(pd.incidents()).toHaveLength(1);
    const inc = pd.incidents()[0]!;
    expect(inc.triggers).toBe(1);
    expect(inc.payload).toMatchObject({ source: 'web-01', severity: 'warning', summary: 'web-01 is silent', class: 'HostSilent' });
    expect(inc.payload.custom_details).toMatchObject({ matched_lines: [{ topic: 'app', partition: 0, offset: 41, source_offset: 1200 }] });
    const injected = pd.requests().filter((r) => r.injected);
    expect(injected.map((r) => r.status)).toEqual([429, 429, 500]);
    expect(injected.every((r) => (r.body as { dedup_key?: string }).dedup_key === 'logship/HostSilent/web-01')).toBe(true);
    expect(results.filter((r) => !r.ok)).toHaveLength(3);
    expect(results.filter((r) => r.ok).map((r) => r.notice.status)).toEqual(['firing', 'resolved']);
    expect(logs()).not.toContain(KEY);
  });

  it('a 400 is not retried', async () => {
    const { pd, n, results } = await setup();
    n.notify(notice('firing', { host: '', labels: { alertname: 'X' }, annotations: { summary: '' }, key: 'k'.repeat(300) })); // dedup_key too long: 400
    await pd.waitFor('the 400', (x) => x.requests().find((r) => r.status === 400));
    await new Promise((r) => setTimeout(r, 600)); // time itself is tested: a retry would come within 200 ms
    expect(pd.requests()).toHaveLength(1);
    expect(results).toHaveLength(1);
    expect(results[0]!.ok).toBe(false);
    expect(n.queued()).toBe(0);
  });

  it('severity mapping and summary limits', () => {
    expect(['critical', 'FATAL', 'page', 'error', 'major', 'warning', 'warn', 'info', 'low', undefined, 'weird'].map(pagerdutySeverity)).toEqual([
      'critical', 'critical', 'critical', 'error', 'error', 'warning', 'warning', 'info', 'info', 'error', 'error',
    ]);
    const e = pagerdutyEvent(notice('firing', { annotations: { summary: 'x'.repeat(5000) } }), KEY) as { payload: { summary: string } };
    expect(e.payload.summary.length).toBe(1024);
    expect(pagerdutyEvent(notice('resolved'), KEY)).toEqual({ routing_key: KEY, event_action: 'resolve', dedup_key: 'logship/HostSilent/web-01' });
  });
});
