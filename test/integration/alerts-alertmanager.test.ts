/**
 * Issue 12 acceptance, against a real Alertmanager (Debian's prometheus-alertmanager 0.25, a
 * private instance): an ErrorBurst rule (more than 10 ERROR lines from one host within the
 * window) configured as the CONTRACT shows it, fed by a real agent tailing a file.
 *
 *  - ten ERROR lines stored: nothing in Alertmanager; the 11th: Alertmanager lists one alert with
 *    alertname, host and severity within 15 s;
 *  - the aggregator SIGKILLed while the alert fires and restarted: still one alert, the same
 *    fingerprint (same label set), `logship alerts` still says firing;
 *  - a webhook sink on the same rule sends the fingerprint Alertmanager computed for the labels;
 *  - the sink posts to both Alertmanagers of an HA pair (`urls` with two): both list the alert;
 *  - the errors stop: once the window has passed the alert is resolved in both (gone from
 *    GET /api/v2/alerts, which never lists resolved alerts). The sink's resend_interval is 1m,
 *    so a firing alert's lease (endsAt = now + 4 x resend_interval) lasts minutes: the alert
 *    going away within the test's bound is the explicit resolve, not a lease running out.
 * The window is the CONTRACT example's 1m: the window slides over the first ten errors' record
 * times, so it has to outlast the "ten do not fire" check, the kill and the restart on a loaded
 * machine (a 30 s window was seen to close before the restarted aggregator answered, at load 23).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAlerts, startAlertmanager, stopAllAlertmanagers, type Alertmanager } from '../helpers/alertmanager.js';
import { WebhookReceiver } from '../fakes/webhook-receiver.js';
import { alertState, lastAlerts, logLines, writeLines } from '../helpers/alerts.js';
import { killAll, makeStack, stop, tempDir, topicCount, waitFor, waitSettled, type Proc, type Stack } from '../helpers/procs.js';

const HOST = 'web-01';
const WINDOW_S = 60;

let tmp: { dir: string; cleanup: () => Promise<void> };
let am: Alertmanager;
/** The second of an HA pair: the sink posts to every URL in `urls`. */
let am2: Alertmanager;
/** A webhook sink on the same rule: its messages must carry the fingerprint Alertmanager computes. */
let hook: WebhookReceiver;
let stack: Stack;
let agg: Proc;
let agent: Proc;
let logFile: string;

const burst = (a = am) => listAlerts(a.url, { filter: ['alertname="ErrorBurst"'] });
const outputs = () => `\n--- logship alerts ---\n${lastAlerts().slice(0, 4000)}\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- alertmanager ---\n${am?.output().slice(-3000)}`;

beforeAll(async () => {
  tmp = await tempDir('logship-alerts-am-');
  am = await startAlertmanager();
  am2 = await startAlertmanager();
  hook = await WebhookReceiver.start();
  logFile = join(tmp.dir, 'logs', 'app.log');
  await mkdir(join(tmp.dir, 'logs'));
  await writeFile(logFile, '');
  stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(tmp.dir, 'logs', '*.log')], start_at: 'beginning' }], {
    agent: { id: HOST },
    aggregator: {
      sinks: [
        { name: 'am', type: 'alertmanager', urls: [am.url, am2.url], resend_interval: '1m' },
        { name: 'hook', type: 'webhook', url: `${hook.url}/alerts` },
      ],
      alerts: [
        {
          name: 'ErrorBurst',
          topic: 'app',
          match: 'ERROR|FATAL',
          threshold: 10,
          window: `${WINDOW_S}s`,
          labels: { severity: 'critical' },
          annotations: { summary: '{{host}}: {{count}} errors in 1m' },
          sinks: ['am', 'hook'],
        },
      ],
    },
  });
  agg = await stack.startAggregator();
  agent = await stack.startAgent();
});

afterAll(async () => {
  await killAll();
  await stopAllAlertmanagers();
  await hook?.close();
  await tmp?.cleanup();
});

