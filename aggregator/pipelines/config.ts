/**
 * The option tables of `pipelines:` (house style 3): one table per step
 * type, chosen by `type`. Beyond the tables, every pipeline is compiled
 * while the config is checked, so a bad pattern, regex, field name,
 * timezone or condition is a `logship check` error at its FILE:LINE:COL
 * (inside a condition, at the character that is wrong).
 */

import { t, table, type CheckContext, type OptionSpec, type OptionTable, type OptionType } from '../../lib/config/option-table.js';
import { compileCondition, ConditionError } from './condition.js';
import { Pipeline, PipelineCompileError } from './pipeline.js';
import { TIMESTAMP_FORMATS } from './timestamp.js';
import { PRESETS, type PipelineConfig, type StepConfig } from './types.js';

/** A validator result that points inside the value: lib/config/validate.ts turns the offset into a column. */
export interface ValueProblem {
  message: string;
  offset: number;
}

/** A condition's problem with the offset inside its text, so `logship check` points at the character (also alert rules' `where`). */
export const conditionProblem = (v: string): ValueProblem | undefined => {
  try {
    compileCondition(v);
    return undefined;
  } catch (err) {
    if (err instanceof ConditionError) return { message: err.message, offset: err.offset };
    throw err;
  }
};

const common = (): OptionSpec[] => [
  { key: 'name', type: t.string(), doc: 'label in metrics and error.message; default "<index>-<type>"' },
  { key: 'if', type: t.string(), validate: conditionProblem, doc: 'run the step only when this condition holds (docs/pipelines.md: conditions)' },
];
const fieldKey = (doc = 'field the step reads'): OptionSpec => ({ key: 'field', type: t.string(), default: 'message', doc });
const strMap = (): OptionType => ({ kind: 'map', keys: 'string', of: t.string(), placeholder: 'FIELD' });

const steps: Record<string, OptionTable> = {
  json: table([
    ...common(),
    fieldKey(),
    { key: 'target', type: t.string({ allowEmpty: true }), default: '', doc: 'field to put the object under; "" merges it into the document' },
    { key: 'levels', type: t.bool(), default: true, doc: 'map level (pino/bunyan numbers, logrus/zap names) to log.level, msg to message, time/ts to @timestamp' },
  ]),
  regex: table([...common(), fieldKey(), { key: 'pattern', type: t.string(), required: true, doc: 'JavaScript regex with named groups; group a__b sets field a.b (checked for backtracking)' }]),
  pattern: table(
    [
      ...common(),
      fieldKey(),
      { key: 'pattern', type: t.string(), doc: 'a pattern: regex with %{NAME:field:type} blocks' },
      { key: 'patterns', type: t.list(t.string(), { minItems: 1 }), doc: 'several patterns: the first that matches wins' },
      { key: 'preset', type: t.enum(PRESETS), doc: 'a built-in parser (nginx_access, syslog, logfmt, ...; docs/pipelines.md)' },
      { key: 'definitions', type: strMap(), default: {}, doc: 'extra named blocks for %{NAME}' },
    ],
    (v, ctx) => {
      const n = ['pattern', 'patterns', 'preset'].filter((k) => ctx.has(k));
      if (n.length !== 1) ctx.error('', n.length === 0 ? 'give one of pattern, patterns or preset' : `give only one of ${n.join(', ')}`);
    },
  ),
  timestamp: table([
    ...common(),
    fieldKey(),
    { key: 'formats', type: t.list(t.enum(TIMESTAMP_FORMATS), { minItems: 1 }), required: true, doc: 'formats tried in order' },
    { key: 'timezone', type: t.string(), default: 'UTC', doc: 'zone of times written without one: UTC, local, +02:00, Europe/Paris' },
    { key: 'target', type: t.string(), default: '@timestamp', doc: 'field the ISO 8601 time goes to' },
    { key: 'remove', type: t.bool(), default: false, doc: 'remove the source field once parsed' },
  ]),
  kv: table([
    ...common(),
    fieldKey(),
    { key: 'target', type: t.string({ allowEmpty: true }), default: '', doc: 'field to put the pairs under; "" puts them at the top' },
    { key: 'separator', type: t.string(), default: '=', doc: 'between key and value' },
    { key: 'delimiter', type: t.string(), default: ' ', doc: 'between pairs' },
  ]),
  set: table([
    ...common(),
    { key: 'field', type: t.string(), required: true, doc: 'field to set' },
    { key: 'value', type: t.string({ allowEmpty: true }), required: true, doc: 'text; {{a.b}} is replaced by field a.b' },
    { key: 'override', type: t.bool(), default: true, doc: 'false: only when the field is absent' },
  ]),
  rename: table([...common(), { key: 'fields', type: strMap(), required: true, doc: 'from: to' }]),
  copy: table([...common(), { key: 'fields', type: strMap(), required: true, doc: 'from: to' }]),
  remove: table([...common(), { key: 'fields', type: t.list(t.string(), { minItems: 1 }), required: true, doc: 'fields to remove' }]),
  drop: table([...common()]),
  sample: table([...common(), { key: 'rate', type: t.int({ min: 1, max: 1_000_000_000 }), required: true, doc: 'keep 1 record in rate, chosen by the record (host, file, offset): the same each read' }]),
  route: table([...common(), { key: 'sinks', type: t.list(t.string(), { minItems: 1 }), required: true, doc: 'sinks that see the record when the condition holds (without any matching route: every sink of the topic)' }]),
};

