/**
 * The document's JSON text written straight from what the steps found, with
 * no object tree per record and no generic JSON.stringify of one (the ES sink
 * and the records API send documents as text; bench pipeline-nginx measured
 * that serialization as most of the cost of a parsed line).
 *
 * When a pipeline is compiled, every field its steps can read or write is
 * known (ECS paths of the captures, step fields, the base document's fields
 * and the caller's ExtraFields). Each gets a slot; the nested layout of the
 * document is laid out once as a tree of slots with each key's JSON text
 * ready. Per record the steps fill slots (scalars only: strings and numbers)
 * and the writer walks the tree, leaving out absent fields and objects with
 * no field present, which is what the object path produces.
 *
 * The fast plan covers: pattern (own patterns; presets nginx_access and
 * apache_access), regex, timestamp, set, rename, copy, remove, drop, sample,
 * route, and `if` conditions (evaluated over a document built from the slots
 * only for the steps that have one). A pipeline with any other step (json,
 * kv and the other presets set fields that are only known per record), or
 * whose fields overlap (one path the parent of another, so a value could be
 * a scalar or an object), has no fast plan. A record the plan cannot finish
 * (a host-metric record, a failing step, an exception) goes the object way:
 * Pipeline.run, which also counts and tags the failure. Either way the JSON
 * means the same document (test/unit/aggregator/pipelines/writer.test.ts
 * compares them over generated lines and pipelines).
 */

import type { StoredRecord } from '../storage/record-decoder.js';
import type { Condition } from './condition.js';
import { fieldProblem, type Doc } from './fields.js';
import { compilePattern, convertCapture, type CompiledPattern } from './pattern.js';
import { FAST_PRESETS } from './presets.js';
import { compileIf, contextStep, DROP, OK, SKIP, type StepContext, type StepOutcome } from './steps.js';
import { isoTime, parseTimestamp, parseZone, TIMESTAMP_FORMATS, type TimestampFormat, type Zone } from './timestamp.js';
import type { StepConfig } from './types.js';

/** A slot's value: the fast plan only ever holds scalars. */
export type Val = string | number | undefined;
export type Vals = Val[];

/**
 * Fields a caller adds after the pipeline (the ES sink's event.*, agent.*,
 * data_stream.*): dotted paths, given once; values per record in the same
 * order. A path whose first part is in `exclusive` belongs to the caller
 * alone: a pipeline that writes under it has no fast plan for these extras
 * (the caller's object path replaces that whole object).
 */
export class ExtraFields {
  readonly paths: readonly string[];
  readonly exclusive: readonly string[];
  constructor(paths: readonly string[], exclusive: readonly string[] = []) {
    for (const p of paths) {
      const problem = fieldProblem(p);
      if (problem) throw new Error(`extra field "${p}": ${problem}`);
    }
    this.paths = [...paths];
    this.exclusive = [...exclusive];
  }
}

const NO_EXTRA = new ExtraFields([]);

interface Node {
  key: string;
  /** `{"key":` and `,"key":`: the key as the first or a later field of its object */
  open: string;
  comma: string;
  /** slot of a leaf; -1 for an object */
  slot: number;
  children: Node[];
  /** the leaf's last value and its JSON (host, file, time, method repeat from record to record) */
  lastIn: Val;
  lastOut: string;
  /** an object's leaf slots, their values when it was last written, and its text then ('' for none yet) */
  leaves: number[];
  memo: Val[];
  memoOut: string;
}

type FastStep = (vals: Vals, ctx: StepContext) => StepOutcome;

interface FastCompiled {
  cond: Condition | undefined;
  run: FastStep;
}

/** Thrown while planning: the pipeline has no fast plan (the reason is for tests and debugging). */
class NoPlan extends Error {}

// Base document slots (document.ts's baseDocument, in its order).
const TS = 0;
const MSG = 1;
const HOST = 2;
const FILE = 3;
const OFFSET = 4;
const BASE = ['@timestamp', 'message', 'host.name', 'log.file.path', 'log.offset'];

/** Outcome of the fast plan for one record. */
export type FastOutcome =
  | { kind: 'json'; json: string; routes: string[] | undefined }
  | { kind: 'dropped'; routes: string[] | undefined }
  /** the plan cannot finish this record: use the object path */
  | { kind: 'fallback' };

