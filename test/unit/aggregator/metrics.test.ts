/**
 * The aggregator's metrics across instances in one process (a SIGHUP makes a new instance): node's
 * process metrics are collected once per process and shared, so no instance's registry is kept
 * alive by the event-loop monitor and GC observer of collectDefaultMetrics, which cannot be stopped.
 * Each instance still exports them, and its own counters stay its own.
 */
import { describe, expect, it } from 'vitest';
import { createAggregatorMetrics } from '../../../aggregator/metrics.js';

describe('createAggregatorMetrics', () => {
  it('shares the process metrics between instances and keeps the rest per instance', async () => {
    const a = createAggregatorMetrics();
    const b = createAggregatorMetrics();
    for (const name of ['logship_aggregator_nodejs_eventloop_lag_seconds', 'logship_aggregator_nodejs_gc_duration_seconds', 'logship_aggregator_process_cpu_seconds_total', 'logship_aggregator_nodejs_heap_size_used_bytes']) {
      const ma = a.registry.getSingleMetric(name);
      expect(ma, name).toBeDefined();
      expect(b.registry.getSingleMetric(name), name).toBe(ma);
    }
    expect(b.registry.getSingleMetric('logship_aggregator_requests_total')).not.toBe(a.registry.getSingleMetric('logship_aggregator_requests_total'));
    a.requests.inc({ route: '/x', status: '200' });
    const textA = await a.registry.metrics();
    const textB = await b.registry.metrics();
    expect(textA).toMatch(/^logship_aggregator_requests_total\{route="\/x",status="200"\} 1$/m);
    expect(textB).not.toMatch(/^logship_aggregator_requests_total\{/m);
    for (const text of [textA, textB]) expect(text).toMatch(/^logship_aggregator_process_cpu_seconds_total \S+$/m);
    // a sink's metrics without the defaults (createAggregatorMetrics(false)) export none of them
    expect(await createAggregatorMetrics(false).registry.metrics()).not.toMatch(/process_cpu_seconds_total/);
  });
});
