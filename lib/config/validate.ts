/**
 * Walks a YamlSource against an option table: converts values, applies
 * defaults, runs validators and cross-field checks, and collects every
 * problem as a ConfigIssue at its line and column. Never throws for bad
 * input; the caller turns a non-empty `issues` into one ConfigError.
 *
 * Positions: a bad value points at the value; an unknown key at the key; a
 * missing required key at its parent (the parent's key, the list item, or
 * the top of the document); a cross-field problem at the key it names.
 */

import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, type Scalar } from 'yaml';
import { ConfigIssue } from '../errors.js';
import { nthReference, substituteEnv, type Env } from './env.js';
import { suggestion } from './did-you-mean.js';
import { labelNameProblem, topicNameProblem } from './names.js';
import { convertScalar } from './convert-scalar.js';
import { typeName, type CheckContext, type OptionSpec, type OptionTable, type OptionType } from './option-table.js';
import type { Position, YamlSource } from './yaml-source.js';

const INVALID: unique symbol = Symbol('invalid');
type Result = unknown | typeof INVALID;

/** Start-time defaults that replace a table's: absolute key path → value computed from the root built so far. */
export type DefaultOverrides = Record<string, (root: Record<string, unknown>) => unknown>;

export interface ValidatorOptions {
  env?: Env;
  defaults?: DefaultOverrides;
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (key === '') return base;
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return base === '' ? k : `${base}.${k}`;
}

export class Validator {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  #src: YamlSource;
  #env: Env;
  #defaults: DefaultOverrides;
  /** path → position of its key (map entries) or of the item (list entries) */
  #keyPos = new Map<string, Position>();
  #root: Record<string, unknown> = {};
  #variantTables = new WeakMap<OptionTable, Map<string, OptionTable>>();
  /** ${VAR} substitution once per scalar node, however many aliases point at it */
  #substituted = new WeakMap<Scalar, { value: string; substituted: boolean } | typeof INVALID>();
  #work = 0;
  #budget: number;

  constructor(src: YamlSource, opts: ValidatorOptions = {}) {
    this.#src = src;
    this.#env = opts.env ?? process.env;
    this.#defaults = opts.defaults ?? {};
    // Without aliases every value needs at least one character of the file.
    this.#budget = src.text.length + 10_000;
  }

  /** Validate the whole document against `tbl`; the result is complete only when `issues` is empty. */
  validateRoot(tbl: OptionTable): Record<string, unknown> {
    const node = this.#deref(this.#src.root, '');
    const pos = this.#src.posOf(node);
    if (node !== null && !isMap(node) && !this.#isNull(node)) {
      this.#error(pos, '', `expected a mapping of keys at the top level, got ${this.#describe(node)}`);
      return {};
    }
    const out = this.#object(isMap(node) ? node : null, tbl, '', pos, undefined, true);
    return out === INVALID ? {} : (out as Record<string, unknown>);
  }

  /**
   * Counts one value visited; true once the walk has visited more values than the document
   * could hold without aliases (then it stops, with one error): aliases cannot make it superlinear.
   */
  #spend(pos: Position, path: string): boolean {
    this.#work += 1;
    if (this.#work <= this.#budget) return false;
    if (this.#work === this.#budget + 1) {
      this.#error(pos, path, `aliases expand this document to more than ${this.#budget} values (the limit for a ${this.#src.text.length}-character file): write the repeated parts out, or use fewer aliases`);
    }
    return true;
  }

  #error(pos: Position, path: string, message: string): void {
    this.issues.push(new ConfigIssue(this.#src.file, pos.line, pos.col, path, message));
  }

  #isNull(node: Node | null | undefined): boolean {
    return node === null || node === undefined || (isScalar(node) && node.value === null);
  }