const FALLBACK: FastOutcome = { kind: 'fallback' };

export class FastPlan {
  readonly #slots = new Map<string, number>();
  readonly #steps: FastCompiled[];
  readonly #extra: number[];
  readonly #root: Node;
  readonly #size: number;
  /** leaf slots in document order (at most 31: a shape is a bit mask), or undefined for the tree writer */
  readonly #order: number[] | undefined;
  /** leaves whose values come with the record's context (host, file, the caller's extras): usually the same record after record */
  readonly #context: Set<number>;
  readonly #shapes = new Map<number, Shape>();

  /** Throws NoPlan when the pipeline cannot have one. */
  private constructor(steps: readonly StepConfig[], extra: ExtraFields) {
    for (const b of BASE) this.#slot(b);
    this.#steps = steps.map((s) => ({ cond: compileIf(s.if), run: this.#step(s) }));
    const written = [...this.#slots.keys()];
    for (const ex of extra.exclusive) if (written.some((p) => p === ex || p.startsWith(`${ex}.`))) throw new NoPlan(`the pipeline writes under ${ex}`);
    this.#extra = extra.paths.map((p) => this.#slot(p));
    const all = [...this.#slots.keys()];
    const set = new Set(all);
    for (const p of all) {
      const parts = p.split('.');
      for (let i = 1; i < parts.length; i++) if (set.has(parts.slice(0, i).join('.'))) throw new NoPlan(`field ${parts.slice(0, i).join('.')} is also the parent of ${p}`);
    }
    this.#size = all.length;
    this.#context = new Set([HOST, FILE, ...this.#extra]);
    this.#root = { key: '', open: '', comma: '', slot: -1, children: [], lastIn: undefined, lastOut: '', leaves: [], memo: [], memoOut: '' };
    for (const [p, slot] of this.#slots) {
      let node = this.#root;
      const parts = p.split('.');
      for (let i = 0; i < parts.length; i++) {
        const k = parts[i]!;
        let ch = node.children.find((c) => c.key === k);
        if (!ch) {
          const head = `${JSON.stringify(k)}:`;
          ch = { key: k, open: `{${head}`, comma: `,${head}`, slot: i === parts.length - 1 ? slot : -1, children: [], lastIn: undefined, lastOut: '', leaves: [], memo: [], memoOut: '' };
          node.children.push(ch);
        }
        if (i < parts.length - 1) ch.leaves.push(slot);
        node = ch;
      }
    }
    const order = this.#leafOrder(this.#root, []);
    this.#order = order.length <= 31 ? order : undefined;
  }

  /** Leaf slots in document order. */
  #leafOrder(node: Node, out: number[]): number[] {
    for (const c of node.children) {
      if (c.slot >= 0) out.push(c.slot);
      else this.#leafOrder(c, out);
    }
    return out;
  }

  /** The plan for these steps, or undefined when they need the object path. */
  static compile(steps: readonly StepConfig[], extra: ExtraFields = NO_EXTRA): FastPlan | undefined {
    try {
      return new FastPlan(steps, extra);
    } catch (err) {
      if (err instanceof NoPlan) return undefined;
      throw err;
    }
  }

  /** Why these steps have no fast plan (undefined: they have one). */
  static whyNot(steps: readonly StepConfig[], extra: ExtraFields = NO_EXTRA): string | undefined {
    try {
      new FastPlan(steps, extra);
      return undefined;
    } catch (err) {
      if (err instanceof NoPlan) return err.message;
      throw err;
    }
  }

  #slot(path: string): number {
    let s = this.#slots.get(path);
    if (s === undefined) {
      if (fieldProblem(path)) throw new NoPlan(`field "${path}"`);
      this.#slots.set(path, (s = this.#slots.size));
    }
    return s;
  }

