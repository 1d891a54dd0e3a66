/**
 * Log-match patterns that cannot stall the aggregator.
 *
 * A backtracking regex engine (V8's irregexp, like PCRE or Java's) can take
 * exponential time on lines such as "aaaa...b" for patterns like (a+)+$, and
 * polynomial time for many more; one such line would freeze the aggregator's
 * event loop. Which patterns are accepted is logship's one regex policy,
 * lib/regex-safety.ts (docs/alerting.md): a `match` selects lines, so it is
 * accepted when the static check shows it linear on the backtracking engine,
 * or else when V8's own linear-time engine (a Pike VM) can run it; importing
 * that module turns on V8's switch to the linear engine for a search that
 * backtracks too much, so one search costs O(pattern x line) at most.
 * `logship check` reports the others as config errors. Either way an accepted
 * pattern has no lookaround, which the joined-text scan below relies on.
 */
import { regexProblem } from '../../lib/regex-safety.js';
import { LiteralAutomaton } from './automaton.js';
import { allRequiredRuns, requiredLiterals } from './literals.js';

/** Why `src` is not accepted as a log-match pattern (lib/regex-safety.ts policy, use "select"), or undefined. */
export function patternProblem(src: string): string | undefined {
  let problem: string | undefined;
  try {
    problem = regexProblem(src, 'select');
  } catch (err) {
    problem = `not a valid regular expression: ${(err as Error).message}`;
  }
  if (problem === undefined) return undefined;
  if (problem.startsWith('not a valid regular expression')) return `invalid regular expression: ${problem.replace(/^not a valid regular expression: (Invalid regular expression: )?/, '')}`;
  return `this pattern needs a backtracking engine (${problem}): one hostile line could stall the aggregator; rewrite it (see docs/alerting.md)`;
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

/** Required literals of one pattern, at most this many (bits of a 32-bit mask). */
const MAX_RUNS = 30;

/**
 * The log-match patterns of one topic, evaluated together. Each pattern's
 * required literals (literals.ts) go into one automaton (automaton.ts) for the
 * whole set, run once over the delivery: a pattern without alternatives is a
 * candidate when every one of its required runs occurs in the message, one
 * with top-level alternatives when a literal of one of them occurs; only
 * candidates are tested with the pattern itself. Patterns without usable
 * literals (some alternative, or the whole pattern, has no run of MIN_LITERAL
 * plain characters outside groups and classes, nor a mandatory group whose
 * alternatives all have one, e.g. `[0-9]+ms`, `a|bcd`, `(ERROR|FATAL)?x`)
 * scan the joined text on their own
 * (LinePattern.matching). Either way the answer is exactly the messages each
 * pattern matches on its own.
 */
export class PatternSet {
  readonly patterns: readonly LinePattern[];
  /** patterns without usable literals */
  readonly plain: readonly number[];
  readonly ac: LiteralAutomaton | undefined;
  /** keyword k stands for entries kwEnt[kwStart[k] .. kwStart[k + 1]): pattern << 5 | bit */
  #kwStart: Int32Array;
  #kwEnt: Int32Array;
  /** per pattern: the bits a message must show to be a candidate */
  #need: Int32Array;
  #seen: Int32Array;
  #stamp: Int32Array;
  #gen = 0;
  #cand: Int32Array;

  constructor(patterns: readonly LinePattern[]) {
    this.patterns = patterns;
    const plain: number[] = [];
    const kwIds = new Map<string, number>();
    const entries: number[][] = [];
    this.#need = new Int32Array(patterns.length);
    patterns.forEach((p, i) => {
      // NUL separates messages in the scan: a literal holding one is not used
      let lits = allRequiredRuns(p.source).filter((l) => !l.includes('\0')).slice(0, MAX_RUNS);
      let all = true;
      if (lits.length === 0) {
        lits = requiredLiterals(p.source) ?? [];
        if (lits.some((l) => l.includes('\0'))) lits = [];
        all = false;
      }
      if (lits.length === 0) {
        plain.push(i);
        return;
      }
      lits.forEach((l, b) => {
        let id = kwIds.get(l);
        if (id === undefined) {
          kwIds.set(l, (id = kwIds.size));
          entries.push([]);
        }
        entries[id]!.push((i << 5) | (all ? b : 0));
      });
      this.#need[i] = all ? (1 << lits.length) - 1 : 1;
    });
    this.plain = plain;
    this.#kwStart = new Int32Array(entries.length + 1);
    this.#kwEnt = new Int32Array(entries.reduce((n, e) => n + e.length, 0));
    let at = 0;
    entries.forEach((e, k) => {
      this.#kwStart[k] = at;
      this.#kwEnt.set(e, at);
      at += e.length;
    });
    this.#kwStart[entries.length] = at;
    if (kwIds.size > 0) this.ac = new LiteralAutomaton([...kwIds.keys()]);
    this.#seen = new Int32Array(patterns.length);
    this.#stamp = new Int32Array(patterns.length);
    this.#cand = new Int32Array(patterns.length);
  }

  /** Whether some pattern needs the joined text (matchAll's `text` and `starts`). */
  get needsText(): boolean {
    return this.plain.length > 0;
  }

  /**
   * For each pattern, the indexes (ascending) of the messages it matches.
   * `text`/`starts` (the messages joined by "\n" and where each begins) are
   * only read when needsText.
   */
  matchAll(messages: readonly string[], text: string, starts: readonly number[]): number[][] {
    const hits: number[][] = this.patterns.map(() => []);
    for (const i of this.plain) this.patterns[i]!.matching(messages, text, starts, hits[i]);
    const ac = this.ac;
    if (!ac) return hits;
    const { outStart, out } = ac;
    const kwStart = this.#kwStart;
    const kwEnt = this.#kwEnt;
    const need = this.#need;
    const seen = this.#seen;
    const stamp = this.#stamp;
    const cand = this.#cand;
    const patterns = this.patterns;
    if (this.#gen > 0x3fffffff - messages.length) {
      stamp.fill(0);
      this.#gen = 0;
    }
    const base = this.#gen + 1;
    this.#gen += messages.length;
    const n = ac.scanAll(messages);
    // hits come in message order: a message's candidates are complete when the next message's hits start
    let line = -1;
    let nc = 0;
    for (let k = 0; k <= n; k++) {
      const l = k < n ? ac.hitLine(k) : -2;
      if (l !== line) {
        if (nc > 0) {
          const msg = messages[line]!;
          for (let c = 0; c < nc; c++) {
            const p = cand[c]!;
            if (seen[p] === need[p] && patterns[p]!.test(msg)) hits[p]!.push(line);
          }
          nc = 0;
        }
        line = l;
        if (k === n) break;
      }
      const gen = base + line;
      const st = ac.hitState(k);
      const o1 = outStart[st + 1]!;
      for (let o = outStart[st]!; o < o1; o++) {
        const kw = out[o]!;
        const e1 = kwStart[kw + 1]!;
        for (let e = kwStart[kw]!; e < e1; e++) {
          const ent = kwEnt[e]!;
          const p = ent >>> 5;
          if (stamp[p] !== gen) {
            stamp[p] = gen;
            seen[p] = 0;
            cand[nc++] = p;
          }
          seen[p]! |= 1 << (ent & 31);
        }
      }
    }
    return hits;
  }
}
