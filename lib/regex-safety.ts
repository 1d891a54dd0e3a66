/**
 * The one regex policy of logship: every regular expression a config gives
 * (alert `match`, pipeline `regex` and `pattern` steps, `matches` in
 * conditions) is checked here, at `logship check` and at start.
 *
 * Policy (docs/alerting.md "Patterns cannot stall the aggregator" and
 * docs/pipelines.md "Regex safety" describe it for users):
 *
 *  (a) A pattern the static check below shows to run in linear time on V8's
 *      backtracking engine is accepted for every use.
 *  (b) Otherwise, a pattern used only to select lines (`use: 'select'`: alert
 *     `match`, which runs only on the lines its literals let through and
 *      needs only yes or no) is accepted when V8's own linear-time engine can
 *      run it (no backreferences, no lookaround, no counted repetition too big
 *      to unroll): importing this module turns on V8's switch to that engine
 *      for any search that backtracks excessively, so such a search costs at
 *      most O(pattern x line). Patterns that extract fields on every stored
 *      line (`use: 'extract'`: pipelines) must pass (a): there the fallback's
 *      backtracking budget before it switches would be paid on every line.
 *  (c) Everything else is refused, with the reason.
 *
 * regexProblem() applies the policy; regexSafetyProblem() is (a) alone.
 *
 * The static check (a): a sound refusal of regular expressions that could
 * backtrack badly in V8's backtracking engine (irregexp). A pattern from a
 * config file runs against every stored line,
 * so a pattern is accepted only when the rules below show that matching one
 * line costs time linear in the line (for anchored patterns) and never
 * worse than one linear scan per start position the pattern could begin at.
 *
 * The check is conservative: it may refuse a harmless pattern, never the
 * reverse. Rules (each refusal says which):
 *  1. No backreferences (\1, \k<name>) and no lookaround: their cost is not
 *     bounded by anything below.
 *  2. No nested repetition: a repeated part (max > 1) must not itself hold a
 *     part repeated without a small bound ((a+)+, (\w*\s?)*: exponential).
 *  3. Inside a repetition, the branches of an alternation must start with
 *     different characters, and the repeated part must not be able to match
 *     nothing ((a|ab)*, (a?)*: exponential).
 *  4. At most one "ambiguous" unbounded repetition: one whose next character
 *     could also be the first of what follows it (".*?" followed by '"', or
 *     "\d+" followed by "\d"). Two of them make it quadratic (.*x.*y on a
 *     line without y).
 *  5. An unanchored pattern (no leading ^) is tried at every position of the
 *     line: an unbounded repetition is then allowed only at the very end of
 *     the pattern, or when it cannot start where the pattern itself can
 *     start (ERROR.*timeout is refused: it rescans the line from every
 *     "ERROR"; ^.*ERROR.*timeout is not better: rule 4).
 * A tail that matches anything ([\s\S]* or .* with the s flag) at the very
 * end cannot fail and is never counted.
 *
 * Character sets are tracked exactly for ASCII and as "some character at or
 * above 128" otherwise, so \s, negated classes and non-ASCII literals are
 * treated as overlapping each other.
 */

import { setFlagsFromString } from 'node:v8';

// Before any pattern is compiled (config loading imports this module): a search that backtracks
// too much moves to V8's linear-time engine (policy 2). Process-wide; patterns that pass rule 1
// never reach the budget.
setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** Above this `max` a repetition counts as unbounded. */
const SMALL_MAX = 64;
const MAX_SOURCE = 4096;

class CharSet {
  lo = 0n; // bits 0..127
  high = false;
  static none(): CharSet {
    return new CharSet();
  }
  static all(): CharSet {
    const s = new CharSet();
    s.lo = (1n << 128n) - 1n;
    s.high = true;
    return s;
  }
  static of(code: number): CharSet {
    const s = new CharSet();
    if (code < 128) s.lo = 1n << BigInt(code);
    else s.high = true;
    return s;
  }
  static range(a: number, b: number): CharSet {
    const s = new CharSet();
    for (let c = a; c <= Math.min(b, 127); c++) s.lo |= 1n << BigInt(c);
    if (b >= 128) s.high = true;
    return s;
  }
  union(o: CharSet): CharSet {
    const s = new CharSet();
    s.lo = this.lo | o.lo;
    s.high = this.high || o.high;
    return s;
  }
  negate(): CharSet {
    const s = new CharSet();
    s.lo = ~this.lo & ((1n << 128n) - 1n);
    s.high = true;
    return s;
  }
  overlaps(o: CharSet): boolean {
    return (this.lo & o.lo) !== 0n || (this.high && o.high);
  }
  isAll(): boolean {
    return this.high && this.lo === (1n << 128n) - 1n;
  }
}