  #step(s: StepConfig): FastStep {
    switch (s.type) {
      case 'pattern': {
        const src = this.#slot(s.field);
        if (s.preset !== undefined) {
          const fp = FAST_PRESETS[s.preset];
          if (!fp) throw new NoPlan(`preset ${s.preset}`);
          return this.#patternStep(src, [compilePattern(`%{${fp.block}}$`)], fp.time, `the ${fp.block} pattern did not match`);
        }
        if (!s.pattern || s.pattern.length === 0) throw new NoPlan('no pattern');
        const pats = s.pattern.map((p) => compilePattern(p, s.definitions));
        return this.#patternStep(src, pats, undefined, 'no match');
      }
      case 'regex': {
        const src = this.#slot(s.field);
        const re = new RegExp(s.pattern);
        const names = [...s.pattern.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]!);
        const targets = names.map((n) => ({ n, slot: this.#slot(n.split('__').join('.')) }));
        return (vals) => {
          const text = textOf(vals[src]);
          if (text === undefined) return SKIP;
          const m = re.exec(text);
          if (!m) return 'no match';
          for (const t of targets) {
            const v = m.groups?.[t.n];
            if (v !== undefined) vals[t.slot] = v;
          }
          return OK;
        };
      }
      case 'timestamp': {
        const src = this.#slot(s.field);
        const target = this.#slot(s.target);
        const zone = parseZone(s.timezone);
        if (!zone || s.formats.some((f) => !(TIMESTAMP_FORMATS as readonly string[]).includes(f))) throw new NoPlan('timestamp options');
        const fmts = s.formats as TimestampFormat[];
        const remove = s.remove && s.field !== s.target;
        return (vals, ctx) => {
          const text = textOf(vals[src]);
          if (text === undefined) return SKIP;
          for (const f of fmts) {
            const t = parseTimestamp(text, f, zone, f === 'syslog' ? ctx.readTime : 0);
            if (t !== undefined) {
              vals[target] = isoTime(t);
              if (remove) vals[src] = undefined;
              return OK;
            }
          }
          return 'not a time';
        };
      }
      case 'set': {
        const slot = this.#slot(s.field);
        const parts = s.value.split(/(\{\{[^{}]{1,256}\}\})/);
        const pieces = parts.map((p) => (p.startsWith('{{') && p.endsWith('}}') ? this.#slot(p.slice(2, -2).trim()) : p));
        const constant = pieces.every((p) => typeof p === 'string') ? s.value : undefined;
        const override = s.override;
        return (vals) => {
          if (!override && vals[slot] !== undefined) return OK;
          let v = constant;
          if (v === undefined) {
            v = '';
            for (const p of pieces) v += typeof p === 'string' ? p : (textOf(vals[p]) ?? '');
          }
          vals[slot] = v;
          return OK;
        };
      }
      case 'rename':
      case 'copy': {
        const keep = s.type === 'copy';
        const pairs = Object.entries(s.fields).map(([from, to]) => ({ from: this.#slot(from), to: this.#slot(to) }));
        return (vals) => {
          for (const p of pairs) {
            const v = vals[p.from];
            if (v === undefined) continue;
            if (!keep) vals[p.from] = undefined;
            vals[p.to] = v;
          }
          return OK;
        };
      }
      case 'remove': {
        const slots = s.fields.map((f) => this.#slot(f));
        return (vals) => {
          for (const k of slots) vals[k] = undefined;
          return OK;
        };
      }
      case 'drop':
      case 'sample':
      case 'route':
        return contextStep(s);
      default:
        throw new NoPlan(`step type ${s.type}`);
    }
  }

  #patternStep(src: number, pats: CompiledPattern[], time: { format: TimestampFormat; zone: Zone } | undefined, noMatch: string): FastStep {
    const plans = pats.map((p) => ({
      regex: p.regex,
      caps: p.captures.map((c) => ({ index: c.index, type: c.type, scratch: c.keys[0] === '_pattern' ? (c.keys[1] ?? '') : undefined, slot: c.keys[0] === '_pattern' ? -1 : this.#slot(c.field) })),
    }));
    return (vals, ctx) => {
      const text = textOf(vals[src]);
      if (text === undefined) return SKIP;
      for (const p of plans) {
        const m = p.regex.exec(text);
        if (!m) continue;
        const scratch: Record<string, string> = {};
        ctx.scratch = scratch;
        for (const c of p.caps) {
          const t = m[c.index];
          if (t === undefined) continue;
          if (c.scratch !== undefined) {
            scratch[c.scratch] = t;
            continue;
          }
          const v = c.type === 'string' ? t : (convertCapture(t, c.type) as Val);
          if (v === undefined) return 'conversion';
          vals[c.slot] = v;
        }
        if (time) {
          const tt = scratch.time;
          if (tt !== undefined) {
            const ms = parseTimestamp(tt, time.format, time.zone, time.format === 'syslog' ? ctx.readTime : 0);
            if (ms === undefined) return 'time';
            vals[TS] = isoTime(ms);
          }
        }
        return OK;
      }
      return noMatch;
    };
  }

  /** A field's slot, or undefined when the plan has none for it (bytes.ts). */
  slotOf(path: string): number | undefined {
    return this.#slots.get(path);
  }

  /** Number of slots (a record's values array length). */
  get size(): number {
    return this.#size;
  }

  /** Slots of the caller's extra fields, in the ExtraFields' order. */
  get extraSlots(): readonly number[] {
    return this.#extra;
  }

  /** The first step's config is what bytes.ts compiled into its scanner; it runs the others through here. */
  get stepCount(): number {
    return this.#steps.length;
  }

  /** Runs steps[from..] over slot values (strings and numbers only): OK, DROP or anything else for "the object path". */
  runSteps(vals: Vals, ctx: StepContext, from: number): StepOutcome | 'fallback' {
    const steps = this.#steps;
    try {
      for (let i = from; i < steps.length; i++) {
        const st = steps[i]!;
        if (st.cond && !st.cond(this.#materialize(this.#root, vals) ?? {})) continue;
        const r = st.run(vals, ctx);
        if (r === OK || r === SKIP) continue;
        if (r === DROP) return DROP;
        return 'fallback';
      }
    } catch {
      return 'fallback';
    }
    return OK;
  }

  /**
   * The shape of a record whose present fields are those defined in `vals`
   * (the text between the varying values, context leaves written in), or
   * undefined when the document has too many leaves for shapes.
   */
  shapeOf(vals: Vals): Shape | undefined {
    const order = this.#order;
    if (order === undefined) return undefined;
    let mask = 0;
    for (let i = 0; i < order.length; i++) if (vals[order[i]!] !== undefined) mask |= 1 << i;
    let sh = this.#shapes.get(mask);
    if (sh !== undefined) {
      const cs = sh.ctxSlots;
      for (let i = 0; i < cs.length; i++) {
        if (vals[cs[i]!] !== sh.ctxVals[i]) {
          sh = undefined;
          break;
        }
      }
    }
    if (sh === undefined) {
      if (this.#shapes.size >= 256) this.#shapes.clear();
      sh = this.#shape(vals);
      this.#shapes.set(mask, sh);
    }
    return sh;
  }

  /** Runs the steps over the record and writes its document, `extraValues` in the ExtraFields' order. */
  run(rec: StoredRecord, ctx: StepContext, extraValues?: readonly Val[]): FastOutcome {
    if (rec.metrics !== undefined) return FALLBACK;
    const vals: Vals = new Array<Val>(this.#size);
    vals[TS] = rec.timestamp;
    vals[MSG] = rec.message;
    vals[HOST] = rec.host;
    vals[FILE] = rec.source;
    vals[OFFSET] = rec.source_offset;
    const steps = this.#steps;
    try {
      for (let i = 0; i < steps.length; i++) {
        const st = steps[i]!;
        if (st.cond && !st.cond(this.#materialize(this.#root, vals) ?? {})) continue;
        const r = st.run(vals, ctx);
        if (r === OK || r === SKIP) continue;
        if (r === DROP) return { kind: 'dropped', routes: ctx.routes ? [...ctx.routes] : undefined };
        return FALLBACK;
      }
    } catch {
      return FALLBACK;
    }
    if (extraValues) for (let i = 0; i < this.#extra.length; i++) vals[this.#extra[i]!] = extraValues[i];
    return { kind: 'json', json: this.#write(vals), routes: ctx.routes ? [...ctx.routes] : undefined };
  }

  /**
   * The document's text. The fields present make a shape (a bit per leaf);
   * each shape's text between the values is kept, with the context leaves
   * (host, file, the caller's extras) written into it while they stay the
   * same, so a record costs a concatenation per varying value.
   */
  #write(vals: Vals): string {
    const sh = this.shapeOf(vals);
    if (sh === undefined) return writeObject(this.#root, vals) || '{}';
    const seps = sh.seps;
    const slots = sh.slots;
    const leaves = sh.leaves;
    let out = seps[0]!;
    for (let i = 0; i < slots.length; i++) out = out + leafText(leaves[i]!, vals[slots[i]!]!) + seps[i + 1]!;
    return out;
  }

  /** The shape of this record's fields: the text between its varying values. */
  #shape(vals: Vals): Shape {
    const sh: Shape = { seps: [], slots: [], leaves: [], ctxSlots: [], ctxVals: [] };
    let cur = '';
    const walk = (node: Node): boolean => {
      let first = true;
      for (const c of node.children) {
        if (c.slot >= 0) {
          const x = vals[c.slot];
          if (x === undefined) continue;
          cur += first ? c.open : c.comma;
          if (this.#context.has(c.slot)) {
            cur += leafText(c, x);
            sh.ctxSlots.push(c.slot);
            sh.ctxVals.push(x);
          } else {
            sh.seps.push(cur);
            cur = '';
            sh.slots.push(c.slot);
            sh.leaves.push(c);
          }
        } else {
          if (!c.leaves.some((l) => vals[l] !== undefined)) continue;
          cur += first ? c.open : c.comma;
          walk(c);
        }
        first = false;
      }
      if (first) cur += '{';
      cur += '}';
      return !first;
    };
    walk(this.#root);
    sh.seps.push(cur);
    return sh;
  }

  /** The document as objects, for conditions. */
  #materialize(node: Node, vals: Vals): Doc | undefined {
    let out: Doc | undefined;
    for (const ch of node.children) {
      const v = ch.slot >= 0 ? vals[ch.slot] : this.#materialize(ch, vals);
      if (v === undefined) continue;
      (out ??= {})[ch.key] = v;
    }
    return out;
  }
}

export interface Shape {
  /** text before each varying value, and after the last */
  seps: string[];
  slots: number[];
  leaves: Node[];
  /** context leaves written into seps, and the values they were written with */
  ctxSlots: number[];
  ctxVals: Val[];
}

/** A leaf value's JSON (the last one kept per leaf). */
function leafText(c: Node, x: string | number): string {
  if (x === c.lastIn) return c.lastOut;
  const v = typeof x === 'string' ? quote(x) : Number.isFinite(x) ? String(x) : 'null';
  c.lastIn = x;
  c.lastOut = v;
  return v;
}

const textOf = (v: Val): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/** `{...}` of the node's present fields, or '' when none is present. */
function writeObject(node: Node, vals: Vals): string {
  let s = '';
  const ch = node.children;
  for (let i = 0; i < ch.length; i++) {
    const c = ch[i]!;
    let v: string;
    if (c.slot >= 0) {
      const x = vals[c.slot];
      if (x === undefined) continue;
      if (x === c.lastIn) v = c.lastOut;
      else {
        v = typeof x === 'string' ? quote(x) : Number.isFinite(x) ? String(x) : 'null';
        c.lastIn = x;
        c.lastOut = v;
      }
    } else {
      // an object whose fields are all as they were in the last record (event.*, agent.*, host.*: the sink's and the batch's) is that text again
      const leaves = c.leaves;
      const memo = c.memo;
      let same = c.memoOut !== '';
      for (let j = 0; same && j < leaves.length; j++) same = vals[leaves[j]!] === memo[j];
      if (same) v = c.memoOut;
      else {
        v = writeObject(c, vals);
        for (let j = 0; j < leaves.length; j++) memo[j] = vals[leaves[j]!];
        c.memoOut = v === '' ? '' : v;
      }
      if (v === '') continue;
    }
    s = s === '' ? c.open + v : s + c.comma + v;
  }
  return s === '' ? '' : `${s}}`;
}

// a quote, a backslash, a control character or a surrogate (a lone one must be escaped; JSON.stringify knows which)
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON text: most captured values need no escaping and are only quoted. */
export function quote(s: string): string {
  if (s.length > 24) return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
  // short ones (an IP, a method, a status word): a loop costs less than starting the regex
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c < 0xe000)) return JSON.stringify(s);
  }
  return `"${s}"`;
}
