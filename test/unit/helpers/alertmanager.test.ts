/**
 * The private Alertmanager the alerting tests run against (test/helpers/alertmanager.ts), and the
 * webhook receiver (test/fakes/webhook-receiver.ts) checked against what the real Alertmanager
 * 0.25 sends, so its shape check accepts the real thing and the alerting tests can trust it.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertmanagerVersion, listAlerts, postAlerts, startAlertmanager, stopAllAlertmanagers, type Alertmanager } from '../../helpers/alertmanager.js';
import { WebhookReceiver, webhookProblems } from '../../fakes/webhook-receiver.js';

let am: Alertmanager;
let hook: WebhookReceiver;

beforeAll(async () => {
  hook = await WebhookReceiver.start();
  am = await startAlertmanager({ webhookUrl: `${hook.url}/am`, groupWait: '0s', groupInterval: '1s' });
});
afterAll(async () => {
  await stopAllAlertmanagers();
  await hook?.close();
});

const isoIn = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('private Alertmanager', () => {
  it('is Debian bookworm\'s 0.25 and ready on its own loopback port', async () => {
    expect(alertmanagerVersion()).toMatch(/^0\.25\./);
    expect(am.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const status = (await (await fetch(`${am.url}/api/v2/status`)).json()) as { cluster: { status: string }; versionInfo: { version: string } };
    expect(status.versionInfo.version).toMatch(/^0\.25\./);
    expect(status.cluster.status).toBe('disabled');
  });

  it('lists posted alerts with filters; the same labels keep one fingerprint; a resolve (endsAt now) makes it disappear', async () => {
    const labels = { alertname: 'HarnessSelfTest', host: 'web-01', severity: 'critical' };
    await postAlerts(am.url, [
      { labels, annotations: { summary: 'first' }, endsAt: isoIn(240_000) },
      { labels: { ...labels, host: 'web-02' }, endsAt: isoIn(240_000) },
    ]);
    const both = await listAlerts(am.url, { filter: ['alertname="HarnessSelfTest"'] });
    expect(both.map((a) => a.labels.host).sort()).toEqual(['web-01', 'web-02']);
    const one = await listAlerts(am.url, { filter: ['alertname="HarnessSelfTest"', 'host="web-01"'] });
    expect(one).toHaveLength(1);
    expect(one[0]!.labels).toEqual(labels);
    expect(one[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    await postAlerts(am.url, [{ labels, annotations: { summary: 'second' }, endsAt: isoIn(240_000) }]);
    const again = await listAlerts(am.url, { filter: ['host="web-01"'] });
    expect(again).toHaveLength(1);
    expect(again[0]!.fingerprint).toBe(one[0]!.fingerprint);
    expect(again[0]!.annotations.summary).toBe('second');
    await postAlerts(am.url, [{ labels, endsAt: new Date().toISOString() }]);
    expect(await listAlerts(am.url, { filter: ['host="web-01"'] })).toEqual([]);
    expect(await listAlerts(am.url, { filter: ['host=~"web-0[12]"'] })).toHaveLength(1);
  });

  it('stops by PID and removes its temp dir', async () => {
    const other = await startAlertmanager();
    expect(other.port).not.toBe(am.port);
    await other.stop();
    expect(() => process.kill(other.pid, 0)).toThrow();
    await expect(fetch(`${other.url}/-/ready`)).rejects.toThrow();
    expect(existsSync(other.dir)).toBe(false);
    await other.stop(); // idempotent
  });
});

describe('webhook receiver against the real Alertmanager', () => {
  it('accepts Alertmanager 0.25\'s own firing and resolved messages as well-formed version 4', async () => {
    const labels = { alertname: 'HookSelfTest', host: 'web-03', severity: 'warning' };
    await postAlerts(am.url, [{ labels, annotations: { summary: 'x' }, endsAt: isoIn(240_000), generatorURL: 'http://127.0.0.1:1/gen' }]);
    const mine = (r: WebhookReceiver, status: string) => r.deliveries().find((d) => (d.body as { status?: string; groupLabels?: { alertname?: string } }).status === status && (d.body as { groupLabels: { alertname?: string } }).groupLabels.alertname === 'HookSelfTest');
    const firing = await hook.waitFor('a firing message', (r) => mine(r, 'firing'), 30_000);
    expect(firing.problems).toEqual([]);
    expect(firing.body).toMatchObject({ version: '4', receiver: 'test', status: 'firing', groupLabels: { alertname: 'HookSelfTest', host: 'web-03' } });
    await postAlerts(am.url, [{ labels, endsAt: new Date().toISOString() }]);
    const resolved = await hook.waitFor('a resolved message', (r) => mine(r, 'resolved'), 30_000);
    expect(resolved.problems).toEqual([]);
    expect(hook.alerts().filter((a) => a.labels.alertname === 'HookSelfTest').map((a) => a.status)).toEqual(['firing', 'resolved']);
  });

  it('finds what is wrong with a message that is not version 4 shaped', () => {
    expect(webhookProblems([])).toEqual(['the body is not a JSON object']);
    const good = {
      version: '4', groupKey: 'k', truncatedAlerts: 0, status: 'resolved', receiver: 'r', groupLabels: {}, commonLabels: { alertname: 'A' }, commonAnnotations: {}, externalURL: 'http://x',
      alerts: [{ status: 'resolved', labels: { alertname: 'A' }, annotations: {}, startsAt: '2026-12-01T18:00:00Z', endsAt: '2026-12-01T18:01:00.5Z', generatorURL: '', fingerprint: 'f' }],
    };
    expect(webhookProblems(good)).toEqual([]);
    const bad = { ...good, version: 4, status: 'firing', commonLabels: { alertname: 'B' }, alerts: [{ ...good.alerts[0], endsAt: '0001-01-01T00:00:00Z', startsAt: 'now' }] };
    expect(webhookProblems(bad)).toEqual([
      'version: expected "4", got 4',
      'alerts[0].startsAt: expected an RFC 3339 time, got "now"',
      'alerts[0].endsAt: a resolved alert needs its real end time, got the zero time',
      'commonLabels.alertname="B" is not on alerts[0]',
      'status: "firing" but no alert is firing',
    ]);
  });
});