type Node =
  | { k: 'char'; set: CharSet }
  | { k: 'seq'; items: Node[] }
  | { k: 'alt'; branches: Node[] }
  | { k: 'rep'; body: Node; min: number; max: number }
  | { k: 'assert'; what: 'start' | 'end' | 'boundary' };

export class UnsafeRegexError extends Error {}

const DIGIT = CharSet.range(48, 57);
const WORD = CharSet.range(48, 57).union(CharSet.range(65, 90)).union(CharSet.range(97, 122)).union(CharSet.of(95));
const SPACE = CharSet.of(32).union(CharSet.range(9, 13)).union(CharSet.of(160)); // 160: stands for the non-ASCII spaces
const NEWLINES = CharSet.of(10).union(CharSet.of(13)).union(CharSet.of(0x2028));

class Parser {
  i = 0;
  constructor(
    readonly src: string,
    readonly dotAll: boolean,
    readonly ignoreCase: boolean,
  ) {}
  fail(msg: string): never {
    throw new UnsafeRegexError(`${msg} (at character ${this.i + 1})`);
  }
  parseAlt(): Node {
    const branches: Node[] = [this.parseSeq()];
    while (this.src[this.i] === '|') {
      this.i++;
      branches.push(this.parseSeq());
    }
    return branches.length === 1 ? branches[0]! : { k: 'alt', branches };
  }
  parseSeq(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      let atom = this.parseAtom();
      atom = this.parseQuant(atom);
      items.push(atom);
    }
    return { k: 'seq', items };
  }
  parseQuant(atom: Node): Node {
    const c = this.src[this.i];
    let min: number;
    let max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d{1,6})(,(\d{0,6}))?\}/.exec(this.src.slice(this.i, this.i + 16));
      if (!m) return atom; // a literal '{' (no u flag)
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.src[this.i] === '?') this.i++;
    if (atom.k === 'assert') this.fail('a quantifier on an assertion');
    return { k: 'rep', body: atom, min, max };
  }
  caseFold(set: CharSet): CharSet {
    if (!this.ignoreCase) return set;
    let out = set;
    for (let c = 65; c <= 90; c++) {
      if (set.overlaps(CharSet.of(c)) || set.overlaps(CharSet.of(c + 32))) out = out.union(CharSet.of(c)).union(CharSet.of(c + 32));
    }
    return out;
  }
  parseAtom(): Node {
    const c = this.src[this.i]!;
    if (c === '(') {
      this.i++;
      if (this.src[this.i] === '?') {
        const two = this.src.slice(this.i, this.i + 3);
        if (two.startsWith('?:')) this.i += 2;
        else if (two === '?<=' || two === '?<!' || two.startsWith('?=') || two.startsWith('?!')) this.fail('lookaround is not allowed');
        else if (two.startsWith('?<')) {
          const end = this.src.indexOf('>', this.i);
          if (end < 0) this.fail('unterminated group name');
          this.i = end + 1;
        } else this.fail('unknown group kind');
      }
      const body = this.parseAlt();
      if (this.src[this.i] !== ')') this.fail('missing )');
      this.i++;
      return body;
    }
    if (c === '[') return { k: 'char', set: this.caseFold(this.parseClass()) };
    if (c === '.') {
      this.i++;
      return { k: 'char', set: this.dotAll ? CharSet.all() : NEWLINES.negate() };
    }
    if (c === '^') {
      this.i++;
      return { k: 'assert', what: 'start' };
    }
    if (c === '$') {
      this.i++;
      return { k: 'assert', what: 'end' };
    }
    if (c === '\\') {
      const e = this.src[this.i + 1];
      if (e === 'b' || e === 'B') {
        this.i += 2;
        return { k: 'assert', what: 'boundary' };
      }
      if (e !== undefined && /[1-9]/.test(e)) this.fail('backreferences are not allowed');
      if (e === 'k' && this.src[this.i + 2] === '<') this.fail('backreferences are not allowed');
      return { k: 'char', set: this.caseFold(this.parseEscape()) };
    }
    if (c === '*' || c === '+' || c === '?') this.fail('nothing to repeat');
    this.i += c.length;
    const code = this.src.codePointAt(this.i - 1)!;
    return { k: 'char', set: this.caseFold(CharSet.of(code)) };
  }
  /** At a backslash: one escape as a set. */
  parseEscape(): CharSet {
    const e = this.src[this.i + 1];
    this.i += 2;
    switch (e) {
      case 'd':
        return DIGIT;
      case 'D':
        return DIGIT.negate();
      case 'w':
        return WORD;
      case 'W':
        return WORD.negate();
      case 's':
        return SPACE;
      case 'S':
        return SPACE.negate();
      case 'n':
        return CharSet.of(10);
      case 'r':
        return CharSet.of(13);
      case 't':
        return CharSet.of(9);
      case 'f':
        return CharSet.of(12);
      case 'v':
        return CharSet.of(11);
      case '0':
        return CharSet.of(0);
      case 'x': {
        const h = this.src.slice(this.i, this.i + 2);
        if (/^[0-9A-Fa-f]{2}$/.test(h)) {
          this.i += 2;
          return CharSet.of(parseInt(h, 16));
        }
        return CharSet.of(120);
      }
      case 'u': {
        const h = this.src.slice(this.i, this.i + 4);
        if (/^[0-9A-Fa-f]{4}$/.test(h)) {
          this.i += 4;
          return CharSet.of(parseInt(h, 16));
        }
        return CharSet.of(117);
      }
      case 'c':
        this.i++;
        return CharSet.range(0, 31);
      case undefined:
        this.fail('trailing backslash');
      default:
        return CharSet.of(e.codePointAt(0)!);
    }
  }
  parseClass(): CharSet {
    this.i++; // [
    let negate = false;
    if (this.src[this.i] === '^') {
      negate = true;
      this.i++;
    }
    let set = CharSet.none();
    let first = true;
    while (this.i < this.src.length && (this.src[this.i] !== ']' || false)) {
      if (this.src[this.i] === ']' && !first) break;
      first = false;
      const a = this.classAtom();
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length && a.code !== undefined) {
        this.i++;
        const b = this.classAtom();
        if (b.code === undefined || b.code < a.code) this.fail('bad range in character class');
        set = set.union(CharSet.range(a.code, b.code));
      } else {
        set = set.union(a.set);
      }
    }
    if (this.src[this.i] !== ']') this.fail('missing ]');
    this.i++;
    return negate ? set.negate() : set;
  }
  classAtom(): { set: CharSet; code?: number } {
    const c = this.src[this.i]!;
    if (c === '\\') {
      const e = this.src[this.i + 1];
      if (e === 'b') {
        this.i += 2;
        return { set: CharSet.of(8), code: 8 };
      }
      const before = this.i;
      const set = this.parseEscape();
      const single = this.src.slice(before, this.i);
      const code = /^\\[dDwWsS]$/.test(single) ? undefined : lowestOf(set);
      return code === undefined ? { set } : { set, code };
    }
    const code = this.src.codePointAt(this.i)!;
    this.i += code > 0xffff ? 2 : 1;
    return { set: CharSet.of(code), code };
  }
}

