/** The aggregator's Prometheus metrics (one registry per aggregator instance). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Node's process metrics (CPU, memory, heap, event-loop delay, GC), collected once per process and
 * registered into each aggregator instance's registry. collectDefaultMetrics cannot be stopped: its
 * event-loop delay monitor and GC observer stay live, and its metrics keep the registry they were
 * made with; made per instance, every SIGHUP (a new instance in the process) kept the whole
 * previous registry, ~370 KiB more for good each time (heap snapshots: 40 reloads, 40 registries).
 */
let processDefaults: Registry | undefined;

function processMetrics(): Registry {
  if (!processDefaults) {
    processDefaults = new Registry();
    collectDefaultMetrics({ register: processDefaults, prefix: 'logship_aggregator_', eventLoopMonitoringPrecision: 100 });
  }
  return processDefaults;
}

export function createAggregatorMetrics(defaults = true) {
  const registry = new Registry();
  if (defaults) {
    const shared = processMetrics();
    for (const { name } of shared.getMetricsAsArray()) {
      const metric = shared.getSingleMetric(name);
      if (metric) registry.registerMetric(metric);
    }
  }
  const m = {
    registry,
    requests: new Counter({ name: 'logship_aggregator_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers: [registry] }),
    appendedBytes: new Counter({ name: 'logship_aggregator_appended_bytes_total', help: 'Stored (compressed) bytes appended per topic', labelNames: ['topic'], registers: [registry] }),
    appendedRecords: new Counter({ name: 'logship_aggregator_appended_records_total', help: 'Records appended per topic', labelNames: ['topic'], registers: [registry] }),
    appendedBatches: new Counter({ name: 'logship_aggregator_appended_batches_total', help: 'Batches appended per topic', labelNames: ['topic'], registers: [registry] }),
    dedupHits: new Counter({ name: 'logship_aggregator_dedup_hits_total', help: 'Re-sent batches acknowledged without being stored again', labelNames: ['topic'], registers: [registry] }),
    producerFenced: new Counter({ name: 'logship_aggregator_producer_fenced_total', help: 'Batches refused (409) because their producer epoch is stale', labelNames: ['topic'], registers: [registry] }),
    refusedBatches: new Counter({
      name: 'logship_aggregator_refused_batches_total',
      help: 'Ingest requests refused because a batch failed a check, by check (header: fields/CRC, payload: inflated size or record count, limit: a size limit)',
      labelNames: ['check'],
      registers: [registry],
    }),
    readSkippedBatches: new Counter({
      name: 'logship_aggregator_read_skipped_batches_total',
      help: 'Stored batches readers skipped because their payload disagrees with their stored header (corruption or an older writer), per topic',
      labelNames: ['topic'],
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'logship_aggregator_connections_refused_total',
      help: 'Client connections closed as they were accepted because limits.max_connections were open in that process',
      registers: [registry],
    }),
    connectionsRefusedPerAddress: new Counter({
      name: 'logship_aggregator_connections_refused_per_address_total',
      help: 'Client connections closed as they were accepted because their client address (an IPv6 /64) already held limits.max_connections_per_address open in that process',
      registers: [registry],
    }),
    maxConnections: new Gauge({ name: 'logship_aggregator_max_connections', help: 'Client connections the listening processes hold open at most, together (limits.max_connections or its default, each)', registers: [registry] }),
    badRequests: new Counter({ name: 'logship_aggregator_bad_requests_total', help: 'Rejected requests by reason type', labelNames: ['type'], registers: [registry] }),
    ingestLatency: new Histogram({ name: 'logship_aggregator_ingest_seconds', help: 'Time from request end to durable acknowledgement', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    appendSeconds: new Histogram({
      name: 'logship_aggregator_append_fsync_seconds',
      help: 'Per partition append: write plus the group-commit fsync that covers it, per topic',
      labelNames: ['topic'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    appendFailures: new Counter({ name: 'logship_aggregator_append_failures_total', help: 'Appends that failed and were rolled back, by reason (disk_full, io)', labelNames: ['topic', 'reason'], registers: [registry] }),
    diskFull: new Gauge({ name: 'logship_aggregator_disk_full', help: '1 while the last append failed for lack of space (ingest answers 507), 0 once an append succeeds', registers: [registry] }),
    recoveryCutBytes: new Counter({ name: 'logship_aggregator_recovery_cut_bytes_total', help: 'Torn-tail bytes cut by recovery at open', labelNames: ['topic'], registers: [registry] }),
    quarantinedSegments: new Counter({ name: 'logship_aggregator_quarantined_segments_total', help: 'Corrupt segments moved aside by recovery at open', labelNames: ['topic'], registers: [registry] }),
    retentionDeleted: new Counter({ name: 'logship_aggregator_retention_deleted_bytes_total', help: 'Bytes deleted by retention', registers: [registry] }),
    retentionSegments: new Counter({ name: 'logship_aggregator_retention_deleted_segments_total', help: 'Segments deleted by retention', registers: [registry] }),
    partitionFirstOffset: new Gauge({ name: 'logship_aggregator_partition_first_offset', help: 'First stored offset per partition (set at scrape)', labelNames: ['topic', 'partition'], registers: [registry] }),
    partitionNextOffset: new Gauge({ name: 'logship_aggregator_partition_next_offset', help: 'Next offset (exclusive end) per partition (set at scrape)', labelNames: ['topic', 'partition'], registers: [registry] }),
    partitionBytes: new Gauge({ name: 'logship_aggregator_partition_bytes', help: 'Stored bytes per partition (set at scrape)', labelNames: ['topic', 'partition'], registers: [registry] }),
    sinkDocs: new Counter({
      name: 'logship_aggregator_sink_docs_total',
      help: 'Documents a sink finished with, by result (indexed, duplicate: already there (409), dead_lettered, dropped: rejected with no dead-letter topic)',
      labelNames: ['sink', 'result'],
      registers: [registry],
    }),
    sinkItemsRetried: new Counter({ name: 'logship_aggregator_sink_items_retried_total', help: 'Documents sent again after a failure, by HTTP status (item or whole request; 0: no answer)', labelNames: ['sink', 'status'], registers: [registry] }),
    sinkRequestSeconds: new Histogram({
      name: 'logship_aggregator_sink_request_seconds',
      help: 'Bulk request latency (send to full answer)',
      labelNames: ['sink'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    sinkBytesSent: new Counter({ name: 'logship_aggregator_sink_bytes_sent_total', help: 'Request body bytes sent (after gzip)', labelNames: ['sink'], registers: [registry] }),
    sinkInFlight: new Gauge({ name: 'logship_aggregator_sink_in_flight_requests', help: 'Bulk requests in flight', labelNames: ['sink'], registers: [registry] }),
    sinkConcurrency: new Gauge({ name: 'logship_aggregator_sink_concurrency_limit', help: 'The adaptive limit of bulk requests in flight', labelNames: ['sink'], registers: [registry] }),
    sinkRequestFailures: new Counter({ name: 'logship_aggregator_sink_request_failures_total', help: 'Whole bulk requests that failed and were retried, by status (0: no answer)', labelNames: ['sink', 'status'], registers: [registry] }),
    pipelineFailures: new Counter({ name: 'logship_aggregator_pipeline_failures_total', help: 'Records a pipeline step failed on (kept with tags _parse_failure), per pipeline and step', labelNames: ['pipeline', 'step'], registers: [registry] }),
    groupLag: new Gauge({ name: 'logship_aggregator_consumer_lag_records', help: 'Records between a group\'s committed offset and the partition end (set at scrape)', labelNames: ['group', 'topic', 'partition'], registers: [registry] }),
  };
  return m;
}

export type AggregatorMetrics = ReturnType<typeof createAggregatorMetrics>;
