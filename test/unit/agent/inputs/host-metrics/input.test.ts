import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COLLECTOR_ERRORS_METRIC, COLLECTORS, HostMetricsInput, type Metric } from '../../../../../agent/inputs/host-metrics/index.js';
import type { Logger } from '../../../../../lib/obs/logger.js';
import { FIXTURES, find, names, val } from './helpers.js';

interface LogCall { level: string; obj: Record<string, unknown>; msg: string }
function recordingLogger(): { logger: Logger; calls: LogCall[] } {
  const calls: LogCall[] = [];
  const mk = (level: string) => (obj: Record<string, unknown>, msg: string) => void calls.push({ level, obj, msg });
  return { logger: { warn: mk('warn'), info: mk('info'), debug: mk('debug'), error: mk('error') } as unknown as Logger, calls };
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'logship-hm-'));
  cpSync(join(FIXTURES, 'linux-4.19-baremetal'), tmp, { recursive: true });
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(tmp, { recursive: true, force: true });
});

const base = () => ({ name: 'host', topic: 'metrics', interval: 1000, procRoot: join(tmp, 'proc'), sysRoot: join(tmp, 'sys'), rootfs: join(tmp, 'rootfs'), onScrape: () => {} });
const NO_FS = ['cpu', 'meminfo', 'loadavg', 'diskstats', 'netdev', 'stat', 'time'] as const;

function setCpuLines(lines: string[]): void {
  const stat = readFileSync(join(tmp, 'proc/stat'), 'latin1').split('\n');
  const rest = stat.filter((l) => !l.startsWith('cpu'));
  writeFileSync(join(tmp, 'proc/stat'), [...lines, ...rest].join('\n'));
}

describe('HostMetricsInput: collector failures', () => {
  it('a missing file fails only its collector, warned once with the file and what to do, counted every time', async () => {
    unlinkSync(join(tmp, 'proc/meminfo'));
    const { logger, calls } = recordingLogger();
    const input = new HostMetricsInput({ ...base(), logger, collectors: NO_FS });
    for (let i = 0; i < 3; i++) await input.scrape();
    const m = input.latest()!.metrics;
    expect(m.some((x) => x.name.startsWith('node_memory_'))).toBe(false);
    expect(val(m, 'node_load1')).toBe(1.73);
    expect(val(m, 'logship_host_metrics_collector_errors_total', { collector: 'meminfo' })).toBe(3);
    expect(val(m, 'logship_host_metrics_collector_errors_total', { collector: 'cpu' })).toBe(0);
    expect(find(m, 'logship_host_metrics_collector_errors_total').map((x) => x.labels.collector)).toEqual([...NO_FS]);
    const warns = calls.filter((c) => c.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.obj).toMatchObject({ collector: 'meminfo', code: 'ENOENT', file: join(tmp, 'proc/meminfo') });
    expect(warns[0]!.msg).toContain(join(tmp, 'proc/meminfo'));
    expect(warns[0]!.msg).toMatch(/proc_root .* sys_root/);
    // recovery is logged once, the counter keeps its value
    writeFileSync(join(tmp, 'proc/meminfo'), 'MemTotal: 1 kB\n');
    const again = (await input.scrape()).metrics;
    expect(val(again, 'node_memory_MemTotal_bytes')).toBe(1024);
    expect(val(again, 'logship_host_metrics_collector_errors_total', { collector: 'meminfo' })).toBe(3);
    expect(calls.filter((c) => c.level === 'info' && c.obj.collector === 'meminfo')).toHaveLength(1);
  });

  it('a garbled file drops that collector\'s partial output (no half families)', async () => {
    writeFileSync(join(tmp, 'proc/loadavg'), 'garbage\n');
    const { logger, calls } = recordingLogger();
    const { metrics: m } = await new HostMetricsInput({ ...base(), logger, collectors: ['loadavg', 'stat'] }).scrape();
    expect(names(m).has('node_load1')).toBe(false);
    expect(val(m, 'node_boot_time_seconds')).toBe(1546300800);
    expect(calls.filter((c) => c.level === 'warn')[0]!.msg).toMatch(/loadavg.*unexpected/);
  });

  it('works with procRoot pointing at nothing: every collector fails, scrape still resolves', async () => {
    const { logger, calls } = recordingLogger();
    const input = new HostMetricsInput({ ...base(), procRoot: join(tmp, 'nope'), logger });
    const { metrics: m } = await input.scrape();
    // no collector's series at all (not even the half a collector emitted before it failed):
    // only the error counter, once per collector, each counting this one failed scrape
    expect([...names(m)]).toEqual([COLLECTOR_ERRORS_METRIC]);
    expect(find(m, COLLECTOR_ERRORS_METRIC).map((x) => [x.labels.collector, x.value])).toEqual(COLLECTORS.map((c) => [c, 1]));
    const warned = calls.filter((c) => c.level === 'warn').map((c) => c.obj.collector);
    expect([...new Set(warned)].sort()).toEqual([...COLLECTORS].sort());
  });
});

