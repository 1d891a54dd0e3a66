/** The alert engine's metrics, registered on the aggregator's registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** `beforeRead`: called when the registry reads the evaluations counter (the engine adds what it counted since). */
export function createAlertMetrics(registry: Registry, beforeRead?: () => void) {
  const r = [registry];
  return {
    evaluations: new Counter({
      name: 'logship_aggregator_alert_evaluations_total',
      help: 'Records evaluated, per rule',
      labelNames: ['rule'],
      registers: r,
      ...(beforeRead ? { collect: beforeRead } : {}),
    }),
    transitions: new Counter({ name: 'logship_aggregator_alert_transitions_total', help: 'State changes of alert groups, per rule and new state', labelNames: ['rule', 'to'], registers: r }),
    stale: new Counter({
      name: 'logship_aggregator_alert_stale_suppressed_total',
      help: 'Times a record older than the rule\'s max_age met the firing condition: no incident was opened (backlog guard)',
      labelNames: ['rule'],
      registers: r,
    }),
    groupLimit: new Counter({ name: 'logship_aggregator_alert_groups_refused_total', help: 'New alert groups refused because a rule has 10000 groups already', labelNames: ['rule'], registers: r }),
    groups: new Gauge({ name: 'logship_aggregator_alert_groups', help: 'Alert groups per rule and state (set at scrape)', labelNames: ['rule', 'state'], registers: r }),
    sent: new Counter({ name: 'logship_aggregator_alert_notifications_sent_total', help: 'Notifications a sink accepted', labelNames: ['sink'], registers: r }),
    failed: new Counter({ name: 'logship_aggregator_alert_notifications_failed_total', help: 'Notification attempts that failed (retried unless permanent)', labelNames: ['sink'], registers: r }),
    dropped: new Counter({ name: 'logship_aggregator_alert_notifications_dropped_total', help: 'Notifications dropped because a sink\'s queue was full', labelNames: ['sink'], registers: r }),
    latency: new Histogram({
      name: 'logship_aggregator_alert_notification_seconds',
      help: 'From a state change to its acceptance by the sink',
      labelNames: ['sink'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: r,
    }),
    routedAway: new Counter({
      name: 'logship_aggregator_alert_records_routed_away_total',
      help: 'Records a rule on parsed fields did not count because its pipeline routed them to none of the rule\'s sinks, or dropped them',
      labelNames: ['rule'],
      registers: r,
    }),
    stateWriteFailures: new Counter({ name: 'logship_aggregator_alert_state_write_failures_total', help: 'Failed writes of the alert state file (retried; notifications wait)', registers: r }),
  };
}

export type AlertMetrics = ReturnType<typeof createAlertMetrics>;
