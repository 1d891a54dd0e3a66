/**
 * The alert rules' option table (the `alerts:` list) and their typed config.
 * aggregator/config.ts composes it; `logship check` reports template and
 * pattern problems at the key's FILE:LINE:COL like any other config error.
 */
import { t, table, type OptionSpec, type OptionType } from '../../lib/config/option-table.js';
import { oneOf } from '../sinks/config-common.js';
import { templateProblem } from './template.js';
import { patternProblem } from './pattern.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

interface AlertCommon {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  sinks: string[];
  /** what one alert instance is per: host, or labels of the metric samples */
  group_by: string[];
  /** records older than this (by record time) update state but never open an incident */
  max_age: number;
}
/** More than `threshold` matching lines from one group within a sliding `window`. */
export interface MatchAlertRule extends AlertCommon {
  kind: 'match';
  topic: string;
  match: string;
  threshold: number;
  window: number;
}
/** A host metric above or below a value for `for` ms. */
export interface MetricAlertRule extends AlertCommon {
  kind: 'metric';
  metric: string;
  above?: number;
  below?: number;
  for: number;
  /** only samples whose labels have these values */
  match_labels: Record<string, string>;
  /** how the matching samples of one record and group combine */
  aggregate: 'max' | 'min' | 'avg' | 'sum';
  /** only records of this topic; default any topic */
  topic?: string;
}
/** A host that was seen sends nothing for `absent_for` ms. */
export interface AbsentAlertRule extends AlertCommon {
  kind: 'absent';
  absent_for: number;
}
export type AlertRule = MatchAlertRule | MetricAlertRule | AbsentAlertRule;

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['alertname']);

const common = (): OptionSpec[] => [
  { key: 'name', type: t.string(), required: true, doc: 'rule name: the alertname label', validate: (v: string) => (v.length > 200 ? 'rule names are at most 200 characters' : undefined) },
  {
    key: 'labels',
    type: { kind: 'map', keys: 'label', of: t.string({ allowEmpty: true }), placeholder: 'LABEL' },
    default: {},
    doc: 'extra labels on the alert (alertname and host are always set); `{{host}}`, `{{labels.x}}` are replaced',
  },
  {
    key: 'annotations',
    type: { kind: 'map', keys: 'string', of: t.string({ allowEmpty: true }), placeholder: 'NAME' },
    default: {},
    doc: 'annotations, e.g. summary; `{{host}}`, `{{count}}`, `{{value}}`, `{{labels.x}}` are replaced',
  },
  { key: 'sinks', type: t.list(t.string(), { minItems: 1 }), required: true, doc: 'names of alertmanager, pagerduty or webhook sinks to notify' },
  {
    key: 'group_by',
    type: t.list(t.string(), { minItems: 1 }),
    default: ['host'],
    doc: 'one alert per distinct value of these: host, or (metric rules) labels of the samples',
  },
  { key: 'max_age', type: t.duration({ min: SECOND }), default: 5 * MINUTE, doc: 'backlog guard: records older than this update state but never open an incident' },
];

/** Templates, label names and group_by keys: reported at the key that is wrong. */
function checkCommon(v: Record<string, unknown>, ctx: Parameters<NonNullable<ReturnType<typeof table>['check']>>[1]): void {
  const groupBy = Array.isArray(v.group_by) ? (v.group_by as string[]) : ['host'];
  groupBy.forEach((g, i) => {
    if (!LABEL_NAME.test(g)) ctx.error(`group_by[${i}]`, `"${g}" is not a label name ([A-Za-z_][A-Za-z0-9_]*)`);
    else if (RESERVED.has(g)) ctx.error(`group_by[${i}]`, `"${g}" is set by logship; group by host or sample labels`);
  });
  if (v.kind !== 'metric' && groupBy.some((g) => g !== 'host')) {
    ctx.error('group_by', 'log-match and absence rules group by host only (group_by: [host])');
  }
  for (const key of ['labels', 'annotations'] as const) {
    const m = v[key] as Record<string, string> | undefined;
    if (!m) continue;
    for (const [k, text] of Object.entries(m)) {
      if (key === 'labels' && RESERVED.has(k)) ctx.error(`${key}.${k}`, `"${k}" is set by logship (the rule name)`);
      if (key === 'labels' && k === 'host') ctx.error(`${key}.${k}`, '"host" is set by logship (the group)');
      const problem = templateProblem(text, groupBy);
      if (problem) ctx.error(`${key}.${k}`, problem);
    }
  }
}

export const alertRuleType: OptionType = {
  kind: 'shape',
  tag: 'kind',
  variants: [
    {
      name: 'match',
      markers: ['match', 'topic', 'threshold', 'window'],
      summary: 'topic, match, threshold and window for a log-match rule',
      table: table(
        [
          ...common(),
          { key: 'topic', type: t.topic(), required: true, doc: 'topic whose lines are matched' },
          { key: 'match', type: t.regex(), required: true, validate: patternProblem, doc: 'regular expression tested against each line (linear-time subset, see docs/alerting.md)' },
          { key: 'threshold', type: t.int({ min: 0, max: 1_000_000 }), required: true, doc: 'fire when one host has more than this many matches within window' },
          { key: 'window', type: t.duration({ min: SECOND }), required: true, doc: 'sliding window' },
        ],
        (v, ctx) => checkCommon({ ...v, kind: 'match' }, ctx),
      ),
    },
    {
      name: 'metric',
      markers: ['metric', 'above', 'below', 'for'],
      summary: 'metric with above or below for a metric rule',
      table: table(
        [
          ...common(),
          { key: 'metric', type: t.string(), required: true, doc: 'host metric name, e.g. node_cpu_utilization' },
          { key: 'above', type: t.number(), doc: 'fire while the value is above this; or below' },
          { key: 'below', type: t.number(), doc: 'fire while the value is below this' },
          { key: 'for', type: t.duration(), default: 0, doc: 'only after the condition held this long (pending until then)' },
          {
            key: 'match_labels',
            type: { kind: 'map', keys: 'label', of: t.string({ allowEmpty: true }), placeholder: 'LABEL' },
            default: {},
            doc: 'only samples whose labels have these values, e.g. {mountpoint: /}',
          },
          { key: 'aggregate', type: t.enum(['max', 'min', 'avg', 'sum']), default: 'max', doc: "how one record's matching samples of a group combine" },
          { key: 'topic', type: t.topic(), doc: 'only metric records of this topic (default: any topic)' },
        ],
        (v, ctx) => {
          oneOf('above', 'below', true)!(v, ctx);
          checkCommon({ ...v, kind: 'metric' }, ctx);
        },
      ),
    },
    {
      name: 'absent',
      markers: ['absent_for'],
      summary: 'absent_for for a silent-host rule',
      table: table(
        [...common(), { key: 'absent_for', type: t.duration({ min: SECOND }), required: true, doc: 'fire when a host that was seen sends no record (any topic) for this long' }],
        (v, ctx) => checkCommon({ ...v, kind: 'absent' }, ctx),
      ),
    },
  ],
};