function lowestOf(set: CharSet): number | undefined {
  for (let c = 0; c < 128; c++) if ((set.lo >> BigInt(c)) & 1n) return c;
  return set.high ? 128 : undefined;
}

interface Info {
  empty: boolean; // can match the empty string
  first: CharSet;
  /** holds a repetition with max > SMALL_MAX */
  unbounded: boolean;
  /** every character it may consume */
  chars: CharSet;
}

class Analyzer {
  ambiguous: string[] = [];
  /** what earlier ambiguous repetitions may span: a later repetition over these characters is rescanned per give-back */
  scanners: CharSet[] = [];
  constructor(
    readonly anchored: boolean,
    readonly patternFirst: CharSet,
  ) {}

  info(n: Node): Info {
    switch (n.k) {
      case 'char':
        return { empty: false, first: n.set, unbounded: false, chars: n.set };
      case 'assert':
        return { empty: true, first: CharSet.none(), unbounded: false, chars: CharSet.none() };
      case 'alt': {
        const infos = n.branches.map((b) => this.info(b));
        return {
          empty: infos.some((x) => x.empty),
          first: infos.reduce((a, x) => a.union(x.first), CharSet.none()),
          unbounded: infos.some((x) => x.unbounded),
          chars: infos.reduce((a, x) => a.union(x.chars), CharSet.none()),
        };
      }
      case 'seq': {
        let first = CharSet.none();
        let empty = true;
        let unbounded = false;
        let chars = CharSet.none();
        for (const it of n.items) {
          const x = this.info(it);
          if (empty) first = first.union(x.first);
          empty = empty && x.empty;
          unbounded ||= x.unbounded;
          chars = chars.union(x.chars);
        }
        return { empty, first, unbounded, chars };
      }
      case 'rep': {
        const b = this.info(n.body);
        return { empty: n.min === 0 || b.empty, first: b.first, unbounded: b.unbounded || n.max > SMALL_MAX, chars: b.chars };
      }
    }
  }

