/** The alert engine: rules over stored records, state, notifications (see engine.ts). */
export { AlertEngine, ALERTS_GROUP, baseUrlFor, type AlertsView, type AlertEngineOptions, type AlertSinkConfig } from './engine.js';
export { builtinNotifiers } from './notifiers.js';
export { alertRuleType, type AlertRule, type MatchAlertRule, type MetricAlertRule, type AbsentAlertRule } from './config.js';
