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
 * Keyword tables of one automaton. A pattern is anchored on one of its
 * literals (the rarest seen so far; any-of patterns on each of theirs): only
 * an anchor's hit makes it a candidate of the line; the other literals it
 * requires are then looked up in the line's keyword stamps. A hit of a
 * literal many patterns require but none is anchored on costs one stamp.
 */
interface Scanner {
  ac: LiteralAutomaton;
  /** keyword id -> literal */
  words: string[];
  /** patterns anchored on keyword k: kwAnchor[kwAnchorStart[k] .. kwAnchorStart[k + 1]) */
  kwAnchorStart: Int32Array;
  kwAnchor: Int32Array;
  /** keywords pattern p requires besides its anchor: req[reqStart[p] .. reqStart[p + 1]) */
  reqStart: Int32Array;
  req: Int32Array;
  /** the anchors chosen, "pattern:literal", to tell whether a new choice differs */
  anchors: string;
}

/** A required run found in more than this share of the lines filters little: left out of the scan when the pattern has a rarer one. */
const FREQUENT = 0.5;
/** Lines the full scan samples before deciding which runs to leave out. */
const SAMPLE_LINES = 20_000;
/** After the first decision, one delivery in this many is scanned with every run (to decide again). */
const SAMPLE_EVERY = 32;

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
 *
 * A run found in most lines (`" "` between two quoted nginx fields, the
 * current hour `:00:`) costs a hit per line and filters almost nothing. The
 * set samples how many lines hold each literal (the first SAMPLE_LINES lines,
 * then one delivery in SAMPLE_EVERY, scanned with every literal) and scans
 * the others with an automaton without the runs found in more than half the
 * lines, for patterns that keep a rarer run. Leaving a required run out only
 * makes more candidates, each tested with its pattern: the answer is the same.
 */
export class PatternSet {
  readonly patterns: readonly LinePattern[];
  /** patterns without usable literals */
  readonly plain: readonly number[];
  /** per pattern: its literals; all: every one is required (else one of them is) */
  #lits: string[][];
  #all: boolean[];
  #full: Scanner | undefined;
  #scanner: Scanner | undefined;
  /** runs left out of #scanner, "pattern:bit" (what the last decision chose) */
  #left = '';
  #stamp: Int32Array;
  /** per keyword of the scanner in use: the line (base + index) it last occurred in */
  #kwStamp = new Int32Array(0);
  /** literal -> share of sampled lines holding it (anchors: the rarest) */
  #share = new Map<string, number>();
  #gen = 0;
  #cand: Int32Array;
  /** a plain pattern's answer before it is copied into the caller's HitLists */
  #plainHits: number[] = [];
  /** sampling: lines per keyword of the full automaton, lines sampled, deliveries since */
  #kwLines = new Int32Array(0);
  #sampled = 0;
  #deliveries = 0;
  #decided = false;

  constructor(patterns: readonly LinePattern[]) {
    this.patterns = patterns;
    const plain: number[] = [];
    this.#lits = [];
    this.#all = [];
    patterns.forEach((p, i) => {
      // NUL separates messages in the scan: a literal holding one is not used
      let lits = allRequiredRuns(p.source).filter((l) => !l.includes('\0')).slice(0, MAX_RUNS);
      let all = true;
      if (lits.length === 0) {
        lits = requiredLiterals(p.source) ?? [];
        if (lits.some((l) => l.includes('\0'))) lits = [];
        all = false;
      }
      if (lits.length === 0) plain.push(i);
      this.#lits.push(lits);
      this.#all.push(all);
    });
    this.plain = plain;
    this.#full = this.#build(new Set());
    this.#scanner = this.#full;
    const words = this.#full?.words.length ?? 0;
    this.#kwLines = new Int32Array(words);
    this.#stamp = new Int32Array(patterns.length);
    this.#cand = new Int32Array(patterns.length);
  }

  /** The automaton scanning now (undefined: no pattern has literals). */
  get ac(): LiteralAutomaton | undefined {
    return this.#scanner?.ac;
  }

