/** What the engine keeps per (rule, group) and what it hands to notifiers. */
import type { EvidenceRing } from './evidence.js';
import type { MatchTimes } from './match-times.js';

/** resolved: was firing, is no longer (shown until the group fires again or is forgotten) */
export type AlertStatus = 'inactive' | 'pending' | 'firing' | 'resolved';

/** Where a matched line is stored: enough to fetch it again (`logship read --offset`). */
export interface Evidence {
  topic: string;
  partition: number;
  offset: number;
  source: string;
  source_offset: number;
}

/** The outcome of the last notification of one sink for one group. */
export interface SinkNote {
  status: 'firing' | 'resolved';
  /** ms since epoch when the sink accepted it (or the last attempt failed) */
  at: number;
  ok: boolean;
  error?: string;
}

export interface GroupState {
  rule: string;
  /** the group_by values, e.g. {host: "web-01"} */
  group: Record<string, string>;
  status: AlertStatus;
  /** ms: when status last changed */
  since: number;
  /** ms: record time the condition started to hold (metric rules, for `for`) */
  pendingSince?: number;
  /** ms: start of the current (or last) incident */
  activeAt?: number;
  /** ms: end of the last incident */
  resolvedAt?: number;
  value?: number;
  count: number;
  /** log-match rules: record times of the latest matches, as runs of one time (capped; saved as matchRuns) */
  matches: MatchTimes;
  /** ms: latest record time that touched this group */
  lastSeen?: number;
  /** latest matched lines (at most EVIDENCE_MAX; saved as their list) */
  evidence: EvidenceRing;
  /** labels and annotations as rendered when the incident opened (labels stay fixed until it resolves) */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** log-match rules on parsed fields: the `{{field.PATH}}` values of the latest counted record, by PATH */
  fields?: Record<string, string>;
  /** per sink name */
  notified: Record<string, SinkNote>;
}

export const EVIDENCE_MAX = 10;

/** One notification: a group that started firing, is still firing (resend) or resolved. */
export interface AlertNotice {
  rule: string;
  /** stable id of (rule, group): the PagerDuty dedup_key, the queue key */
  key: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** ms */
  startsAt: number;
  /** ms; set when resolved */
  endsAt?: number;
  host: string;
  count: number;
  value?: number;
  evidence: Evidence[];
  generatorURL: string;
  /** ms (monotonic clock of the engine) when the transition happened, for notification latency */
  createdAt: number;
  /** the resolve of an incident whose rule a reload removed or changed (RetiredIncident) */
  retired?: true;
}

/**
 * An incident whose rule was removed or changed by a config reload (or a
 * restart on a new config) while it was firing: resolved at every sink that
 * was told it fired, kept in the state until each accepted the resolve.
 */
export interface RetiredIncident {
  /** the group key it fired with (the PagerDuty dedup_key) */
  key: string;
  group: GroupState;
}
