/**
 * Conditions (`if:` on any step, `drop`, `route`): a small expression form.
 *
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | compare
 *   compare := operand [op operand]          op: == != < <= > >= contains matches in
 *   operand := field | "string" | 'string' | number | true | false | null | [list] | "(" expr ")"
 *   field   := a dotted name (http.response.status_code, @timestamp, log.level)
 *
 * A field alone is true when it is present and not false, null, 0 or "".
 * `<`, `>`, ... compare numbers (a numeric string counts as its number) or
 * else strings; `contains` is substring (or list membership); `matches`
 * takes a regex string (checked by lib/regex-safety.ts); `in` takes a list.
 * Parsing is linear and bounded; errors carry the offset of the problem.
 */

import { regexSafetyProblem } from '../../lib/regex-safety.js';
import { fieldProblem, getPath, splitPath, type Doc } from './fields.js';

export type Condition = (doc: Doc) => boolean;

export class ConditionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

type Tok =
  | { t: 'op'; v: string; at: number }
  | { t: 'word'; v: string; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'num'; v: number; at: number }
  | { t: 'end'; at: number };

const MAX_LEN = 4096;
const MAX_DEPTH = 32;
const OPS = ['==', '!=', '<=', '>=', '<', '>', '(', ')', '[', ']', ','];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ t: 'op', v: op, at: i });
      i += op.length;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      let v = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\' && i + 1 < src.length) {
          const n = src[i + 1]!;
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
        } else v += src[i++];
      }
      if (i >= src.length) throw new ConditionError(`unterminated string (opened with ${c})`, start);
      i++;
      out.push({ t: 'str', v, at: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^-?\d+(?:\.\d+)?/.exec(src.slice(i, i + 40))!;
      out.push({ t: 'num', v: Number(m[0]), at: i });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_@]/.test(c)) {
      const m = /^[A-Za-z_@][A-Za-z0-9_@.-]*/.exec(src.slice(i, i + 300))!;
      out.push({ t: 'word', v: m[0], at: i });
      i += m[0].length;
      continue;
    }
    throw new ConditionError(`unexpected character "${c}"`, i);
  }
  out.push({ t: 'end', at: src.length });
  return out;
}

type Operand = { kind: 'field'; keys: string[] } | { kind: 'value'; v: unknown } | { kind: 'expr'; f: Condition };

const KEYWORDS = new Set(['and', 'or', 'not', 'contains', 'matches', 'in', 'true', 'false', 'null']);