describe('HostMetricsInput: cpu counters and node_cpu_utilization', () => {
  it('utilization is the non-idle share over the last interval, across all CPUs', async () => {
    setCpuLines(['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 100 0 0 100 0 0 0 0 0 0', 'cpu1 0 0 0 200 0 0 0 0 0 0']);
    const input = new HostMetricsInput({ ...base(), collectors: ['cpu'] });
    expect(val((await input.scrape()).metrics, 'node_cpu_utilization')).toBe(0.25); // since boot: 100 of 400 ticks
    setCpuLines(['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 150 0 0 150 0 0 0 0 0 0', 'cpu1 0 0 0 500 0 0 0 0 0 0']);
    expect(val((await input.scrape()).metrics, 'node_cpu_utilization')).toBeCloseTo(0.125, 12); // 50 busy of 400
    // iowait, irq, softirq, steal, system and nice are busy time too
    setCpuLines(['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 150 10 10 150 10 10 10 10 0 0', 'cpu1 0 0 0 540 0 0 0 0 0 0']);
    expect(val((await input.scrape()).metrics, 'node_cpu_utilization')).toBeCloseTo(0.6, 12);
    // no tick elapsed: keep the last value
    expect(val((await input.scrape()).metrics, 'node_cpu_utilization')).toBeCloseTo(0.6, 12);
  });

  it('never goes backwards (iowait dips are ignored), but a big idle drop (hot-plug) resets that CPU', async () => {
    setCpuLines(['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 1000 0 0 100000 500 0 0 0 0 0', 'cpu1 1000 0 0 100000 500 0 0 0 0 0']);
    const input = new HostMetricsInput({ ...base(), collectors: ['cpu'] });
    await input.scrape();
    setCpuLines(['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 1001 0 0 100001 490 0 0 0 0 0', 'cpu1 5 0 0 200 1 0 0 0 0 0']);
    const m: Metric[] = (await input.scrape()).metrics;
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'iowait' })).toBe(5); // kept, not 4.9
    expect(val(m, 'node_cpu_seconds_total', { cpu: '0', mode: 'user' })).toBe(10.01);
    expect(val(m, 'node_cpu_seconds_total', { cpu: '1', mode: 'idle' })).toBe(2); // reset after hot-plug
    expect(val(m, 'node_cpu_seconds_total', { cpu: '1', mode: 'iowait' })).toBe(0.01);
    // a CPU going offline disappears
    setCpuLines(['cpu  0 0 0 0 0 0 0 0 0 0', 'cpu0 1002 0 0 100002 490 0 0 0 0 0']);
    const m2 = (await input.scrape()).metrics;
    expect([...new Set(find(m2, 'node_cpu_seconds_total').map((x) => x.labels.cpu))]).toEqual(['0']);
  });
});

describe('HostMetricsInput: scheduling', () => {
  it('ticks at start + k*interval even when scrapes take time, and skips missed ticks', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(1_000_000);
    let lag = 0;
    const stamps: number[] = [];
    const input = new HostMetricsInput({
      ...base(),
      collectors: ['loadavg'],
      clock: () => Date.now() + lag,
      onScrape: (s) => {
        stamps.push(s.timestamp - 1_000_000);
        // each scrape "takes" 150 ms of clock time; the 2nd one takes 2.5 s
        lag += stamps.length === 2 ? 2500 : 150;
      },
    });
    input.start();
    input.start(); // idempotent
    for (let i = 0; i < 60 && stamps.length < 6; i++) await vi.advanceTimersByTimeAsync(100);
    await input.close();
    expect(stamps).toEqual([0, 1000, 4000, 5000, 6000, 7000]);
    const n = stamps.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(stamps).toHaveLength(n); // closed: no more scrapes
    expect(input.latest()!.timestamp - 1_000_000).toBe(7000);
  });

  it('close() waits for the scrape in progress; an onScrape that throws is logged, not fatal', async () => {
    const { logger, calls } = recordingLogger();
    let n = 0;
    const input = new HostMetricsInput({ ...base(), interval: 20, logger, collectors: ['loadavg'], onScrape: () => { n++; throw new Error('boom'); } });
    input.start();
    await new Promise((r) => setTimeout(r, 70));
    await input.close();
    expect(n).toBeGreaterThanOrEqual(2);
    expect(calls.some((c) => c.level === 'error' && /onScrape/.test(c.msg))).toBe(true);
  });

  it('rejects a non-positive interval', () => {
    expect(() => new HostMetricsInput({ ...base(), interval: 0 })).toThrow(/interval/);
  });
});
