/**
 * A compiled pipeline: StoredRecord -> document. Schema on read: nothing here
 * writes to storage; the same stored line can be parsed again by a changed
 * pipeline.
 *
 * Failures: a step that fails leaves the document as it was before the step
 * (the raw line stays in `message`), adds the tag "_parse_failure" and
 * error.message ("<step>: <why>"), and is counted per pipeline and step;
 * later steps still run. A step whose source field is absent is skipped.
 */

import type { StoredRecord } from '../storage/record-decoder.js';
import { baseDocument } from './document.js';
import { setPath, type Doc } from './fields.js';
import { presetStep } from './presets.js';
import { compileIf, compileStep, DROP, OK, SKIP, StepError, type CompiledStep, type StepContext } from './steps.js';
import type { PipelineConfig, StepConfig } from './types.js';
import { ExtraFields, FastPlan } from './writer.js';
import { BytePlan } from './bytes.js';

export interface ParseResult {
  doc: Doc;
  /** a drop or sample step left the record out */
  dropped: boolean;
  /** sinks that route steps named; undefined: every sink of the topic */
  routes: string[] | undefined;
  /** labels of the steps that failed */
  failed: string[];
}

/**
 * A parsed record as JSON text (runJson). `json` is the document when the
 * fast writer (writer.ts) made it; when the record took the object path,
 * `json` is undefined and `doc` holds the document for the caller to
 * serialize (with its extra fields) as it always has.
 */
export interface JsonParseResult {
  json: string | undefined;
  doc: Doc | undefined;
  dropped: boolean;
  routes: string[] | undefined;
  failed: string[];
}

export type FailureListener = (pipeline: string, step: string) => void;

/** A step config that does not compile: which step and key, and an offset inside its text. */
export class PipelineCompileError extends Error {
  constructor(
    readonly pipeline: string,
    readonly step: number,
    readonly key: string,
    message: string,
    readonly offset?: number,
    readonly item?: number,
  ) {
    super(message);
  }
}

/**
 * Whether a record reaches a consumer that delivers to `sinks`: a record no
 * route step matched (routes undefined) reaches every sink; a routed one only
 * the sinks its route steps named. Elasticsearch sinks ask with their own
 * name; an alert rule would ask with its `sinks` (it counts the record when
 * any of them is named). Either way the record is consumed: the consumer's
 * cursor moves past a record it was not routed, so no lag is left behind.
 */
export function routedTo(routes: readonly string[] | undefined, sinks: readonly string[]): boolean {
  if (routes === undefined) return true;
  for (const s of sinks) if (routes.includes(s)) return true;
  return false;
}

export function stepLabel(s: StepConfig, i: number): string {
  return s.name ?? `${i}-${s.type}`;
}

/** What steps may ask about the record; the costly parts only when a step asks (most never do). */
class RecordContext implements StepContext {
  routes: Set<string> | undefined = undefined;
  scratch: Record<string, string> = EMPTY;
  #rec: StoredRecord;
  #readTime: number | undefined;
  constructor(rec: StoredRecord) {
    this.#rec = rec;
  }
  get readTime(): number {
    if (this.#readTime === undefined) {
      const t = Date.parse(this.#rec.timestamp);
      this.#readTime = Number.isFinite(t) ? t : Date.now();
    }
    return this.#readTime;
  }
  get identity(): string {
    return `${this.#rec.host}\u0000${this.#rec.source}\u0000${this.#rec.source_offset}`;
  }
}
const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_EXTRA = new ExtraFields([]);

export class Pipeline {
  readonly name: string;
  readonly steps: CompiledStep[];
  /** failures per step label, since compile */
  readonly failures = new Map<string, number>();
  #onFailure: FailureListener | undefined;
  readonly #config: PipelineConfig;
  /** fast plans per set of extra fields (null: none possible) */
  readonly #plans = new WeakMap<ExtraFields, FastPlan | null>();
  readonly #bytePlans = new WeakMap<ExtraFields, BytePlan | null>();

  constructor(name: string, config: PipelineConfig, onFailure?: FailureListener) {
    this.name = name;
    this.#onFailure = onFailure;
    this.#config = config;
    this.steps = config.steps.map((s, i) => {
      try {
        return {
          label: stepLabel(s, i),
          type: s.type,
          cond: compileIf(s.if),
          run: compileStep(s, (p) => presetStep(p)),
        };
      } catch (err) {
        if (err instanceof StepError) throw new PipelineCompileError(name, i, err.key, err.message, err.offset, err.item);
        throw err;
      }
    });
  }

  run(rec: StoredRecord): ParseResult {
    return this.runDoc(baseDocument(rec), new RecordContext(rec));
  }

