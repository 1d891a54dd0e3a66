/** The journald inputs' Prometheus metrics, on the agent's registry (labelled by input). */
import { Counter, Gauge, type Registry } from '../../metrics-registry.js';

export function createJournaldMetrics(registry: Registry) {
  const r = [registry];
  return {
    entries: new Counter({ name: 'logship_agent_journald_entries_total', help: 'Journal entries read, shipped or filtered out', labelNames: ['input'], registers: r }),
    filtered: new Counter({ name: 'logship_agent_journald_filtered_entries_total', help: 'Journal entries not shipped by units, exclude_units, identifiers, priority or include_kernel', labelNames: ['input'], registers: r }),
    restarts: new Counter({ name: 'logship_agent_journald_reader_restarts_total', help: 'journalctl child processes that ended and were started again (capped backoff)', labelNames: ['input'], registers: r }),
    up: new Gauge({ name: 'logship_agent_journald_reader_up', help: '1 while the journalctl child runs', labelNames: ['input'], registers: r }),
    gaps: new Counter({ name: 'logship_agent_journald_gaps_total', help: 'Restarts that could not continue right after the stored cursor (entries vacuumed, cursor unusable)', labelNames: ['input'], registers: r }),
    gapEntries: new Counter({ name: 'logship_agent_journald_gap_entries_total', help: 'Journal entries known lost between the stored cursor and the oldest entry kept (seqnum difference)', labelNames: ['input'], registers: r }),
    errors: new Counter({ name: 'logship_agent_journald_errors_total', help: 'Journal stream problems by kind: format (a malformed export stream), no_cursor (an entry without __CURSOR), truncated (a field cut at max_message_bytes), spawn', labelNames: ['input', 'kind'], registers: r }),
  };
}

export type JournaldMetrics = ReturnType<typeof createJournaldMetrics>;
