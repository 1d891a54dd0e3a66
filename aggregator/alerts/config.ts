/**
 * The alert rules' option table (the `alerts:` list) and their typed config.
 * aggregator/config.ts composes it; `logship check` reports template and
 * pattern problems at the key's FILE:LINE:COL like any other config error.
 */
import { t, table, type OptionSpec, type OptionType } from '../../lib/config/option-table.js';
import { oneOf } from '../sinks/config-common.js';
import { conditionProblem } from '../pipelines/config.js';
import { fieldProblem } from '../pipelines/fields.js';
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
/**
 * More than `threshold` matching lines from one group within a sliding `window`.
 * A rule on parsed fields (`where`, a field path in group_by, `{{field.PATH}}`)
 * runs a pipeline over the lines its `match` lets through (all lines without one).
 */
export interface MatchAlertRule extends AlertCommon {
  kind: 'match';
  topic: string;
  /** '' (the default when `where` is given): every line */
  match: string;
  threshold: number;
  window: number;
  /** a condition over the parsed document (aggregator/pipelines/condition.ts) */
  where?: string;
  /** the pipeline that parses the lines; default the topic's; "none": never parse */
  pipeline?: string;
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

/**
 * The alert label a group_by entry becomes: a field path of a log-match rule
 * (source.ip) is not a label name, so every character outside [A-Za-z0-9_]
 * becomes "_" (source_ip); host and sample labels stay as they are.
 */
export function groupLabel(path: string): string {
  return path.replace(/[^A-Za-z0-9_]/g, '_');
}

/** A condition problem with the offset inside the text, so `logship check` points at the character (the pipelines' own check). */
export const whereProblem = conditionProblem;

/** Whether a log-match rule reads parsed fields (and so runs a pipeline): `where`, a field in group_by, `{{field.PATH}}`. */
export function usesParsedFields(rule: Pick<MatchAlertRule, 'where' | 'group_by' | 'labels' | 'annotations'>): boolean {
  if (rule.where !== undefined) return true;
  if (rule.group_by.some((g) => g !== 'host')) return true;
  return [...Object.values(rule.labels), ...Object.values(rule.annotations)].some((t) => /\{\{\s*field\./.test(t));
}

const common = (): OptionSpec[] => [
  { key: 'name', type: t.string(), required: true, doc: 'rule name: the alertname label', validate: (v: string) => (v.length > 200 ? 'rule names are at most 200 characters' : undefined) },
  {
    key: 'labels',
    type: { kind: 'map', keys: 'label', of: t.string({ allowEmpty: true }), placeholder: 'LABEL' },
    default: {},
    doc: 'extra labels on the alert (alertname and the group_by values are always set); `{{host}}`, `{{labels.x}}`, `{{field.PATH}}` (log-match rules) are replaced',
  },
  {
    key: 'annotations',
    type: { kind: 'map', keys: 'string', of: t.string({ allowEmpty: true }), placeholder: 'NAME' },
    default: {},
    doc: 'annotations, e.g. summary; `{{host}}`, `{{count}}`, `{{value}}`, `{{labels.x}}`, `{{field.PATH}}` (log-match rules) are replaced',
  },
  { key: 'sinks', type: t.list(t.string(), { minItems: 1 }), required: true, doc: 'names of alertmanager, pagerduty or webhook sinks to notify' },
  {
    key: 'group_by',
    type: t.list(t.string(), { minItems: 1 }),
    default: ['host'],
    doc: 'one alert per distinct value of these: host; labels of the samples (metric rules); parsed fields such as source.ip (log-match rules, label source_ip)',
  },
  { key: 'max_age', type: t.duration({ min: SECOND }), default: 5 * MINUTE, doc: 'backlog guard: records older than this update state but never open an incident' },
];

/** Templates, label names and group_by keys: reported at the key that is wrong. */
function checkCommon(v: Record<string, unknown>, ctx: Parameters<NonNullable<ReturnType<typeof table>['check']>>[1]): void {
  const groupBy = Array.isArray(v.group_by) ? (v.group_by as string[]) : ['host'];
  if (v.kind === 'match') {
    // host, or parsed fields (dotted paths); each becomes a label (groupLabel)
    const seen = new Map<string, string>();
    groupBy.forEach((g, i) => {
      const problem = g === 'host' ? undefined : fieldProblem(g);
      if (problem) return ctx.error(`group_by[${i}]`, `not a field path: ${problem}`);
      const label = groupLabel(g);
      if (RESERVED.has(label)) return ctx.error(`group_by[${i}]`, `"${g}" would be the label ${label}, which is set by logship`);
      const other = seen.get(label);
      if (other !== undefined) ctx.error(`group_by[${i}]`, `"${g}" and "${other}" would both be the label ${label}`);
      seen.set(label, g);
    });
  } else {
    groupBy.forEach((g, i) => {
      if (!LABEL_NAME.test(g)) ctx.error(`group_by[${i}]`, `"${g}" is not a label name ([A-Za-z_][A-Za-z0-9_]*)`);
      else if (RESERVED.has(g)) ctx.error(`group_by[${i}]`, `"${g}" is set by logship; group by host or sample labels`);
    });
  }
  if (v.kind === 'absent' && groupBy.some((g) => g !== 'host')) {
    ctx.error('group_by', 'absence rules group by host only (group_by: [host])');
  }
  const groupLabels = new Set(groupBy.map(groupLabel));
  for (const key of ['labels', 'annotations'] as const) {
    const m = v[key] as Record<string, string> | undefined;
    if (!m) continue;
    for (const [k, text] of Object.entries(m)) {
      if (key === 'labels' && RESERVED.has(k)) ctx.error(`${key}.${k}`, `"${k}" is set by logship (the rule name)`);
      if (key === 'labels' && k === 'host') ctx.error(`${key}.${k}`, '"host" is set by logship (the group)');
      else if (key === 'labels' && groupLabels.has(k)) ctx.error(`${key}.${k}`, `"${k}" is set by logship (the group_by value)`);
      const problem = templateProblem(text, v.kind === 'match' ? { fieldProblem } : {});
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
          {
            key: 'match',
            type: t.regex(),
            default: '',
            validate: patternProblem,
            doc: 'regular expression tested against each line (lib/regex-safety.ts policy, see docs/alerting.md); default: every line, then `where` is required',
          },
          { key: 'threshold', type: t.int({ min: 0, max: 1_000_000 }), required: true, doc: 'fire when one group has more than this many matches within window' },
          { key: 'window', type: t.duration({ min: SECOND }), required: true, doc: 'sliding window' },
          {
            key: 'where',
            type: t.string(),
            validate: whereProblem,
            doc: 'condition over the parsed record (pipelines condition language, e.g. http.response.status_code >= 500); only lines that also match count',
          },
          {
            key: 'pipeline',
            type: t.string(),
            doc: 'pipeline that parses the lines for where, group_by fields and {{field.PATH}} (default: the topic\'s own; "none": the unparsed record)',
          },
        ],
        (v, ctx) => {
          if (!ctx.has('match') && !ctx.has('where')) ctx.error('', 'give match, where, or both');
          checkCommon({ ...v, kind: 'match' }, ctx);
        },
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

/**
 * Cross-checks with the rest of the aggregator config: a rule's `pipeline`
 * is configured. Called from aggregator/config.ts's root check.
 */
export function checkAlertPipelines(root: Record<string, unknown>, ctx: { error(path: string, message: string): void; warn(path: string, message: string): void }): void {
  if (!Array.isArray(root.alerts)) return;
  const pipelines = (root.pipelines ?? {}) as Record<string, { topics?: string[] } | undefined>;
  const parsedTopics = new Set(Object.values(pipelines).flatMap((p) => p?.topics ?? []));
  (root.alerts as Array<Record<string, unknown> | undefined>).forEach((rule, i) => {
    const name = rule?.pipeline;
    if (rule?.kind === 'match' && name === undefined && typeof rule.topic === 'string' && !parsedTopics.has(rule.topic) && usesParsedFields(rule as unknown as MatchAlertRule)) {
      ctx.warn(`alerts[${i}].topic`, `topic "${rule.topic}" has no pipeline: where, group_by fields and {{field.PATH}} read the unparsed record (message, host.name, log.file.path, ...); name one with pipeline:, or attach one to the topic`);
    }
    if (typeof name !== 'string' || name === 'none' || Object.hasOwn(pipelines, name)) return;
    const known = Object.keys(pipelines);
    ctx.error(`alerts[${i}].pipeline`, `no pipeline named "${name}" (configured: ${known.length ? known.join(', ') : 'none'}; "none" for the unparsed record)`);
  });
}
