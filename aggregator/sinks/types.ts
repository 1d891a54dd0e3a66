/**
 * The sink seam. A sink is a consumer group over the stored log: the
 * SinkRunner (runner.ts) runs one Consumer per topic the sink reads, with the
 * group `sink-<name>`, and commits the cursor only after deliver() resolves.
 * deliver() rejecting means "retry these" (with backoff); it must not resolve
 * before the records are safely delivered. A sink that receives alerts rather
 * than records says so with `alerts: true` in its definition.
 */
import type { OptionTable } from '../../lib/config/option-table.js';
import type { PipelineSet } from '../pipelines/index.js';
import type { Logger } from '../../lib/obs/logger.js';
import type { Delivery } from '../consumer/index.js';
import type { BatchDecoder } from '../storage/record-decoder.js';
import type { AggregatorMetrics } from '../metrics.js';
import type { PlainItem } from '../storage/types.js';

export interface SinkHealth {
  ok: boolean;
  /** why not ok (shown by /readyz-like checks and logs) */
  reason?: string;
}

export interface Sink {
  start(): Promise<void>;
  /** Resolves once the records are delivered; rejecting retries them. */
  deliver(d: Delivery): Promise<void>;
  /** Its own decoding of stored batches; deliver() then gets Delivery.decoded (see ConsumerOptions.decode). */
  decode?: BatchDecoder;
  /** Graceful and idempotent. */
  close(): Promise<void>;
  health(): SinkHealth;
  /** What `GET /v1/sinks` and `logship sinks` show beside health (counts, last error); JSON-safe. */
  status?(): Record<string, unknown>;
  /** Ends retries in progress: deliveries in flight reject (their records stay uncommitted). Called on shutdown. */
  abort?(): void;
}

/** A configured sink: the keys of its table plus `type` and `name`. */
export interface SinkConfigBase {
  type: string;
  name: string;
  /** topics the sink consumes (record sinks) */
  topics?: string[];
}

export interface SinkContext {
  logger: Logger;
  /** the aggregator's metrics (the logship_aggregator_sink_* ones carry the sink's name) */
  metrics?: AggregatorMetrics;
  /** Appends records to a topic (created if needed), no producer; resolves once durable. For dead letters. */
  appendPlain?: (topic: string, items: PlainItem[]) => Promise<void>;
  /** the aggregator's parsing pipelines (aggregator/pipelines/), for sinks that build documents */
  pipelines?: PipelineSet;
}

export interface SinkDefinition {
  type: string;
  /** its option table (without `type`, which the union adds) */
  options: OptionTable;
  /** alert sinks take notifications from the alert engine, not records */
  alerts?: boolean;
  /** undefined: configurable, but not implemented in this version (it does not run) */
  create?: (config: SinkConfigBase, ctx: SinkContext) => Sink;
  /** About how many bytes of messages one delivery holds (the consumer's fetch size); default 1 MiB. */
  fetchMaxBytes?: number;
}
