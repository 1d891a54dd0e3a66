/**
 * Issue 12 acceptance: a HighCPU metric rule with `for`, driven by real host-metric records from
 * a real agent whose host_metrics input reads a fake proc root. The test owns that proc root's
 * `stat` file and advances its cpu tick counters every 200 ms: at 5 % busy, then 95 %, then 5 %
 * again, so the agent's derived node_cpu_utilization goes low -> high -> low.
 *
 *  - low: the rule's group for the host is inactive, nothing is sent;
 *  - high: `logship alerts` shows it pending and the webhook has received nothing; then it fires,
 *    no earlier than `for` after the load went high (a lower bound a slow machine cannot break),
 *    and the receiver gets an Alertmanager-shaped "firing" message with alertname, host, severity;
 *  - low again: it is resolved ("resolved" message for the same alert) and no longer firing.
 *
 * The file is rewritten in place with fixed-width numbers (the input keeps /proc files open and
 * re-reads them from offset 0, so a rename would not be seen, and a size change could be read half
 * way through).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookReceiver } from '../fakes/webhook-receiver.js';
import { alertState, lastAlerts } from '../helpers/alerts.js';
import { killAll, makeStack, tempDir, waitFor, type Proc, type Stack } from '../helpers/procs.js';

const HOST = 'cpu-host';
const FOR_S = 8;

/** /proc/stat with two CPUs whose user and idle ticks the test advances. */
class FakeProcStat {
  readonly #fd: number;
  #user = 100_000;
  #idle = 100_000;
  #busyShare = 0.05;
  #timer: NodeJS.Timeout | undefined;

  constructor(path: string) {
    this.#fd = openSync(path, 'w+');
    this.#write();
  }

  set busy(share: number) {
    this.#busyShare = share;
  }

  start(): void {
    this.#timer = setInterval(() => {
      // 20 ticks per CPU per 200 ms step (USER_HZ 100), split by the busy share
      const busy = Math.round(20 * this.#busyShare);
      this.#user += busy;
      this.#idle += 20 - busy;
      this.#write();
    }, 200);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    closeSync(this.#fd);
  }

  #write(): void {
    const n = (v: number) => String(v).padStart(12, '0');
    const z = n(0);
    // user nice system idle iowait irq softirq steal guest guest_nice, in USER_HZ ticks
    const row = (name: string, k: number) => `${name} ${n(this.#user * k)} ${z} ${z} ${n(this.#idle * k)} ${z} ${z} ${z} ${z} ${z} ${z}\n`;
    const buf = Buffer.from(row('cpu ', 2) + row('cpu0', 1) + row('cpu1', 1) + 'ctxt 1\nbtime 1764000000\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n', 'latin1');
    writeSync(this.#fd, buf, 0, buf.length, 0);
  }
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let hook: WebhookReceiver;
let stat: FakeProcStat;
let stack: Stack;
let agg: Proc;

const outputs = () => `\n--- logship alerts ---\n${lastAlerts().slice(0, 4000)}\n--- aggregator ---\n${agg?.output().slice(-6000)}\n--- webhook ---\n${hook?.describe()}`;
const highcpu = (status: 'firing' | 'resolved') => hook.alerts().filter((a) => a.labels.alertname === 'HighCPU' && a.status === status);

beforeAll(async () => {
  tmp = await tempDir('logship-alerts-cpu-');
  hook = await WebhookReceiver.start();
  const procRoot = join(tmp.dir, 'proc');
  const sysRoot = join(tmp.dir, 'sys');
  await mkdir(procRoot);
  await mkdir(sysRoot);
  stat = new FakeProcStat(join(procRoot, 'stat'));
  stat.start();
  stack = await makeStack(tmp.dir, [{ type: 'host_metrics', topic: 'metrics', interval: '1s', proc_root: procRoot, sys_root: sysRoot, rootfs: tmp.dir }], {
    agent: { id: HOST },
    aggregator: {
      sinks: [{ name: 'hook', type: 'webhook', url: `${hook.url}/alerts` }],
      alerts: [
        {
          name: 'HighCPU',
          metric: 'node_cpu_utilization',
          above: 0.9,
          for: `${FOR_S}s`,
          labels: { severity: 'warning' },
          annotations: { summary: '{{host}} CPU at {{value}}' },
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
  stat?.close();
  await hook?.close();
  await tmp?.cleanup();
});

describe('HighCPU with for', () => {
  it('inactive at 5 % busy; pending, then firing no earlier than `for` at 95 %; resolved at 5 % again', async () => {
    await waitFor(() => `logship alerts to list HighCPU for ${HOST}${outputs()}`, async () => (await alertState(stack.aggUrl, 'HighCPU', HOST)) === 'inactive', 60_000, 500);
    expect(hook.deliveries()).toEqual([]);

    const highAt = Date.now();
    stat.busy = 0.95;
    await waitFor(() => `HighCPU pending for ${HOST}${outputs()}`, async () => (await alertState(stack.aggUrl, 'HighCPU', HOST)) === 'pending', 30_000, 200);
    expect(highcpu('firing')).toEqual([]);

    const firing = await hook.waitFor(`a firing HighCPU message${outputs()}`, () => highcpu('firing')[0], (FOR_S + 30) * 1000);
    console.log(`HighCPU fired ${firing.at - highAt} ms after the load went high (for: ${FOR_S}s)`);
    expect(firing.at - highAt).toBeGreaterThanOrEqual(FOR_S * 1000);
    expect(firing.labels).toMatchObject({ alertname: 'HighCPU', host: HOST, severity: 'warning' });
    expect(firing.annotations.summary).toMatch(new RegExp(`^${HOST} CPU at 0?\\.9\\d*|^${HOST} CPU at 9\\d`));
    expect(await alertState(stack.aggUrl, 'HighCPU', HOST)).toBe('firing');

    const lowAt = Date.now();
    stat.busy = 0.05;
    const resolved = await hook.waitFor(`a resolved HighCPU message${outputs()}`, () => highcpu('resolved')[0], 30_000);
    expect(resolved.at).toBeGreaterThan(lowAt);
    expect(resolved.fingerprint).toBe(firing.fingerprint);
    expect(resolved.labels).toEqual(firing.labels);
    expect(Date.parse(resolved.endsAt)).toBeGreaterThan(Date.parse(resolved.startsAt));
    expect(await alertState(stack.aggUrl, 'HighCPU', HOST)).not.toBe('firing');
    expect(hook.deliveries().flatMap((d) => d.problems)).toEqual([]);
  });
});