const pipelineTable = table(
  [
    { key: 'topics', type: t.list(t.topic()), default: [], doc: 'topics this pipeline parses (a topic has at most one pipeline)' },
    { key: 'steps', type: t.list(t.union('type', steps), { minItems: 1 }), required: true, doc: 'ordered steps' },
  ],
  (v, ctx) => compileCheck(v, ctx),
);

function compileCheck(v: Record<string, unknown>, ctx: CheckContext): void {
  const list = v.steps;
  if (!Array.isArray(list) || list.some((s) => s === undefined)) return; // reported already
  // pattern step: the list form and the single form are one key at run time
  const stepsCfg = (list as Array<Record<string, unknown>>).map((s) => (s.type === 'pattern' && typeof s.pattern === 'string' ? { ...s, pattern: [s.pattern] } : s.type === 'pattern' && s.patterns ? { ...s, pattern: s.patterns } : s));
  try {
    new Pipeline('(check)', { topics: [], steps: stepsCfg as unknown as StepConfig[] });
    v.steps = stepsCfg;
  } catch (err) {
    if (!(err instanceof PipelineCompileError)) throw err;
    const key = err.key === 'pattern' && (list[err.step] as Record<string, unknown>).patterns ? 'patterns' : err.key;
    ctx.error(`steps[${err.step}].${key}${err.item !== undefined ? `[${err.item}]` : ''}`, err.message);
  }
}

export const pipelinesOption: OptionSpec = {
  key: 'pipelines',
  type: { kind: 'map', keys: 'string', of: t.object(pipelineTable), placeholder: 'PIPELINE' },
  default: {},
  doc: 'named parsing pipelines, applied when records are read (docs/pipelines.md)',
};

/** Cross-checks with the rest of the aggregator config: a topic has one pipeline; routes name configured sinks; a sink's pipeline exists. */
export function checkPipelines(root: Record<string, unknown>, ctx: CheckContext): void {
  const pipelines = root.pipelines as Record<string, PipelineConfig | undefined> | undefined;
  if (!pipelines) return;
  if (Array.isArray(root.sinks)) {
    (root.sinks as Array<{ pipeline?: unknown } | undefined>).forEach((s, i) => {
      const name = s?.pipeline;
      if (typeof name === 'string' && name !== 'none' && !Object.hasOwn(pipelines, name)) {
        const known = Object.keys(pipelines);
        ctx.error(`sinks[${i}].pipeline`, `no pipeline named "${name}" (configured: ${known.length ? known.join(', ') : 'none'}; "none" for no pipeline)`);
      }
    });
  }
  const owner = new Map<string, string>();
  const sinkNames = Array.isArray(root.sinks) ? new Set((root.sinks as Array<{ name?: unknown } | undefined>).map((s) => s?.name)) : undefined;
  const allSinksValid = Array.isArray(root.sinks) && (root.sinks as unknown[]).every((s) => s !== undefined);
  for (const [name, p] of Object.entries(pipelines)) {
    if (!p) continue;
    (p.topics ?? []).forEach((topic, i) => {
      const first = owner.get(topic);
      if (first !== undefined) ctx.error(`pipelines.${name}.topics[${i}]`, `topic "${topic}" already has pipeline "${first}"`);
      else owner.set(topic, name);
    });
    (p.steps ?? []).forEach((s, i) => {
      if (s?.type !== 'route' || !sinkNames || !allSinksValid) return;
      s.sinks.forEach((k, j) => {
        if (!sinkNames.has(k)) ctx.error(`pipelines.${name}.steps[${i}].sinks[${j}]`, `no sink named "${k}"`);
      });
    });
  }
}

export type { PipelineConfig, StepConfig };