  #deref(node: unknown, path: string): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = this.#src.resolveAlias(node);
      if (!target) {
        this.#error(this.#src.posOf(node), path, `unknown alias *${node.source}`);
        return null;
      }
      return target as Node;
    }
    return node as Node;
  }

  #describe(node: Node | null): string {
    if (this.#isNull(node)) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    const v = (node as Scalar).value;
    if (typeof v === 'string') return `a string "${v}"`;
    return `${typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : 'a value'} ${String(v)}`;
  }

  #keyText(pair: Pair): string | undefined {
    const key = pair.key as Node | null;
    if (!isScalar(key)) return undefined;
    if (typeof key.value === 'string') return key.value;
    return key.source ?? String(key.value);
  }

  #pairs(node: Node): Pair[] {
    return isMap(node) ? (node.items as Pair[]) : [];
  }

  #entries(node: Node, path: string): Array<{ key: string; keyPos: Position; value: Node | null }> {
    const out: Array<{ key: string; keyPos: Position; value: Node | null }> = [];
    if (!isMap(node)) return out;
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const keyPos = this.#src.posOf(keyNode ?? node);
      if (this.#spend(keyPos, path)) break;
      const key = this.#keyText(pair);
      if (key === undefined) {
        this.#error(keyPos, path, 'keys must be plain strings');
        continue;
      }
      out.push({ key, keyPos, value: this.#deref(pair.value, joinPath(path, key)) });
    }
    return out;
  }

  /** Walk a mapping (or null: nothing written) against a table. */
  #object(node: Node | null, tbl: OptionTable, path: string, anchor: Position, index: number | undefined, isRoot = false): Result {
    const out: Record<string, unknown> = {};
    if (isRoot) this.#root = out;
    const written = new Map<string, { keyPos: Position; value: Node | null }>();
    const known = new Set(tbl.options.map((o) => o.key));
    for (const e of node ? this.#entries(node, path) : []) {
      const p = joinPath(path, e.key);
      if (!known.has(e.key)) {
        this.#error(e.keyPos, p, `unknown key${suggestion(e.key, known)}`);
        continue;
      }
      this.#keyPos.set(p, e.keyPos);
      written.set(e.key, e);
    }
    for (const spec of tbl.options) {
      const p = joinPath(path, spec.key);
      const w = written.get(spec.key);
      if (w && !this.#isNull(w.value)) {
        const v = this.#value(w.value, spec.type, p, w.keyPos, index);
        if (v === INVALID) continue;
        if (spec.validate && v !== undefined) {
          const problem = (spec.validate as (value: unknown) => string | { message: string; offset: number } | undefined)(v);
          if (problem) {
            if (typeof problem === 'string') this.#error(this.#src.posOf(w.value), p, problem);
            else this.#error(this.#insidePos(w.value, v, problem.offset), p, problem.message);
            continue;
          }
        }
        out[spec.key] = v;
        continue;
      }
      const d = this.#default(spec, p, w ? w.keyPos : anchor, index, w !== undefined);
      if (d !== INVALID && d !== undefined) out[spec.key] = d;
    }
    if (tbl.check) {
      const abs = (rel: string) => (rel === '' ? path : path === '' ? rel : rel.startsWith('[') ? `${path}${rel}` : `${path}.${rel}`);
      const ctx: CheckContext = {
        error: (rel, message) => {
          const p = abs(rel);
          this.#error(this.#nearestPos(p, path) ?? anchor, p, message);
        },
        warn: (rel, message) => {
          const p = abs(rel);
          const pos = this.#nearestPos(p, path) ?? anchor;
          this.warnings.push(new ConfigIssue(this.#src.file, pos.line, pos.col, p, message));
        },
        has: (key) => {
          const w = written.get(key);
          return w !== undefined && !this.#isNull(w.value);
        },
      };
      tbl.check(out, ctx);
    }
    return out;
  }

  /**
   * Where character `offset` of a string value is in the file: exact when the scalar is written on
   * one line as its value (plain, or quoted without escapes before the offset), else the value's start.
   */
  #insidePos(node: Node | null, value: unknown, offset: number): Position {
    const start = this.#src.posOf(node);
    if (!node || !isScalar(node) || typeof value !== 'string') return start;
    const raw = this.#src.rawOf(node);
    const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
    const body = quoted ? raw.slice(1, -1) : raw;
    if (body.includes('\n') || body.slice(0, offset) !== value.slice(0, offset)) return start;
    return { line: start.line, col: start.col + (quoted ? 1 : 0) + offset };
  }

  /** Position of `p` or, for a key not written, of its closest written ancestor below `stop`. */
  #nearestPos(p: string, stop: string): Position | undefined {
    for (let cur = p; cur.length > stop.length; ) {
      const pos = this.#keyPos.get(cur);
      if (pos) return pos;
      const cut = Math.max(cur.lastIndexOf('.'), cur.lastIndexOf('['));
      if (cut <= 0) break;
      cur = cur.slice(0, cut);
    }
    return undefined;
  }

  #default(spec: OptionSpec, path: string, pos: Position, index: number | undefined, writtenEmpty: boolean): Result {
    const override = this.#defaults[path];
    if (override) return override(this.#root);
    const k = spec.type.kind;
    const nestedOverride = Object.keys(this.#defaults).some((d) => d.startsWith(`${path}.`));
    if (spec.required && !(nestedOverride && k === 'object')) {
      this.#error(pos, path, writtenEmpty ? 'required key has no value' : 'required key is missing');
      return INVALID;
    }
    if (spec.default !== undefined) return structuredClone(spec.default);
    if (spec.defaultFn) return spec.defaultFn({ index });
    if (spec.optional) return undefined;
    if (k === 'object' || k === 'map') return this.#value(null, spec.type, path, pos, index);
    return undefined;
  }

  /** A scalar's value after ${VAR} substitution; `fromEnv` when a reference was replaced. */
  #scalar(node: Node, type: OptionType, path: string): { value: unknown; fromEnv: boolean; plain: boolean } | typeof INVALID {
    if (!isScalar(node)) {
      this.#error(this.#src.posOf(node), path, `expected ${typeName(type)}, got ${this.#describe(node)}`);
      return INVALID;
    }
    const plain = node.type === 'PLAIN';
    if (typeof node.value !== 'string') {
      return { value: node.value, fromEnv: false, plain };
    }
    let sub = this.#substituted.get(node);
    if (sub === undefined) {
      const r = substituteEnv(node.value, this.#env);
      if (r.problems.length > 0) {
        const start = node.range?.[0] ?? 0;
        const raw = this.#src.rawOf(node);
        for (const problem of r.problems) {
          const at = nthReference(raw, problem.ordinal);
          this.#error(this.#src.at(at < 0 ? start : start + at), path, problem.message);
        }
        sub = INVALID;
      } else {
        sub = { value: r.value, substituted: r.substituted };
      }
      this.#substituted.set(node, sub);
    }
    if (sub === INVALID) return INVALID;
    return { value: sub.value, fromEnv: sub.substituted, plain };
  }

  #value(node: Node | null, type: OptionType, path: string, anchor: Position, index: number | undefined): Result {
    const pos = node ? this.#src.posOf(node) : anchor;
    const fail = (message: string): typeof INVALID => {
      this.#error(pos, path, message);
      return INVALID;
    };
    if (this.#spend(pos, path)) return INVALID;
    switch (type.kind) {
      case 'object':
        if (node !== null && !isMap(node)) return fail(`expected a mapping, got ${this.#describe(node)}`);
        return this.#object(node, type.table, path, anchor, index);
      case 'map':
        if (node !== null && !isMap(node)) return fail(`expected a mapping, got ${this.#describe(node)}`);
        return this.#map(node, type, path, anchor, index);
      case 'union':
        if (node === null || !isMap(node)) return fail(`expected a mapping with "${type.discriminator}", got ${this.#describe(node)}`);
        return this.#union(node, type, path, index);
      case 'shape':
        if (node === null || !isMap(node)) return fail(`expected a mapping, got ${this.#describe(node)}`);
        return this.#shape(node, type, path, index);
      case 'boolOrList':
        return node !== null && isSeq(node) ? this.#value(node, { kind: 'list', of: type.of }, path, anchor, index) : this.#value(node, { kind: 'bool' }, path, anchor, index);
      case 'list': {
        if (node === null || !isSeq(node)) return fail(`expected a list, got ${this.#describe(node)}`);
        const out: unknown[] = [];
        node.items.forEach((raw, i) => {
          const p = joinPath(path, i);
          const item = this.#deref(raw, p);
          const itemPos = this.#src.posOf(item ?? node);
          this.#keyPos.set(p, itemPos);
          if (this.#isNull(item)) {
            this.#error(itemPos, p, `empty list item: expected ${typeName(type.of)}`);
            out.push(undefined);
            return;
          }
          const v = this.#value(item, type.of, p, itemPos, i);
          out.push(v === INVALID ? undefined : v);
        });
        if (type.minItems !== undefined && node.items.length < type.minItems) {
          return fail(`needs at least ${type.minItems} item${type.minItems === 1 ? '' : 's'}`);
        }
        return out;
      }
      default:
        break;
    }
    if (node === null) return fail(`expected ${typeName(type)}`);
    const s = this.#scalar(node, type, path);
    if (s === INVALID) return INVALID;
    const { value, fromEnv, plain } = s;
    // a plain scalar the YAML schema read as a number or boolean is still text where text is wanted
    const text = typeof value === 'string' ? value : plain && value !== null ? ((node as Scalar).source ?? String(value)) : undefined;
    const r = convertScalar(type, value, text, fromEnv);
    return r.ok ? r.value : fail(r.message);
  }

  #map(node: Node | null, type: Extract<OptionType, { kind: 'map' }>, path: string, anchor: Position, index: number | undefined): Result {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (const e of node ? this.#entries(node, path) : []) {
      const p = joinPath(path, e.key);
      this.#keyPos.set(p, e.keyPos);
      seen.add(e.key);
      // Own keys only: a user's key such as "__proto__" or "constructor" must not find Object.prototype's.
      const special = type.special && Object.hasOwn(type.special, e.key) ? type.special[e.key] : undefined;
      if (!special) {
        const problem = type.keys === 'topic' ? topicNameProblem(e.key) : type.keys === 'label' ? labelNameProblem(e.key) : undefined;
        if (problem) {
          this.#error(e.keyPos, p, problem);
          continue;
        }
      }
      const itemType = special ?? type.of;
      if (this.#isNull(e.value) && itemType.kind !== 'object') {
        this.#error(e.keyPos, p, `expected ${typeName(itemType)}, got nothing`);
        continue;
      }
      const v = this.#value(e.value, itemType, p, e.keyPos, index);
      // defineProperty, not assignment: a key "__proto__" becomes an own entry, never the object's prototype
      if (v !== INVALID) Object.defineProperty(out, e.key, { value: v, enumerable: true, writable: true, configurable: true });
    }
    for (const [key, specialType] of Object.entries(type.special ?? {})) {
      if (seen.has(key)) continue;
      const v = this.#value(null, specialType, joinPath(path, key), anchor, index);
      if (v !== INVALID) out[key] = v;
    }
    return out;
  }

  #variantTable(type: Extract<OptionType, { kind: 'union' }>, name: string): OptionTable {
    const variant = type.variants[name]!;
    let byName = this.#variantTables.get(variant);
    if (!byName) this.#variantTables.set(variant, (byName = new Map()));
    let tbl = byName.get(type.discriminator);
    if (!tbl) {
      const discr: OptionSpec = { key: type.discriminator, type: { kind: 'enum', values: Object.keys(type.variants) }, doc: '', required: true };
      tbl = { options: [discr, ...variant.options], ...(variant.check ? { check: variant.check } : {}) };
      byName.set(type.discriminator, tbl);
    }
    return tbl;
  }

  #union(node: Node, type: Extract<OptionType, { kind: 'union' }>, path: string, index: number | undefined): Result {
    const pos = this.#src.posOf(node);
    const names = Object.keys(type.variants);
    const pair = this.#pairs(node).find((pr) => this.#keyText(pr) === type.discriminator);
    const p = joinPath(path, type.discriminator);
    const value = pair ? (pair.value as Node | null) : null;
    if (!pair || this.#isNull(value) || isAlias(value)) {
      const at = pair ? this.#src.posOf(pair.key as Node) : pos;
      this.#error(at, p, `required key is missing (one of ${names.map((n) => `"${n}"`).join(', ')})`);
      return INVALID;
    }
    const s = this.#scalar(value!, type, p);
    if (s === INVALID) return INVALID;
    const name = typeof s.value === 'string' ? s.value : undefined;
    if (name === undefined || !names.includes(name)) {
      const shown = name ?? String(s.value);
      this.#error(this.#src.posOf(value), p, `unknown ${type.discriminator} "${shown}": expected one of ${names.map((n) => `"${n}"`).join(', ')}${suggestion(shown, names)}`);
      return INVALID;
    }
    return this.#object(node, this.#variantTable(type, name), path, pos, index);
  }

  #shape(node: Node, type: Extract<OptionType, { kind: 'shape' }>, path: string, index: number | undefined): Result {
    const pos = this.#src.posOf(node);
    const keys = new Set(this.#pairs(node).map((pr) => this.#keyText(pr)));
    const matched = type.variants.filter((v) => v.markers.some((m) => keys.has(m)));
    if (matched.length === 1) {
      const v = matched[0]!;
      const out = this.#object(node, v.table, path, pos, index);
      return out === INVALID ? INVALID : { [type.tag]: v.name, ...(out as Record<string, unknown>) };
    }
    if (matched.length === 0) {
      const all = new Set(type.variants.flatMap((v) => v.table.options.map((o) => o.key)));
      for (const e of this.#entries(node, path)) {
        if (!all.has(e.key)) this.#error(e.keyPos, joinPath(path, e.key), `unknown key${suggestion(e.key, all)}`);
      }
      this.#error(pos, path, `cannot tell the kind: ${type.variants.map((v) => v.summary).join('; or ')}`);
      return INVALID;
    }
    const described = matched.map((v) => `${v.name} (${v.markers.filter((m) => keys.has(m)).join(', ')})`);
    this.#error(pos, path, `mixes keys of different kinds: ${described.join(' and ')}`);
    return INVALID;
  }
}

/** Sort issues by position, keeping the walk order for ties. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => a.issue.line - b.issue.line || a.issue.col - b.issue.col || a.i - b.i)
    .map((x) => x.issue);
}