  /** How many required runs the scan leaves out now (found in most lines, their patterns having a rarer one). */
  get leftOut(): number {
    return this.#left === '' ? 0 : this.#left.split(',').length;
  }

  /** The keyword tables for every literal but those in `leave` ("pattern:bit"). */
  #build(leave: ReadonlySet<string>): Scanner | undefined {
    const kwIds = new Map<string, number>();
    const id = (l: string) => {
      let k = kwIds.get(l);
      if (k === undefined) kwIds.set(l, (k = kwIds.size));
      return k;
    };
    const anchored: number[][] = [];
    const reqs: number[][] = [];
    const anchors: string[] = [];
    const share = (l: string) => this.#share.get(l) ?? 1 / (1 + l.length); // before sampling: the longest
    this.#lits.forEach((lits, i) => {
      reqs.push([]);
      if (lits.length === 0) return;
      if (!this.#all[i]) {
        // any one literal: each is an anchor, nothing else required
        for (const l of lits) (anchored[id(l)] ??= []).push(i);
        return;
      }
      const kept = lits.filter((_, b) => !leave.has(`${i}:${b}`));
      let anchor = kept[0]!;
      for (const l of kept) if (share(l) < share(anchor)) anchor = l;
      anchors.push(`${i}:${anchor}`);
      (anchored[id(anchor)] ??= []).push(i);
      for (const l of kept) if (l !== anchor) reqs[i]!.push(id(l));
    });
    if (kwIds.size === 0) return undefined;
    const words = [...kwIds.keys()];
    const kwAnchorStart = new Int32Array(words.length + 1);
    const kwAnchor: number[] = [];
    for (let k = 0; k < words.length; k++) {
      kwAnchorStart[k] = kwAnchor.length;
      for (const p of anchored[k] ?? []) kwAnchor.push(p);
    }
    kwAnchorStart[words.length] = kwAnchor.length;
    const reqStart = new Int32Array(this.patterns.length + 1);
    const req: number[] = [];
    reqs.forEach((r, p) => {
      reqStart[p] = req.length;
      req.push(...r);
    });
    reqStart[this.patterns.length] = req.length;
    return { ac: new LiteralAutomaton(words), words, kwAnchorStart, kwAnchor: Int32Array.from(kwAnchor), reqStart, req: Int32Array.from(req), anchors: anchors.join(',') };
  }

  /** After a sample: which frequent runs to leave out, and the anchors; a new automaton when either changed. */
  #decide(): void {
    const full = this.#full!;
    full.words.forEach((w, k) => this.#share.set(w, this.#kwLines[k]! / this.#sampled));
    const share = (l: string) => this.#share.get(l)!;
    const leave = new Set<string>();
    this.#lits.forEach((lits, i) => {
      if (!this.#all[i] || lits.length < 2) return;
      // the rarest run stays whatever its share
      let rarest = 0;
      lits.forEach((l, b) => {
        if (share(l) < share(lits[rarest]!)) rarest = b;
      });
      lits.forEach((l, b) => {
        if (b !== rarest && share(l) > FREQUENT) leave.add(`${i}:${b}`);
      });
    });
    const left = [...leave].join(',');
    const next = this.#build(leave)!;
    if (left !== this.#left || next.anchors !== this.#scanner!.anchors) {
      this.#left = left;
      this.#scanner = next;
    }
    this.#kwLines.fill(0);
    this.#sampled = 0;
    this.#decided = true;
  }

  /** Whether some pattern needs the joined text (matchAll's `text` and `starts`). */
  get needsText(): boolean {
    return this.plain.length > 0;
  }

  /**
   * For each pattern, the indexes (ascending) of the messages it matches, as lists (see
   * matchInto, which fills reusable arrays instead).
   */
  matchAll(messages: readonly string[], text: string, starts: readonly number[]): number[][] {
    const h = this.matchInto(messages, text, starts, new HitLists(this.patterns.length));
    return this.patterns.map((_, p) => Array.from(h.lines[p]!.subarray(0, h.count[p]!)));
  }

  /**
   * For each pattern p, the indexes (ascending) of the messages it matches:
   * `into.lines[p][0 .. into.count[p])`. `text`/`starts` (the messages joined by
   * "\n" and where each begins) are only read when needsText. `into` is emptied
   * first and keeps its arrays' capacity, so a caller that reads the answer
   * before the next call fills the same arrays delivery after delivery.
   */
  matchInto(messages: readonly string[], text: string, starts: readonly number[], into: HitLists): HitLists {
    const hits = into;
    hits.clear();
    for (const i of this.plain) {
      const found = this.patterns[i]!.matching(messages, text, starts, this.#plainHits);
      for (let j = 0; j < found.length; j++) hits.push(i, found[j]!);
      found.length = 0;
    }
    if (!this.#full) return hits;
    // sampling: until SAMPLE_LINES lines are seen, every delivery at first, later one in SAMPLE_EVERY
    const sample = !this.#decided || this.#deliveries++ % SAMPLE_EVERY === 0;
    const sc = sample ? this.#full : this.#scanner!;
    const { ac, kwAnchorStart, kwAnchor, reqStart, req } = sc;
    const { outStart, out } = ac;
    if (this.#kwStamp.length < sc.words.length) this.#kwStamp = new Int32Array(Math.max(sc.words.length, this.#full.words.length));
    const kwStamp = this.#kwStamp;
    const stamp = this.#stamp;
    const cand = this.#cand;
    const kwLines = this.#kwLines;
    const patterns = this.patterns;
    if (this.#gen > 0x3fffffff - messages.length) {
      stamp.fill(0);
      kwStamp.fill(0);
      this.#gen = 0;
    }
    const base = this.#gen + 1;
    this.#gen += messages.length;
    const n = ac.scanAll(messages);
    const hitLines = ac.hitLines;
    const hitStates = ac.hitStates;
    // hits come in message order: a message's candidates are complete when the next message's hits start
    let line = -1;
    let nc = 0;
    for (let k = 0; k <= n; k++) {
      const l = k < n ? hitLines[k]! : -2;
      if (l !== line) {
        if (nc > 0) {
          const msg = messages[line]!;
          const gen = base + line;
          next: for (let c = 0; c < nc; c++) {
            const p = cand[c]!;
            for (let r = reqStart[p]!, r1 = reqStart[p + 1]!; r < r1; r++) if (kwStamp[req[r]!] !== gen) continue next;
            if (patterns[p]!.test(msg)) hits.push(p, line);
          }
          nc = 0;
        }
        line = l;
        if (k === n) break;
      }
      const gen = base + line;
      const st = hitStates[k]!;
      for (let o = outStart[st]!, o1 = outStart[st + 1]!; o < o1; o++) {
        const kw = out[o]!;
        if (kwStamp[kw] === gen) continue; // this keyword's patterns are already listed for this line
        kwStamp[kw] = gen;
        if (sample) kwLines[kw]!++;
        for (let a = kwAnchorStart[kw]!, a1 = kwAnchorStart[kw + 1]!; a < a1; a++) {
          const p = kwAnchor[a]!;
          if (stamp[p] !== gen) {
            stamp[p] = gen;
            cand[nc++] = p;
          }
        }
      }
    }
    if (sample) {
      this.#sampled += messages.length;
      if (this.#sampled >= SAMPLE_LINES) this.#decide();
    }
    return hits;
  }
}

/**
 * Per pattern, the lines it matched in one delivery: `lines[p][0 .. count[p])`. The arrays keep
 * their capacity when cleared (doubling when a delivery needs more), so refilling them for the
 * next delivery allocates nothing once they have grown to a delivery's size.
 */
export class HitLists {
  readonly lines: Int32Array[];
  readonly count: Int32Array;

  constructor(patterns: number) {
    this.lines = Array.from({ length: patterns }, () => new Int32Array(64));
    this.count = new Int32Array(patterns);
  }

  clear(): void {
    this.count.fill(0);
  }

  push(p: number, line: number): void {
    const n = this.count[p]!;
    let a = this.lines[p]!;
    if (n === a.length) {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      this.lines[p] = a = b;
    }
    a[n] = line;
    this.count[p] = n + 1;
  }
}
