/** The aggregator's Prometheus metrics (one registry per aggregator instance). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createAggregatorMetrics(defaults = true) {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'logship_aggregator_' });
  const m = {
    registry,
    requests: new Counter({ name: 'logship_aggregator_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry] }),
    appendedBytes: new Counter({ name: 'logship_aggregator_appended_bytes_total', help: 'Stored (compressed) bytes appended per topic', labelNames: ['topic'], registers: [registry] }),
    appendedRecords: new Counter({ name: 'logship_aggregator_appended_records_total', help: 'Records appended per topic', labelNames: ['topic'], registers: [registry] }),
    appendedBatches: new Counter({ name: 'logship_aggregator_appended_batches_total', help: 'Batches appended per topic', labelNames: ['topic'], registers: [registry] }),
    dedupHits: new Counter({ name: 'logship_aggregator_dedup_hits_total', help: 'Re-sent batches acknowledged without being stored again', labelNames: ['topic'], registers: [registry] }),
    badRequests: new Counter({ name: 'logship_aggregator_bad_requests_total', help: 'Rejected requests by reason type', labelNames: ['type'], registers: [registry] }),
    ingestLatency: new Histogram({ name: 'logship_aggregator_ingest_seconds', help: 'Time from request end to durable acknowledgement', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    retentionDeleted: new Counter({ name: 'logship_aggregator_retention_deleted_bytes_total', help: 'Bytes deleted by retention', registers: [registry] }),
    retentionSegments: new Counter({ name: 'logship_aggregator_retention_deleted_segments_total', help: 'Segments deleted by retention', registers: [registry] }),
    groupLag: new Gauge({ name: 'logship_aggregator_consumer_lag_records', help: 'Records between a group\'s committed offset and the partition end', labelNames: ['group', 'topic', 'partition'], registers: [registry] }),
  };
  return m;
}

export type AggregatorMetrics = ReturnType<typeof createAggregatorMetrics>;
