/** The agent's own Prometheus metrics (one registry per agent instance). */
import { Counter, Gauge, Registry } from './metrics-registry.js';

export function createAgentMetrics() {
  const registry = new Registry();
  // Process and V8 figures, computed when scraped: no timer of their own on an idle agent.
  registry.collectDefaults('logship_agent_');
  const r = [registry];
  return {
    registry,
    linesRead: new Counter({ name: 'logship_agent_lines_read_total', help: 'Lines read from inputs', labelNames: ['input'], registers: r }),
    bytesRead: new Counter({ name: 'logship_agent_bytes_read_total', help: 'Bytes read from inputs', labelNames: ['input'], registers: r }),
    batchesSent: new Counter({ name: 'logship_agent_batches_sent_total', help: 'Batches acknowledged by the aggregator', registers: r }),
    linesSent: new Counter({ name: 'logship_agent_lines_sent_total', help: 'Lines acknowledged by the aggregator', registers: r }),
    retries: new Counter({ name: 'logship_agent_retries_total', help: 'Failed delivery attempts by reason', labelNames: ['reason'], registers: r }),
    droppedBatches: new Counter({ name: 'logship_agent_dropped_batches_total', help: 'Batches dropped by buffer.when_full: drop_oldest', registers: r }),
    droppedLines: new Counter({ name: 'logship_agent_dropped_lines_total', help: 'Lines dropped by buffer.when_full: drop_oldest', registers: r }),
    rejectedBatches: new Counter({ name: 'logship_agent_rejected_batches_total', help: 'Batches the aggregator rejected as malformed (saved under data_dir/rejected)', registers: r }),
    truncations: new Counter({ name: 'logship_agent_truncations_total', help: 'Files found truncated', registers: r }),
    statusRefused: new Counter({
      name: 'logship_agent_status_connections_refused_total',
      help: 'Connections to the status listener closed as they were accepted because 64 were open',
      registers: r,
    }),
    rotations: new Counter({ name: 'logship_agent_rotations_total', help: 'Files renamed, deleted or replaced while tailed', registers: r }),
    splitLines: new Counter({ name: 'logship_agent_split_lines_total', help: 'Lines longer than max_line_bytes shipped in flagged parts', registers: r }),
    filesOpen: new Gauge({ name: 'logship_agent_files_open', help: 'Files currently open', registers: r }),
    bufferReadBacks: new Counter({
      name: 'logship_agent_buffer_read_back_batches_total',
      help: 'Batches sent from the disk buffer\'s files (read back) because they had left its in-memory cache of recent batches',
      registers: r,
    }),
    bufferBytes: new Gauge({ name: 'logship_agent_buffer_bytes', help: 'Bytes in the disk buffer', registers: r }),
    deliveryState: new Gauge({
      name: 'logship_agent_delivery_state',
      help: 'Delivery state, 1 for the current one: ok, waiting_on_aggregator (backlog or full buffer waiting for acknowledgements), stuck (nothing to wait on: a bug, see the error log)',
      labelNames: ['state'],
      registers: r,
    }),
    bufferUnacked: new Gauge({ name: 'logship_agent_buffer_unacked_batches', help: 'Buffered batches not yet acknowledged', registers: r }),
    bufferMaxBytes: new Gauge({ name: 'logship_agent_buffer_max_bytes', help: 'buffer.max_bytes: the bound of the disk buffer', registers: r }),
    oldestUnackedAge: new Gauge({
      name: 'logship_agent_oldest_unacked_age_seconds',
      help: 'Age of the oldest buffered batch not yet acknowledged by the aggregator (0 when everything is acknowledged)',
      registers: r,
    }),
  };
}

export type AgentMetrics = ReturnType<typeof createAgentMetrics>;
