/**
 * Issue 12 acceptance, webhook sink: a receiver that understands Alertmanager's webhook messages
 * (test/fakes/webhook-receiver.ts, whose shape check is itself tested against the real
 * Alertmanager 0.25) gets well-formed version "4" messages from logship for an ErrorBurst that
 * fires and then resolves: the firing message with alertname, host and the rule's labels and
 * annotations, then a resolved message for the same alert (same labels and fingerprint, a real
 * end time), each with the configured bearer token, which is in no log line. The window is 10 s to keep the test short.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookReceiver, type WebhookMessage } from '../fakes/webhook-receiver.js';
import { logLines, writeLines } from '../helpers/alerts.js';
import { killAll, makeStack, tempDir, type Proc, type Stack } from '../helpers/procs.js';

const HOST = 'hook-host';
const HOOK_TOKEN = 'hook-secret-0123456789';

let tmp: { dir: string; cleanup: () => Promise<void> };
let hook: WebhookReceiver;
let stack: Stack;
let agg: Proc;
let logFile: string;

const outputs = () => `\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- webhook ---\n${hook?.describe()}`;
const messages = (status: 'firing' | 'resolved') =>
  hook.deliveries().filter((d) => (d.body as Partial<WebhookMessage>).status === status && (d.body as WebhookMessage).alerts?.some((a) => a.labels.alertname === 'ErrorBurst'));

beforeAll(async () => {
  tmp = await tempDir('logship-alerts-hook-');
  hook = await WebhookReceiver.start();
  await mkdir(join(tmp.dir, 'logs'));
  logFile = join(tmp.dir, 'logs', 'app.log');
  await writeFile(logFile, '');
  const tokenFile = join(tmp.dir, 'hook.token');
  await writeFile(tokenFile, HOOK_TOKEN + '\n', { mode: 0o600 });
  stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(tmp.dir, 'logs', '*.log')], start_at: 'beginning' }], {
    agent: { id: HOST },
    aggregator: {
      sinks: [{ name: 'hook', type: 'webhook', url: `${hook.url}/hooks/logship`, bearer_token_file: tokenFile }],
      alerts: [
        {
          name: 'ErrorBurst',
          topic: 'app',
          match: 'ERROR|FATAL',
          threshold: 10,
          window: '10s',
          labels: { severity: 'critical', team: 'web' },
          annotations: { summary: '{{host}}: {{count}} errors in 10s', runbook_url: 'http://wiki.example/errorburst' },
          sinks: ['hook'],
        },
      ],
    },
  });
  agg = await stack.startAggregator();
  await stack.startAgent();
});

afterAll(async () => {
  await killAll();
  await hook?.close();
  await tmp?.cleanup();
});

describe('webhook sink', () => {
  it('the receiver gets Alertmanager version 4 messages for the fire and the resolve', async () => {
    await writeLines(logFile, logLines('ERROR', 11));
    const fired = await hook.waitFor(`a firing message${outputs()}`, () => messages('firing')[0], 30_000);
    expect(fired.problems).toEqual([]);
    expect(fired.path).toBe('/hooks/logship');
    expect(fired.headers.authorization).toBe(`Bearer ${HOOK_TOKEN}`);
    const fm = fired.body as WebhookMessage;
    expect(fm).toMatchObject({ version: '4', status: 'firing', truncatedAlerts: 0 });
    expect(fm.alerts).toHaveLength(1);
    const fa = fm.alerts[0]!;
    expect(fa.status).toBe('firing');
    expect(fa.labels).toEqual({ alertname: 'ErrorBurst', host: HOST, severity: 'critical', team: 'web' });
    expect(fa.annotations.summary).toMatch(new RegExp(`^${HOST}: \\d+ errors in 10s$`));
    expect(fa.annotations.runbook_url).toBe('http://wiki.example/errorburst');

    const resolved = await hook.waitFor(`a resolved message after the 10 s window${outputs()}`, () => messages('resolved')[0], 45_000);
    expect(resolved.problems).toEqual([]);
    const rm = resolved.body as WebhookMessage;
    expect(rm).toMatchObject({ version: '4', status: 'resolved' });
    const ra = rm.alerts.find((a) => a.labels.alertname === 'ErrorBurst')!;
    expect(ra.status).toBe('resolved');
    expect(ra.labels).toEqual(fa.labels);
    expect(ra.fingerprint).toBe(fa.fingerprint);
    expect(ra.startsAt).toBe(fa.startsAt);
    expect(Date.parse(ra.endsAt)).toBeGreaterThanOrEqual(Date.parse(ra.startsAt));
    expect(rm.groupKey).toBe(fm.groupKey);
    // every message the receiver got was well formed; no firing message after the resolve
    expect(hook.deliveries().flatMap((d) => d.problems)).toEqual([]);
    expect(messages('firing').every((d) => d.at <= resolved.at)).toBe(true);
    expect(hook.deliveries().every((d) => d.headers.authorization === `Bearer ${HOOK_TOKEN}`)).toBe(true);
    expect(agg.output()).not.toContain(HOOK_TOKEN);
  });
});