class Parser {
  p = 0;
  depth = 0;
  constructor(readonly toks: Tok[]) {}
  peek(): Tok {
    return this.toks[this.p]!;
  }
  next(): Tok {
    return this.toks[this.p++]!;
  }
  isWord(v: string): boolean {
    const t = this.peek();
    return t.t === 'word' && t.v === v;
  }
  isOp(v: string): boolean {
    const t = this.peek();
    return t.t === 'op' && t.v === v;
  }
  expect(v: string): void {
    if (!this.isOp(v)) this.fail(`expected "${v}"`);
    this.p++;
  }
  fail(msg: string, tok: Tok = this.peek()): never {
    throw new ConditionError(tok.t === 'end' ? `${msg}, got the end of the condition` : `${msg}, got ${describe(tok)}`, tok.at);
  }
  or(): Condition {
    if (++this.depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} deep`);
    let f = this.and();
    while (this.isWord('or')) {
      this.p++;
      const a = f;
      const b = this.and();
      f = (d) => a(d) || b(d);
    }
    this.depth--;
    return f;
  }
  and(): Condition {
    let f = this.not();
    while (this.isWord('and')) {
      this.p++;
      const a = f;
      const b = this.not();
      f = (d) => a(d) && b(d);
    }
    return f;
  }
  not(): Condition {
    if (this.isWord('not')) {
      this.p++;
      if (++this.depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} deep`);
      const f = this.not();
      this.depth--;
      return (d) => !f(d);
    }
    return this.compare();
  }
  compare(): Condition {
    const left = this.operand();
    const t = this.peek();
    let op: string | undefined;
    if (t.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) op = t.v;
    else if (t.t === 'word' && (t.v === 'contains' || t.v === 'matches' || t.v === 'in')) op = t.v;
    if (op === undefined) {
      if (left.kind === 'expr') return left.f;
      const get = value(left);
      return (d) => truthy(get(d));
    }
    this.p++;
    const rightTok = this.peek();
    const right = this.operand();
    if (left.kind === 'expr' || right.kind === 'expr') this.fail(`"${op}" compares values, not conditions`, t);
    const a = value(left);
    if (op === 'matches') {
      if (right.kind !== 'value' || typeof right.v !== 'string') this.fail('matches takes a regex in quotes', rightTok);
      const problem = regexSafetyProblem(right.v as string);
      if (problem) throw new ConditionError(`regex refused: ${problem}`, rightTok.at);
      const re = new RegExp(right.v as string);
      return (d) => {
        const x = a(d);
        return typeof x === 'string' ? re.test(x) : typeof x === 'number' ? re.test(String(x)) : false;
      };
    }
    if (op === 'in') {
      if (right.kind !== 'value' || !Array.isArray(right.v)) this.fail('in takes a list such as [200, 204]', rightTok);
      const list = right.v as unknown[];
      return (d) => {
        const x = a(d);
        return list.some((y) => equal(x, y));
      };
    }
    const b = value(right);
    switch (op) {
      case '==':
        return (d) => equal(a(d), b(d));
      case '!=':
        return (d) => !equal(a(d), b(d));
      case 'contains':
        return (d) => contains(a(d), b(d));
      default: {
        const want = op === '<' ? (c: number) => c < 0 : op === '<=' ? (c: number) => c <= 0 : op === '>' ? (c: number) => c > 0 : (c: number) => c >= 0;
        return (d) => {
          const c = order(a(d), b(d));
          return c !== undefined && want(c);
        };
      }
    }
  }
  operand(): Operand {
    const t = this.next();
    if (t.t === 'str') return { kind: 'value', v: t.v };
    if (t.t === 'num') return { kind: 'value', v: t.v };
    if (t.t === 'op' && t.v === '(') {
      const f = this.or();
      this.expect(')');
      return { kind: 'expr', f };
    }
    if (t.t === 'op' && t.v === '[') {
      const items: unknown[] = [];
      if (!this.isOp(']')) {
        for (;;) {
          const it = this.next();
          if (it.t === 'str' || it.t === 'num') items.push(it.v);
          else if (it.t === 'word' && (it.v === 'true' || it.v === 'false' || it.v === 'null')) items.push(it.v === 'null' ? null : it.v === 'true');
          else this.fail('a list holds strings, numbers, true, false or null', it);
          if (items.length > 1000) this.fail('a list holds at most 1000 items', it);
          if (this.isOp(']')) break;
          this.expect(',');
        }
      }
      this.expect(']');
      return { kind: 'value', v: items };
    }
    if (t.t === 'word') {
      if (t.v === 'true' || t.v === 'false') return { kind: 'value', v: t.v === 'true' };
      if (t.v === 'null') return { kind: 'value', v: null };
      if (KEYWORDS.has(t.v)) this.fail('expected a field, a value or "("', t);
      const problem = fieldProblem(t.v);
      if (problem) throw new ConditionError(problem, t.at);
      return { kind: 'field', keys: splitPath(t.v) };
    }
    this.fail('expected a field, a value or "("', t);
  }
}

function describe(t: Tok): string {
  if (t.t === 'str') return `the string "${t.v}"`;
  if (t.t === 'num') return `the number ${t.v}`;
  if (t.t === 'end') return 'the end';
  return `"${t.v}"`;
}

function value(o: Operand): (d: Doc) => unknown {
  if (o.kind === 'field') {
    const keys = o.keys;
    return (d) => getPath(d, keys);
  }
  const v = o.kind === 'value' ? o.v : undefined;
  return () => v;
}

function truthy(v: unknown): boolean {
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== '';
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && v.length < 40) {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  return undefined;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== undefined && y !== undefined && (typeof a === 'number' || typeof b === 'number')) return x === y;
  return false;
}

function order(a: unknown, b: unknown): number | undefined {
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== undefined && y !== undefined) return x - y;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

function contains(a: unknown, b: unknown): boolean {
  if (typeof a === 'string') return typeof b === 'string' || typeof b === 'number' ? a.includes(String(b)) : false;
  if (Array.isArray(a)) return a.some((x) => equal(x, b));
  return false;
}

/** Compiles a condition; throws ConditionError with the offset of the problem. */
export function compileCondition(src: string): Condition {
  if (src.length > MAX_LEN) throw new ConditionError(`the condition is ${src.length} characters long (at most ${MAX_LEN})`, 0);
  const p = new Parser(lex(src));
  if (p.peek().t === 'end') throw new ConditionError('the condition is empty', 0);
  const f = p.or();
  if (p.peek().t !== 'end') p.fail('expected "and", "or" or the end');
  return f;
}
