/** The agents table behind GET /v1/agents and the status page: rates, the status header, the bound. */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AgentTable } from '../../../../aggregator/server/agents.js';

const metric = async (r: Registry, name: string, labels: Record<string, string> = {}) => {
  const m = (await r.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((a, v) => a + Number(v.value), 0);
};

describe('agents table', () => {
  it('averages bytes and records per second over the whole seconds of the window', () => {
    let now = 1_000_000_000_000; // a whole second
    const t = new AgentTable({ now: () => now });
    for (let s = 0; s < 20; s++) {
      t.record('web-1', 'p1', 1000, 10, undefined);
      now += 1000;
    }
    const [a] = t.view();
    expect(a).toMatchObject({ host: 'web-1', producer: 'p1', bytes_per_second: 1000, records_per_second: 10, bytes_total: 20_000, records_total: 200, last_batch_age_seconds: 1 });
    expect(a!.buffer_bytes).toBeNull();
    // Silent for longer than the window: the rates fall to zero, the totals stay.
    now += 30_000;
    expect(t.view()[0]).toMatchObject({ bytes_per_second: 0, records_per_second: 0, bytes_total: 20_000, last_batch_age_seconds: 31 });
  });

  it('a host heard for two seconds is averaged over those seconds, not the whole window', () => {
    let now = 2_000_000_000_000;
    const t = new AgentTable({ now: () => now });
    t.record('h', 'p', 500, 5, undefined);
    now += 1000;
    t.record('h', 'p', 500, 5, undefined);
    now += 1000;
    expect(t.view()[0]).toMatchObject({ bytes_per_second: 500, records_per_second: 5 });
  });

  it('keeps the status header values it knows and counts every other part', async () => {
    const registry = new Registry();
    const t = new AgentTable({ registry });
    t.record('h', 'p', 1, 1, 'buffer_bytes=1024; buffer_max_bytes=2147483648;unacked_batches=3;lag_bytes=0');
    expect(t.view()[0]).toMatchObject({ buffer_bytes: 1024, buffer_max_bytes: 2147483648, unacked_batches: 3, lag_bytes: 0 });
    t.record('h', 'p', 1, 1, 'buffer_bytes=-1;lag_bytes=12;color=red;junk;=5;unacked_batches=1e3;buffer_max_bytes=99999999999999999');
    expect(t.view()[0]).toMatchObject({ buffer_bytes: null, lag_bytes: 12, unacked_batches: null, buffer_max_bytes: null });
    expect(await metric(registry, 'logship_aggregator_agent_status_invalid_total', { reason: 'bad_value' })).toBe(3);
    expect(await metric(registry, 'logship_aggregator_agent_status_invalid_total', { reason: 'unknown_key' })).toBe(1);
    expect(await metric(registry, 'logship_aggregator_agent_status_invalid_total', { reason: 'bad_pair' })).toBe(2);
    t.record('h', 'p', 1, 1, `lag_bytes=1;${'x'.repeat(600)}`);
    expect(t.view()[0]!.lag_bytes).toBeNull();
    expect(await metric(registry, 'logship_aggregator_agent_status_invalid_total', { reason: 'too_long' })).toBe(1);
    // No header: what the agent said last stays.
    t.record('h', 'p', 1, 1, 'lag_bytes=7');
    t.record('h', 'p', 1, 1, undefined);
    expect(t.view()[0]!.lag_bytes).toBe(7);
  });

  it('is bounded: beyond maxHosts the host heard from longest ago goes, and is counted', async () => {
    const registry = new Registry();
    const t = new AgentTable({ registry, maxHosts: 3 });
    for (const h of ['a', 'b', 'c']) t.record(h, 'p', 1, 1, undefined);
    t.record('a', 'p', 1, 1, undefined); // a heard again: b is now the oldest
    t.record('d', 'p', 1, 1, undefined);
    expect(t.size).toBe(3);
    expect(t.view().map((x) => x.host)).toEqual(['d', 'a', 'c']);
    expect(await metric(registry, 'logship_aggregator_agents_evicted_total')).toBe(1);
    t.record('x'.repeat(10_000), 'p', 1, 1, undefined);
    expect(t.view()[0]!.host).toHaveLength(256);
  });
});