  /**
   * The record's document as JSON text, with `extra` fields (paths given
   * once, values per record, set over what the steps found). The same
   * document run() makes, written without an object tree when the pipeline
   * has a fast plan; otherwise (and for a record the plan cannot finish)
   * run()'s result with json undefined.
   */
  runJson(rec: StoredRecord, extra?: ExtraFields, extraValues?: ReadonlyArray<string | number>): JsonParseResult {
    const plan = this.fastPlan(extra);
    if (plan) {
      const out = plan.run(rec, new RecordContext(rec), extraValues);
      if (out.kind === 'json') return { json: out.json, doc: undefined, dropped: false, routes: out.routes, failed: [] };
      if (out.kind === 'dropped') return { json: undefined, doc: undefined, dropped: true, routes: out.routes, failed: [] };
    }
    const r = this.run(rec);
    return { json: undefined, doc: r.doc, dropped: r.dropped, routes: r.routes, failed: r.failed };
  }

  /** The config it was compiled from (plain data: the ES sink sends it to its payload workers). */
  get config(): PipelineConfig {
    return this.#config;
  }

  /**
   * Failures of this pipeline's steps counted by a copy of it elsewhere (the
   * ES sink's payload workers parse with their own): added here and reported
   * to the listener as if they had happened here.
   */
  addFailures(step: string, n: number): void {
    if (n <= 0) return;
    this.failures.set(step, (this.failures.get(step) ?? 0) + n);
    for (let i = 0; i < n; i++) this.#onFailure?.(this.name, step);
  }

  /** The byte path (bytes.ts) for these extra fields, or undefined when this pipeline has none. */
  bytePlan(extra: ExtraFields = NO_EXTRA): BytePlan | undefined {
    let plan = this.#bytePlans.get(extra);
    if (plan === undefined) this.#bytePlans.set(extra, (plan = BytePlan.compile(this.#config.steps, extra) ?? null));
    return plan ?? undefined;
  }

  /** The compiled fast writer for these extra fields, or undefined when this pipeline needs the object path. */
  fastPlan(extra: ExtraFields = NO_EXTRA): FastPlan | undefined {
    let plan = this.#plans.get(extra);
    if (plan === undefined) this.#plans.set(extra, (plan = FastPlan.compile(this.#config.steps, extra) ?? null));
    return plan ?? undefined;
  }

  runDoc(doc: Doc, ctx: StepContext): ParseResult {
    let failed: string[] | undefined;
    for (const step of this.steps) {
      if (step.cond && !step.cond(doc)) continue;
      let r;
      try {
        r = step.run(doc, ctx);
      } catch (err) {
        // a step never throws by design; if one does, the record is still kept and the failure counted
        r = `internal error: ${(err as Error).message}`;
      }
      if (r === OK || r === SKIP) continue;
      if (r === DROP) return { doc, dropped: true, routes: ctx.routes ? [...ctx.routes] : undefined, failed: failed ?? [] };
      (failed ??= []).push(step.label);
      this.failures.set(step.label, (this.failures.get(step.label) ?? 0) + 1);
      this.#onFailure?.(this.name, step.label);
      markFailure(doc, `${step.label}: ${r}`);
    }
    return { doc, dropped: false, routes: ctx.routes ? [...ctx.routes] : undefined, failed: failed ?? [] };
  }
}

function markFailure(doc: Doc, message: string): void {
  const tags = doc.tags;
  if (Array.isArray(tags)) {
    if (!tags.includes('_parse_failure')) tags.push('_parse_failure');
  } else doc.tags = ['_parse_failure'];
  const err = doc.error as Doc | undefined;
  const prev = err && typeof err === 'object' ? err.message : undefined;
  setPath(doc, ['error', 'message'], typeof prev === 'string' && prev !== '' && Array.isArray(tags) ? `${prev}; ${message}` : message);
}

/** Every configured pipeline, and which one parses each topic. */
export class PipelineSet {
  readonly pipelines = new Map<string, Pipeline>();
  readonly byTopic = new Map<string, Pipeline>();
  /** topics without a pipeline: the base document */
  readonly #none = new Pipeline('', { topics: [], steps: [] });

  constructor(configs: Readonly<Record<string, PipelineConfig>>, onFailure?: FailureListener) {
    for (const [name, c] of Object.entries(configs)) {
      const p = new Pipeline(name, c, onFailure);
      this.pipelines.set(name, p);
      for (const t of c.topics) this.byTopic.set(t, p);
    }
  }

  forTopic(topic: string): Pipeline | undefined {
    return this.byTopic.get(topic);
  }

  /** The record as a document: the topic's pipeline, or only the base document when it has none. */
  parse(topic: string, rec: StoredRecord): ParseResult {
    const p = this.byTopic.get(topic);
    if (p) return p.run(rec);
    return { doc: baseDocument(rec), dropped: false, routes: undefined, failed: [] };
  }

  /** parse() as JSON text (Pipeline.runJson). */
  parseJson(topic: string, rec: StoredRecord, extra?: ExtraFields, extraValues?: ReadonlyArray<string | number>): JsonParseResult {
    return (this.byTopic.get(topic) ?? this.#none).runJson(rec, extra, extraValues);
  }
}
