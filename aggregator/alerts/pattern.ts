/**
 * Log-match patterns that cannot stall the aggregator.
 *
 * A backtracking regex engine (V8's irregexp, like PCRE or Java's) can take
 * exponential time on lines such as "aaaa...b" for patterns like (a+)+$, and
 * polynomial time for many more; one such line would freeze the aggregator's
 * event loop. The decision (see docs/alerting.md): every pattern must be in the
 * subset V8's own linear-time engine (a Pike VM, V8 >= 8.8, in every Node
 * we support) can run, checked by compiling it with the `l` flag, which V8
 * refuses for backreferences, lookahead/lookbehind and large counted
 * repetitions. `logship check` reports the others as config errors. At run
 * time the pattern runs on the fast backtracking engine, and V8 switches a
 * search to the linear engine once it backtracks too much
 * (--enable-experimental-regexp-engine-on-excessive-backtracks), so the cost
 * of one search is bounded by O(pattern x line) whatever the input.
 *
 * The flags must be set before the patterns are compiled: importing this
 * module sets them (config loading imports it, so both `logship check` and
 * the aggregator have them).
 */
import { setFlagsFromString } from 'node:v8';
import { allRequiredRuns, requiredLiterals } from './literals.js';

setFlagsFromString('--enable-experimental-regexp-engine');
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

/** Why `src` is not accepted as a log-match pattern, or undefined. */
export function patternProblem(src: string): string | undefined {
  try {
    new RegExp(src, 'l');
  } catch (err) {
    const m = (err as Error).message;
    if (/linear time/i.test(m)) {
      return 'this pattern needs a backtracking engine (backreferences such as \\1, lookahead (?=...) / (?!...), lookbehind (?<=...) / (?<!...), or a counted repetition {n,m} too large to unroll) and one hostile line could stall the aggregator; rewrite it without them (see docs/alerting.md)';
    }
    return `invalid regular expression: ${m.replace(/^Invalid regular expression: /, '')}`;
  }
  return undefined;
}

/**
 * One rule's pattern over many messages at once: one search over the joined
 * text finds candidates, each confirmed on its own message, so the answer is
 * exactly "which messages match on their own" (the joined scan can only add
 * candidates, never lose one: accepted patterns have no lookaround, and `^`/`$`
 * are multiline in the joined text).
 */
export class LinePattern {
  readonly source: string;
  #scan: RegExp;
  #one: RegExp;

  constructor(src: string) {
    const problem = patternProblem(src);
    if (problem) throw new Error(problem);
    this.source = src;
    this.#scan = new RegExp(src, 'gm');
    this.#one = new RegExp(src);
  }

  test(message: string): boolean {
    return this.#one.test(message);
  }

  /**
   * Indexes of the messages that match. `text` is the messages joined by "\n";
   * `starts[i]` is where message i begins in it (ascending).
   */
  matching(messages: readonly string[], text: string, starts: readonly number[], out: number[] = []): number[] {
    const re = this.#scan;
    let i = 0;
    re.lastIndex = 0;
    while (i < messages.length) {
      re.lastIndex = starts[i]!;
      const m = re.exec(text);
      if (!m) break;
      i = lineOf(starts, m.index, i);
      const end = starts[i]! + messages[i]!.length;
      if (this.#one.test(messages[i]!)) out.push(i);
      i++;
      if (m.index + m[0].length > end + 1) {
        // a candidate spanning messages: finish this batch message by message (no rescans of long spans)
        for (; i < messages.length; i++) if (this.#one.test(messages[i]!)) out.push(i);
        break;
      }
    }
    return out;
  }
}

/** The message holding position `pos` (starts ascending; search from `from`). */
function lineOf(starts: readonly number[], pos: number, from: number): number {
  let lo = from;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The log-match patterns of one topic, evaluated together. Patterns with
 * required literals (literals.ts) share one prefilter: one search per
 * message for all their literals at once (V8 runs an alternation of plain
 * strings quickly) marks, per pattern, the messages holding one of its
 * literals, and only those are tested with the pattern. The others scan the
 * joined text on their own (LinePattern.matching). Either way the answer is
 * exactly the messages each pattern matches on its own.
 */
export class PatternSet {
  readonly patterns: readonly LinePattern[];
  /** patterns without usable literals */
  #plain: number[] = [];
  #prefilter: RegExp | undefined;
  /** literal -> indexes of the patterns it (or one of its prefixes) stands for */
  #owners = new Map<string, number[]>();
  /** per pattern: other strings a matching message must contain (checked before the pattern runs) */
  #musts: string[][] = [];

  constructor(patterns: readonly LinePattern[]) {
    this.patterns = patterns;
    const byLiteral = new Map<string, number[]>();
    patterns.forEach((p, i) => {
      this.#musts[i] = allRequiredRuns(p.source);
      const lits = requiredLiterals(p.source);
      if (!lits) {
        this.#plain.push(i);
        return;
      }
      for (const l of lits) byLiteral.set(l, [...(byLiteral.get(l) ?? []), i]);
    });
    if (byLiteral.size === 0) return;
    // Longest first: at one position the alternation reports the longest literal; the shorter ones
    // found there are its prefixes, so each literal also stands for the patterns of its prefixes.
    const lits = [...byLiteral.keys()].sort((a, b) => b.length - a.length);
    for (const l of lits) {
      const owners = new Set<number>();
      for (const [k, idx] of byLiteral) if (l.startsWith(k)) for (const i of idx) owners.add(i);
      this.#owners.set(l, [...owners]);
    }
    this.#prefilter = new RegExp(lits.map((l) => l.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|'), 'g');
  }

  #mayMatch(p: number, msg: string): boolean {
    for (const m of this.#musts[p]!) if (!msg.includes(m)) return false;
    return true;
  }

  /** Whether some pattern needs the joined text (matchAll's `text` and `starts`). */
  get needsText(): boolean {
    return this.#plain.length > 0;
  }

  /**
   * For each pattern, the indexes (ascending) of the messages it matches.
   * `text`/`starts` (the messages joined by "\n" and where each begins) are
   * only read when needsText.
   */
  matchAll(messages: readonly string[], text: string, starts: readonly number[]): number[][] {
    const hits: number[][] = this.patterns.map(() => []);
    for (const i of this.#plain) this.patterns[i]!.matching(messages, text, starts, hits[i]);
    const re = this.#prefilter;
    if (!re) return hits;
    const last = new Int32Array(this.patterns.length).fill(-1);
    // message by message: no joined copy, and a literal never spans two messages
    for (let line = 0; line < messages.length; line++) {
      const msg = messages[line]!;
      re.lastIndex = 0;
      for (let m = re.exec(msg); m; m = re.exec(msg)) {
        for (const p of this.#owners.get(m[0])!) {
          if (last[p] === line) continue;
          last[p] = line;
          if (this.#mayMatch(p, msg) && this.patterns[p]!.test(msg)) hits[p]!.push(line);
        }
        re.lastIndex = m.index + 1;
      }
    }
    return hits;
  }
}
