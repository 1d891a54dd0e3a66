/**
 * Parity of the host_metrics input with the real node_exporter (Debian
 * bookworm's `prometheus-node-exporter`, 1.5.0) on this machine.
 *
 * The test starts its own node_exporter on 127.0.0.1:<free port> with only
 * the collectors we reimplement, and with upstream node_exporter 1.5.0's
 * default exclusions passed explicitly (Debian patches two defaults: it adds
 * /run, /mnt, /media to the mount-point exclusion and excludes `lo` from
 * netdev; we follow upstream, see docs/host-metrics.md). Then it scrapes
 * us (A), node_exporter, us again (B) and checks:
 *  - the same metric families, types and HELP texts, and per family the same
 *    label sets (series identities), except the documented gaps below;
 *  - exact equality for fixed values (MemTotal, SwapTotal, filesystem sizes
 *    and inode totals, boot time, ...);
 *  - counters bracketed: A <= node_exporter <= B (CPU seconds get 0.1 s of
 *    slack because the kernel's iowait may step back).
 * The exporter is stopped by PID in afterAll. If the binary is missing the
 * test fails and says to run deploy/test-deps.sh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DISK_DEVICE_EXCLUDE,
  DEFAULT_FS_TYPES_EXCLUDE,
  DEFAULT_MOUNT_POINTS_EXCLUDE,
  HostMetricsInput,
  renderPrometheus,
  type Metric,
} from '../../agent/inputs/host-metrics/index.js';
import { parsePromText, seriesKey, type PromFamily } from '../helpers/prom-text.js';

const BINARY_NAME = 'prometheus-node-exporter';

/** Families node_exporter's time collector has and we do not (documented). */
const KNOWN_MISSING = new Set(['node_time_zone_offset_seconds', 'node_time_clocksource_available_info', 'node_time_clocksource_current_info']);
/** node_exporter's own metadata. */
const NE_SELF = /^(node_scrape_collector_|node_exporter_build_info$|go_|process_|promhttp_)/;
/** Ours only (documented): derived utilization, uptime, per-collector error counters. */
const OURS_ONLY = new Set(['node_cpu_utilization', 'logship_host_uptime_seconds', 'logship_host_metrics_collector_errors_total']);