  /** Walks `n`, which is followed by characters in `follow` (or the end when `end`), counting ambiguity. */
  walk(n: Node, follow: CharSet, end: boolean, topTail: boolean, endAfter = false): void {
    switch (n.k) {
      case 'char':
      case 'assert':
        return;
      case 'alt':
        for (const b of n.branches) this.walk(b, follow, end, topTail, endAfter);
        return;
      case 'seq': {
        // follow sets from the right
        const follows: Array<{ set: CharSet; end: boolean }> = new Array(n.items.length);
        const trailingEnd = endAfter || (n.items.length > 0 && isEndAssert(n.items[n.items.length - 1]!));
        let f = follow;
        let e = end;
        for (let i = n.items.length - 1; i >= 0; i--) {
          follows[i] = { set: f, end: e };
          const it = n.items[i]!;
          // $ and \b can fail: what comes before them has something after it that may reject
          if (it.k === 'assert' && it.what !== 'start') {
            f = CharSet.all();
            continue;
          }
          const x = this.info(it);
          f = x.empty ? f.union(x.first) : x.first;
          e = x.empty && e;
        }
        // the tail: the last item, or the last before only $ (without the m flag, $ after a match-anything tail always holds)
        let tail = n.items.length - 1;
        while (tail > 0 && isEndAssert(n.items[tail]!)) tail--;
        n.items.forEach((it, i) => this.walk(it, follows[i]!.set, follows[i]!.end, topTail && i === tail, i === tail ? trailingEnd : false));
        return;
      }
      case 'rep': {
        const b = this.info(n.body);
        if (n.max > 1) {
          if (b.unbounded) throw new UnsafeRegexError('a repeated part holds another unbounded repetition (nested quantifiers can backtrack exponentially)');
          if (b.empty) throw new UnsafeRegexError('a repeated part can match nothing');
          this.checkAltDisjoint(n.body);
        }
        const bigMax = n.max > SMALL_MAX;
        if (bigMax) {
          // at the very end: [\s\S]* (and $ after it) cannot fail; anything else followed by nothing stops at its first success
          const cannotFail = topTail && b.first.isAll();
          const nothingAfter = topTail && !endAfter && follow.lo === 0n && !follow.high;
          if (!cannotFail && !nothingAfter) {
            const over = this.scanners.find((sc) => sc.overlaps(b.first));
            if (over) throw new UnsafeRegexError('an unbounded repetition follows an ambiguous one over the same characters (every give-back of the first rescans the second: quadratic)');
            if (b.first.overlaps(follow)) {
              this.ambiguous.push('x');
              this.scanners.push(b.chars);
            }
            if (!this.anchored && b.first.overlaps(this.patternFirst)) {
              throw new UnsafeRegexError('an unanchored pattern repeats characters it can also start with (it would rescan the line from every start); anchor it with ^ or make the repetition the last part');
            }
          }
        }
        // the body is followed by itself or by what follows the repetition
        // an optional part at the tail is still the tail
        this.walk(n.body, n.max > 1 ? follow.union(b.first) : follow, end && n.max <= 1, topTail && n.max <= 1, endAfter && n.max <= 1);
        return;
      }
    }
  }

