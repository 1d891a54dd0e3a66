import type { Storage } from '../storage/types.js';
import type { RecordDecoder } from '../storage/record-decoder.js';
import type { AggregatorMetrics } from '../metrics.js';
import type { TokenAuth } from './auth.js';
import type { GroupStore } from '../topics/groups.js';
import type { TopicPolicy } from '../topics/policy.js';
import type { PayloadPool } from '../../lib/protocol/payload-pool.js';
import type { Logger } from '../../lib/obs/logger.js';
import type { PipelineSet } from '../pipelines/index.js';
import type { AlertsView } from '../alerts/engine.js';
import type { SinkReport } from '../sinks/runner.js';
import type { JsonIngestState } from './es-compat/state.js';
import type { AgentTable } from './agents.js';

/** What every route handler may use; built once by the aggregator. */
export interface ServerContext {
  storage: Storage;
  /** stored batches -> records (bounded, off-thread, unusable batches skipped and reported) */
  decoder: RecordDecoder;
  groups: GroupStore;
  metrics: AggregatorMetrics;
  auth: TokenAuth;
  logger: Logger;
  limits: { maxBodyBytes: number; maxDecompressedBatchBytes: number; maxDecompressedRequestBytes: number };
  topicPolicy: TopicPolicy;
  /** worker threads that inflate and check payloads (ingest) and split stored batches (reads) */
  payloads: PayloadPool;
  isReady: () => boolean;
  /** the alert engine's rules, groups and states (undefined: no alert rules) */
  alerts?: () => AlertsView | undefined;
  /** _bulk and produce: limits, request gate, idempotence window, metrics (absent: those routes answer 503) */
  jsonIngest?: JsonIngestState;
  /** record sinks: state, lag, figures (GET /v1/sinks) */
  sinks?: () => SinkReport[];
  /** The /metrics text when more than this process counts (ingest processes: their counters summed in); default the registry's. */
  renderMetrics?: () => Promise<string>;
  /** Refreshes state-derived gauges (offsets, consumer lag) just before /metrics is rendered. */
  beforeScrape?: () => void;
  /** the configured parsing pipelines, for GET .../records?parse=1 (aggregator/pipelines/) */
  pipelines?: PipelineSet;
  /** agents heard from: last batch, rates, reported buffer and lag (GET /v1/agents, the status page) */
  agents?: AgentTable;
}