function findBinary(): string {
  const explicit = process.env.NODE_EXPORTER_BIN;
  const candidates = explicit ? [explicit] : [...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, BINARY_NAME)), `/usr/bin/${BINARY_NAME}`];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(
    `${BINARY_NAME} not found (looked in PATH and /usr/bin${explicit ? `, NODE_EXPORTER_BIN=${explicit}` : ''}). ` +
      'The host-metrics parity test needs the real node_exporter: run deploy/test-deps.sh (it apt-get installs prometheus-node-exporter and prometheus).',
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

let child: ChildProcess | undefined;
let url = '';
let stderr = '';

async function startExporter(): Promise<void> {
  const bin = findBinary();
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    stderr = '';
    const args = [
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.disable-exporter-metrics',
      '--collector.disable-defaults',
      '--collector.cpu',
      '--collector.meminfo',
      '--collector.loadavg',
      '--collector.filesystem',
      '--collector.diskstats',
      '--collector.netdev',
      '--collector.stat',
      '--collector.time',
      // upstream 1.5.0 defaults (= ours), not Debian's patched ones
      `--collector.filesystem.mount-points-exclude=${DEFAULT_MOUNT_POINTS_EXCLUDE.source}`,
      `--collector.filesystem.fs-types-exclude=${DEFAULT_FS_TYPES_EXCLUDE.source}`,
      `--collector.diskstats.device-exclude=${DEFAULT_DISK_DEVICE_EXCLUDE.source}`,
      '--collector.netdev.device-exclude=',
      '--path.procfs=/proc',
      '--path.sysfs=/sys',
      '--path.rootfs=/',
    ];
    const c = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let exited = false;
    c.once('exit', () => (exited = true));
    url = `http://127.0.0.1:${port}/metrics`;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !exited) {
      try {
        const r = await fetch(url);
        if (r.ok) {
          await r.text();
          return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await stopExporter();
    if (!/address already in use/.test(stderr)) break;
  }
  throw new Error(`node_exporter did not come up on ${url}. stderr:\n${stderr}`);
}

async function stopExporter(): Promise<void> {
  const c = child;
  child = undefined;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

function byName(families: PromFamily[]): Map<string, PromFamily> {
  return new Map(families.map((f) => [f.name, f]));
}

function index(metrics: Metric[]): Map<string, number> {
  return new Map(metrics.map((m) => [seriesKey(m.name, m.labels), m.value]));
}

let ne: PromFamily[];
let a: Metric[];
let b: Metric[];
let aTs = 0;
let bTs = 0;
/** A setup failure (e.g. node_exporter missing) fails every test with its message, rather than skipping them. */
let setupError: Error | undefined;

function ready(): void {
  if (setupError) throw setupError;
}

beforeAll(async () => {
  try {
    await setup();
  } catch (err) {
    setupError = err as Error;
  }
}, 60_000);

async function setup(): Promise<void> {
  await startExporter();
  const input = new HostMetricsInput({ name: 'parity', topic: 'metrics', interval: 10_000, procRoot: '/proc', sysRoot: '/sys', rootfs: '/', onScrape() {} });
  await input.scrape(); // warm (JIT, fds)
  const sa = await input.scrape();
  const text = await (await fetch(url)).text();
  const sb = await input.scrape();
  await input.close();
  ne = parsePromText(text).filter((f) => !NE_SELF.test(f.name));
  a = sa.metrics;
  b = sb.metrics;
  aTs = sa.timestamp;
  bTs = sb.timestamp;
  // our own rendering must parse with the same strict parser
  parsePromText(renderPrometheus(a));
}

afterAll(async () => {
  await stopExporter();
});

describe('host_metrics vs node_exporter 1.5.0 on this machine', () => {
  it('the same metric families (names), with the same TYPE and HELP', () => {
    ready();
    const ours = byName(parsePromText(renderPrometheus(a)));
    const theirs = byName(ne);
    const oursNames = [...ours.keys()].filter((n) => !OURS_ONLY.has(n)).sort();
    const theirNames = [...theirs.keys()].filter((n) => !KNOWN_MISSING.has(n)).sort();
    expect(oursNames).toEqual(theirNames);
    for (const n of theirNames) {
      expect({ n, type: ours.get(n)!.type, help: ours.get(n)!.help }).toEqual({ n, type: theirs.get(n)!.type, help: theirs.get(n)!.help });
    }
    // sanity: the collectors really produced data here
    for (const n of ['node_cpu_seconds_total', 'node_memory_MemTotal_bytes', 'node_load1', 'node_filesystem_size_bytes', 'node_disk_reads_completed_total', 'node_network_receive_bytes_total', 'node_boot_time_seconds', 'node_time_seconds']) {
      expect(theirNames).toContain(n);
    }
  });

  it('the same label sets, series by series', () => {
    ready();
    const ours = new Set(a.filter((m) => !OURS_ONLY.has(m.name)).map((m) => seriesKey(m.name, m.labels)));
    const theirs = new Set(ne.filter((f) => !KNOWN_MISSING.has(f.name)).flatMap((f) => f.samples.map((s) => seriesKey(s.name, s.labels))));
    expect([...ours].filter((k) => !theirs.has(k)).sort(), 'series only we have').toEqual([]);
    expect([...theirs].filter((k) => !ours.has(k)).sort(), 'series only node_exporter has').toEqual([]);
  });

  it('fixed values are equal: memory totals, filesystem sizes and inodes, boot time, info series', () => {
    ready();
    const ours = index(a);
    const exact = /^(node_memory_(MemTotal|SwapTotal|VmallocTotal|Hugepagesize)_bytes|node_memory_HugePages_Total|node_filesystem_(size_bytes|files|readonly|device_error)|node_boot_time_seconds|node_disk_info|node_cpu_core_throttles_total|node_cpu_package_throttles_total)$/;
    let n = 0;
    for (const f of ne) {
      if (!exact.test(f.name)) continue;
      for (const s of f.samples) {
        expect({ series: seriesKey(s.name, s.labels), value: ours.get(seriesKey(s.name, s.labels)) }).toEqual({ series: seriesKey(s.name, s.labels), value: s.value });
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(8);
  });

  it('counters lie between our scrape before and our scrape after node_exporter\'s', () => {
    ready();
    const before = index(a);
    const after = index(b);
    let n = 0;
    for (const f of ne) {
      if (f.type !== 'counter') continue;
      const slack = f.name === 'node_cpu_seconds_total' || f.name === 'node_cpu_guest_seconds_total' ? 0.1 : 0;
      for (const s of f.samples) {
        const k = seriesKey(s.name, s.labels);
        const lo = before.get(k)!;
        const hi = after.get(k)!;
        expect(lo, k).toBeDefined();
        if (!(lo - slack <= s.value && s.value <= hi + slack)) {
          throw new Error(`${k}: node_exporter ${s.value} not within [${lo}, ${hi}] (slack ${slack})`);
        }
        n++;
      }
    }
    expect(n).toBeGreaterThan(50);
    const t = ne.find((f) => f.name === 'node_time_seconds')!.samples[0]!.value;
    expect(t).toBeGreaterThanOrEqual(aTs / 1000 - 0.01);
    expect(t).toBeLessThanOrEqual(bTs / 1000 + 0.01);
  });

  it('gauges that move are plausible: load within 1 of ours, MemAvailable within 5% of ours', () => {
    ready();
    const ours = index(a);
    const v = (name: string) => ne.find((f) => f.name === name)!.samples[0]!.value;
    for (const l of ['node_load1', 'node_load5', 'node_load15']) expect(Math.abs(v(l) - ours.get(`${l}{}`)!)).toBeLessThanOrEqual(1);
    const avail = v('node_memory_MemAvailable_bytes');
    expect(Math.abs(avail - ours.get('node_memory_MemAvailable_bytes{}')!) / avail).toBeLessThan(0.05);
    expect(ours.get('node_cpu_utilization{}')).toBeGreaterThanOrEqual(0);
    expect(ours.get('node_cpu_utilization{}')).toBeLessThanOrEqual(1);
  });
});
