/**
 * CPU cost of a scrape on the real /proc and /sys of this machine:
 * process.cpuUsage (user+system, all threads incl. the libuv pool doing
 * statfs) over 1000 scrapes. Budget: well under 1 ms per scrape.
 */
import { describe, expect, it } from 'vitest';
import { HostMetricsInput } from '../../../../../agent/inputs/host-metrics/index.js';

const SCRAPES = 1000;

describe('host_metrics CPU cost', () => {
  it(`costs well under 1 ms of CPU per scrape (${SCRAPES} scrapes of the real /proc)`, async () => {
    const input = new HostMetricsInput({ name: 'h', topic: 't', interval: 1000, procRoot: '/proc', sysRoot: '/sys', rootfs: '/', onScrape() {} });
    for (let i = 0; i < 300; i++) await input.scrape(); // warm up (JIT)
    const series = (await input.scrape()).metrics.length;
    const t0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < SCRAPES; i++) await input.scrape();
    const d = process.cpuUsage(t0);
    const wall = performance.now() - w0;
    const perScrapeMs = (d.user + d.system) / 1000 / SCRAPES;
    const line = `host_metrics: ${series} series/scrape; CPU per scrape ${perScrapeMs.toFixed(3)} ms (user ${(d.user / 1000 / SCRAPES).toFixed(3)} ms, system ${(d.system / 1000 / SCRAPES).toFixed(3)} ms); wall ${(wall / SCRAPES).toFixed(3)} ms`;
    console.log(line);
    expect(perScrapeMs, line).toBeLessThan(1);
  });
});