  checkAltDisjoint(n: Node): void {
    if (n.k === 'alt') {
      const firsts = n.branches.map((b) => this.info(b));
      for (let i = 0; i < firsts.length; i++) {
        if (firsts[i]!.empty) throw new UnsafeRegexError('an alternative inside a repetition can match nothing');
        for (let j = i + 1; j < firsts.length; j++) {
          if (firsts[i]!.first.overlaps(firsts[j]!.first)) throw new UnsafeRegexError('alternatives inside a repetition can start with the same character (exponential backtracking)');
        }
      }
    } else if (n.k === 'seq') {
      // only the alternation that decides the iteration's first step matters for the branch choice
      for (const it of n.items) {
        this.checkAltDisjoint(it);
        if (!this.info(it).empty) break;
      }
    }
  }
}

/**
 * Why `source` (a JavaScript regex without the u/v flags) may backtrack badly, or undefined
 * when it is accepted. `flags` may hold i, m, s (g and y are ignored).
 */
export function regexSafetyProblem(source: string, flags = ''): string | undefined {
  if (source.length > MAX_SOURCE) return `the pattern is ${source.length} characters long (at most ${MAX_SOURCE})`;
  try {
    new RegExp(source, flags.replace(/[^ims]/g, ''));
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  try {
    const p = new Parser(source, flags.includes('s'), flags.includes('i'));
    const root = p.parseAlt();
    if (p.i !== source.length) p.fail('unbalanced )');
    const anchored = startsAnchored(root) && !flags.includes('m');
    const a = new Analyzer(anchored, new Analyzer(true, CharSet.none()).info(root).first);
    a.walk(root, CharSet.none(), true, true);
    if (a.ambiguous.length > 1) {
      return `${a.ambiguous.length} unbounded repetitions can each give back characters the next part could take (quadratic or worse backtracking); bound them or use a character class that excludes the following delimiter, such as [^"]* before '"'`;
    }
    return undefined;
  } catch (err) {
    if (err instanceof UnsafeRegexError) return err.message;
    throw err;
  }
}

function isEndAssert(n: Node): boolean {
  return n.k === 'assert' && n.what === 'end';
}

function startsAnchored(n: Node): boolean {
  if (n.k === 'assert') return n.what === 'start';
  if (n.k === 'seq') return n.items.length > 0 && startsAnchored(n.items[0]!);
  if (n.k === 'alt') return n.branches.every(startsAnchored);
  return false;
}

/** A RegExp after the safety check; throws UnsafeRegexError with the reason. */
export function safeRegExp(source: string, flags = ''): RegExp {
  const problem = regexSafetyProblem(source, flags);
  if (problem) throw new UnsafeRegexError(problem);
  return new RegExp(source, flags);
}

/** How a configured pattern is used (the policy above): to select lines (yes or no), or to extract fields from every line. */
export type RegexUse = 'select' | 'extract';

/** Why V8's linear-time engine cannot run `source`, or undefined. Throws SyntaxError for an invalid pattern. */
export function linearEngineProblem(source: string, flags = ''): string | undefined {
  try {
    new RegExp(source, flags.replace(/[^ims]/g, '') + 'l');
  } catch (err) {
    const m = (err as Error).message;
    if (/linear time/i.test(m)) return 'V8\'s linear-time engine cannot run it (backreferences such as \\1, lookahead (?=...) / (?!...), lookbehind (?<=...) / (?<!...), or a counted repetition {n,m} too large to unroll)';
    throw err;
  }
  return undefined;
}

/** The policy (file comment): why `source` is refused for `use`, or undefined when it is accepted. */
export function regexProblem(source: string, use: RegexUse, flags = ''): string | undefined {
  const staticProblem = regexSafetyProblem(source, flags);
  if (staticProblem === undefined || staticProblem.startsWith('not a valid regular expression')) return staticProblem;
  if (use === 'extract') return staticProblem;
  const linear = linearEngineProblem(source, flags);
  if (linear === undefined) return undefined;
  return `${staticProblem}; and ${linear}`;
}