describe('ErrorBurst to a real Alertmanager', () => {
  it('fires on the 11th ERROR line with alertname, host and severity; survives an aggregator SIGKILL as one alert; resolves when the errors stop', async () => {
    // ten errors (and some noise) are not a burst
    await writeLines(logFile, [...logLines('INFO', 5, 'ok'), ...logLines('ERROR', 10)]);
    await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 15, statusPort: stack.statusPort });
    // the engine has looked at this host's lines once `logship alerts` lists its group
    await waitFor(() => `logship alerts to list ErrorBurst for ${HOST}${outputs()}`, async () => (await alertState(stack.aggUrl, 'ErrorBurst', HOST)) !== undefined, 30_000, 500);
    expect(await alertState(stack.aggUrl, 'ErrorBurst', HOST)).toBe('inactive');
    expect(await burst()).toEqual([]);

    // the 11th
    await writeLines(logFile, logLines('ERROR', 1, 'request failed', 10));
    const t11 = Date.now();
    const fired = await waitFor(() => `Alertmanager to list ErrorBurst within 15 s of the 11th ERROR line${outputs()}`, async () => (await burst())[0], 15_000, 200);
    const latencyMs = Date.now() - t11;
    console.log(`ErrorBurst listed by Alertmanager ${latencyMs} ms after the 11th ERROR line was written`);
    expect(fired.labels).toMatchObject({ alertname: 'ErrorBurst', host: HOST, severity: 'critical' });
    expect(fired.annotations.summary).toMatch(new RegExp(`^${HOST}: \\d+ errors in 1m$`));
    // generatorURL leads to the evidence: the aggregator's records endpoint at a matched line
    expect(fired.generatorURL).toMatch(new RegExp(`^${stack.aggUrl}/v1/topics/app/partitions/\\d+/records\\?offset=\\d+`));
    const evidence = await fetch(fired.generatorURL!);
    expect(evidence.status).toBe(200);
    expect(await evidence.text()).toContain(' ERROR request failed #');
    // a lease of 4 x resend_interval from the send (updatedAt is Alertmanager's receive time)
    const lease = Date.parse(fired.endsAt) - Date.parse(fired.updatedAt);
    expect(lease).toBeGreaterThan(200_000);
    expect(lease).toBeLessThanOrEqual(241_000);
    expect(await burst()).toHaveLength(1);
    // the other Alertmanager of the pair has the same alert
    const other = await waitFor(() => `the second Alertmanager to list ErrorBurst${outputs()}`, async () => (await burst(am2))[0], 15_000, 200);
    expect(other.fingerprint).toBe(fired.fingerprint);
    expect(other.labels).toEqual(fired.labels);
    // the webhook message names the alert by the fingerprint Alertmanager itself computed
    const hooked = await hook.waitFor('a firing webhook message', (r) => r.alerts().find((a) => a.status === 'firing'), 15_000);
    expect(hooked.fingerprint).toBe(fired.fingerprint);
    expect(hooked.labels).toEqual(fired.labels);
    expect(await topicCount(stack.aggUrl, 'app')).toBe(16);
    const fingerprint = fired.fingerprint;
    expect(await alertState(stack.aggUrl, 'ErrorBurst', HOST)).toBe('firing');

    // SIGKILL the aggregator while firing; the agent keeps running
    agg.child.kill('SIGKILL');
    await agg.exited;
    agg = await stack.startAggregator();
    const stateAfterRestart = await alertState(stack.aggUrl, 'ErrorBurst', HOST);
    console.log(`aggregator restarted and ready ${Date.now() - t11} ms after the 11th ERROR line`);
    expect(stateAfterRestart, lastAlerts()).toBe('firing');
    expect((await burst()).map((a) => a.fingerprint)).toEqual([fingerprint]);
    expect((await burst(am2)).map((a) => a.fingerprint)).toEqual([fingerprint]);

    // no more errors: once the window has passed the resolve arrives; until then one alert only
    let seenOther: string[] = [];
    await waitFor(
      () => `Alertmanager to drop (resolve) ErrorBurst after the window${outputs()}`,
      async () => {
        const now = [...(await burst()), ...(await burst(am2))];
        const other = now.filter((a) => a.fingerprint !== fingerprint).map((a) => a.fingerprint);
        if (other.length) seenOther = other;
        return now.length === 0;
      },
      (WINDOW_S + 45) * 1000,
      500,
    );
    expect(seenOther).toEqual([]);
    const state = await alertState(stack.aggUrl, 'ErrorBurst', HOST);
    expect(state === 'inactive' || state === 'resolved').toBe(true);
    // the agent was never restarted; nothing it sent was lost or doubled by the kill
    expect(await topicCount(stack.aggUrl, 'app')).toBe(16);
    await stop(agent);
  });
});
