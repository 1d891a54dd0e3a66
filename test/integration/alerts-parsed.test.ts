/**
 * Issue 12 gaps, end to end with real processes: an agent tails an nginx access log (lines in
 * nginx's combined format), the aggregator parses them with the nginx_access preset, and a rule on
 * parsed fields (5xx per source.ip: `where` + `group_by: [source.ip]`) notifies a webhook receiver
 * for the one client address past its threshold, with source_ip in its labels and the parsed path
 * in its summary. The pipeline routes /healthz lines to another sink only: they are not counted by
 * the rule (whose sink they were routed away from). Then the rule is removed from the config and
 * the aggregator is sent SIGHUP: the receiver gets the resolve of the incident (same fingerprint).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookReceiver, type WebhookMessage } from '../fakes/webhook-receiver.js';
import { writeLines } from '../helpers/alerts.js';
import { killAll, makeStack, tempDir, waitFor, writeYaml, type Proc, type Stack } from '../helpers/procs.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let hook: WebhookReceiver;
let other: WebhookReceiver;
let stack: Stack;
let agg: Proc;
let accessLog: string;
let aggregatorExtra: Record<string, unknown>;

const RULE = 'Nginx5xxBurst';
const outputs = () => `\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- webhook ---\n${hook?.describe()}`;
const messages = (r: WebhookReceiver, status: 'firing' | 'resolved') =>
  r.deliveries().filter((d) => (d.body as Partial<WebhookMessage>).status === status && (d.body as WebhookMessage).alerts?.some((a) => a.labels.alertname === RULE));

/** One access-log line as nginx's default `combined` format writes it. */
function accessLine(ip: string, status: number, path: string, when = new Date()): string {
  const mon = when.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const p2 = (n: number) => String(n).padStart(2, '0');
  const ts = `${p2(when.getUTCDate())}/${mon}/${when.getUTCFullYear()}:${p2(when.getUTCHours())}:${p2(when.getUTCMinutes())}:${p2(when.getUTCSeconds())} +0000`;
  return `${ip} - - [${ts}] "GET ${path} HTTP/1.1" ${status} 153 "-" "curl/8.5.0"`;
}

beforeAll(async () => {
  tmp = await tempDir('logship-alerts-parsed-');
  hook = await WebhookReceiver.start();
  other = await WebhookReceiver.start();
  await mkdir(join(tmp.dir, 'nginx'));
  accessLog = join(tmp.dir, 'nginx', 'access.log');
  await writeFile(accessLog, '');
  aggregatorExtra = {
    sinks: [
      { name: 'hook', type: 'webhook', url: `${hook.url}/hooks/logship` },
      { name: 'other', type: 'webhook', url: `${other.url}/hooks/other` },
    ],
    pipelines: {
      nginx: {
        topics: ['web'],
        steps: [
          { type: 'pattern', preset: 'nginx_access' },
          { type: 'route', if: 'url.original contains "/healthz"', sinks: ['other'] },
        ],
      },
    },
    alerts: [
      {
        name: RULE,
        topic: 'web',
        where: 'http.response.status_code >= 500',
        group_by: ['source.ip'],
        threshold: 5,
        window: '1m',
        labels: { severity: 'page' },
        annotations: { summary: '{{labels.source_ip}}: {{count}} 5xx in 1m, last {{field.url.original}}' },
        sinks: ['hook'],
      },
    ],
  };
  stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'web', include: [accessLog], start_at: 'beginning' }], { agent: { id: 'edge-01' }, aggregator: aggregatorExtra });
  agg = await stack.startAggregator();
  await stack.startAgent();
});

afterAll(async () => {
  await killAll();
  await hook?.close();
  await other?.close();
  await tmp?.cleanup();
});

describe('alert rule on parsed nginx fields', () => {
  it('fires per source.ip past the threshold, ignores what the pipeline routes away, and resolves when SIGHUP removes the rule', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    for (let i = 0; i < 6; i++) lines.push(accessLine('203.0.113.7', 500 + (i % 4), `/api/orders?id=${i}`));
    for (let i = 0; i < 8; i++) lines.push(accessLine('198.51.100.2', 200, `/api/items/${i}`));
    for (let i = 0; i < 5; i++) lines.push(accessLine('198.51.100.3', 503, '/api/slow')); // = threshold: no alert
    for (let i = 0; i < 9; i++) lines.push(accessLine('192.0.2.1', 500, '/healthz')); // routed to "other" only
    lines.push(accessLine('203.0.113.7', 504, '/api/pay?card=%E2%82%AC'));
    await writeLines(accessLog, lines);

    const fired = await hook.waitFor(`a firing message${outputs()}`, () => messages(hook, 'firing')[0], 30_000);
    expect(fired.problems).toEqual([]);
    const fa = (fired.body as WebhookMessage).alerts.find((a) => a.labels.alertname === RULE)!;
    expect(fa.labels).toEqual({ alertname: RULE, source_ip: '203.0.113.7', severity: 'page' });
    expect(fa.annotations.summary).toMatch(/^203\.0\.113\.7: [67] 5xx in 1m, last \/api\/(orders\?id=5|pay\?card=%E2%82%AC)$/);

    // every line was read: the rule's groups are the two addresses with 5xx that were not routed away
    await waitFor(`all 29 lines evaluated${outputs()}`, async () => {
      const m = await (await fetch(`${stack.aggUrl}/metrics`)).text();
      return /logship_aggregator_alert_evaluations_total\{rule="Nginx5xxBurst"\} 29\b/.test(m) && /logship_aggregator_alert_records_routed_away_total\{rule="Nginx5xxBurst"\} 9\b/.test(m);
    }, 30_000);
    const view = (await (await fetch(`${stack.aggUrl}/v1/alerts`)).json()) as { rules: Array<{ name: string; groups: Array<{ group: Record<string, string>; state: string; count: number }> }> };
    const groups = view.rules.find((r) => r.name === RULE)!.groups.map((g) => [g.group['source.ip'], g.state, g.count]).sort();
    expect(groups).toEqual([
      ['198.51.100.3', 'inactive', 5],
      ['203.0.113.7', 'firing', 7],
    ]);
    expect(messages(hook, 'firing').every((d) => (d.body as WebhookMessage).alerts.every((a) => a.labels.source_ip === '203.0.113.7'))).toBe(true);
    expect(other.deliveries()).toEqual([]);

    // SIGHUP with the rule removed: the open incident is resolved at the sink
    const { alerts: _gone, ...rest } = aggregatorExtra;
    await writeYaml(stack.aggConfig, { listen: `127.0.0.1:${stack.aggPort}`, data_dir: join(tmp.dir, 'agg-data'), topics: { default: { partitions: 4 } }, ...rest });
    agg.child.kill('SIGHUP');
    const resolved = await hook.waitFor(`a resolved message after the reload${outputs()}`, () => messages(hook, 'resolved')[0], 30_000);
    expect(resolved.problems).toEqual([]);
    const ra = (resolved.body as WebhookMessage).alerts.find((a) => a.labels.alertname === RULE)!;
    expect(ra.status).toBe('resolved');
    expect(ra.labels).toEqual(fa.labels);
    expect(ra.fingerprint).toBe(fa.fingerprint);
    expect(ra.startsAt).toBe(fa.startsAt);
    expect(agg.output()).toContain('its rule was removed by the configuration');
  });
});
