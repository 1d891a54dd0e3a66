/**
 * The record times of a log-match group's latest matches, kept as runs of
 * (time, count), ascending by time: all the matches of one record time are
 * one run. A stored batch is one producer's lines with one record time, so a
 * busy group adds to its newest run instead of keeping a time per match.
 *
 * It holds exactly the multiset of times a sorted list of one time per match
 * would (the engine's earlier layout, still read from state files): the same
 * adds, the same cuts at the window's start, the same trims to the newest
 * `keep`, the same counts. Adding a time not older than the newest is O(1);
 * cutting is O(runs cut); memory is one run per distinct record time kept,
 * so at most the window's milliseconds and at most the matches kept, however
 * many matches share a time.
 *
 * One Float64Array of (time, count) pairs (`pairs`), run i at [2i] and [2i + 1], used
 * from run `head` to run `tail`: a run's time and count share a cache line, so
 * adding to the newest run touches one line of it (a delivery visits hundreds
 * of groups, each out of the cache by the time it comes round again). The
 * front is cut by moving `head`, and the live part is moved back to the start
 * when the array is full (amortized O(1) per run).
 */
export class MatchTimes {
  /** run i: time pairs[2i] (ms), count pairs[2i + 1] (>= 1), for head <= i < tail */
  pairs: Float64Array;
  head = 0;
  tail = 0;
  /** matches kept: the sum of the counts */
  total = 0;
  /**
   * [0] the oldest time, [1] the newest (meaningful when not empty): kept beside the object in a
   * small array (on the heap with it), so the common check of a match (in order? anything left
   * the window?) reads neither end of `pairs`
   */
  readonly ends = new Float64Array(2);

  constructor(capacity = 4) {
    this.pairs = new Float64Array(capacity * 2);
  }

  /** Runs the array has room for. */
  get capacity(): number {
    return this.pairs.length >>> 1;
  }

  /** From a sorted list of one time per match (the earlier state file layout). */
  static fromList(list: readonly number[]): MatchTimes {
    const m = new MatchTimes(Math.max(4, Math.min(list.length, 1024)));
    const sorted = isAscending(list) ? list : [...list].sort((a, b) => a - b);
    for (const t of sorted) m.add(t, 1);
    return m;
  }

  /** From runs as saved: [[time, count], ...], ascending times, counts >= 1. */
  static fromRuns(runs: ReadonlyArray<readonly [number, number]>): MatchTimes {
    const m = new MatchTimes(Math.max(4, runs.length));
    for (const [t, n] of runs) m.add(t, n);
    return m;
  }

  /** The runs as saved: [[time, count], ...]. */
  runs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = this.head; i < this.tail; i++) out.push([this.pairs[2 * i]!, this.pairs[2 * i + 1]!]);
    return out;
  }

  /** One time per match, ascending (tests, tools). */
  list(): number[] {
    const out: number[] = [];
    for (let i = this.head; i < this.tail; i++) for (let k = 0; k < this.pairs[2 * i + 1]!; k++) out.push(this.pairs[2 * i]!);
    return out;
  }

  clone(): MatchTimes {
    const m = new MatchTimes(Math.max(4, this.tail - this.head));
    m.pairs.set(this.pairs.subarray(2 * this.head, 2 * this.tail));
    m.tail = this.tail - this.head;
    m.total = this.total;
    m.ends.set(this.ends);
    return m;
  }

  get empty(): boolean {
    return this.total === 0;
  }

  /** The newest time (undefined when empty). */
  get newest(): number | undefined {
    return this.tail > this.head ? this.pairs[2 * this.tail - 2] : undefined;
  }

  /** The oldest time (undefined when empty). */
  get oldest(): number | undefined {
    return this.tail > this.head ? this.pairs[2 * this.head] : undefined;
  }

  /** `n` matches at time `t` (any time: an older one goes to its place). */
  add(t: number, n = 1): void {
    const tail = this.tail;
    this.total += n;
    if (tail > this.head) {
      const last = this.pairs[2 * tail - 2]!;
      if (t === last) {
        this.pairs[2 * tail - 1]! += n;
        return;
      }
      if (t < last) {
        this.#insert(t, n);
        return;
      }
    }
    if (tail === this.head) this.ends[0] = t;
    this.ends[1] = t;
    if (2 * tail === this.pairs.length) this.#room();
    const at = 2 * this.tail++;
    this.pairs[at] = t;
    this.pairs[at + 1] = n;
  }

  /** An older time than the newest: into its run, or a new run at its place. */
  #insert(t: number, n: number): void {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pairs[2 * mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    if (lo < this.tail && this.pairs[2 * lo] === t) {
      this.pairs[2 * lo + 1]! += n;
      return;
    }
    if (2 * this.tail === this.pairs.length) {
      const moved = this.head;
      this.#room();
      lo -= moved;
    }
    this.pairs.copyWithin(2 * lo + 2, 2 * lo, 2 * this.tail);
    this.pairs[2 * lo] = t;
    this.pairs[2 * lo + 1] = n;
    this.tail++;
    if (lo === this.head) this.ends[0] = t;
  }

  /** Space for one more run at the tail: the live runs moved to the start, or an array twice as long. */
  #room(): void {
    const live = this.tail - this.head;
    if (this.head > 0 && live <= this.pairs.length >>> 2) {
      this.pairs.copyWithin(0, 2 * this.head, 2 * this.tail);
    } else {
      const pairs = new Float64Array(Math.max(8, this.pairs.length * 2));
      pairs.set(this.pairs.subarray(2 * this.head, 2 * this.tail));
      this.pairs = pairs;
    }
    this.head = 0;
    this.tail = live;
  }

  /** Drops the matches older than `from`; true when some were. */
  dropBefore(from: number): boolean {
    let h = this.head;
    const tail = this.tail;
    const pairs = this.pairs;
    if (h === tail || pairs[2 * h]! >= from) return false;
    let total = this.total;
    while (h < tail && pairs[2 * h]! < from) total -= pairs[2 * h++ + 1]!;
    this.head = h;
    this.total = total;
    if (h < tail) this.ends[0] = pairs[2 * h]!;
    this.#shrink();
    return true;
  }

  /** Drops the oldest matches until `keep` are left (a run may lose part of its count). */
  keepNewest(keep: number): void {
    let drop = this.total - keep;
    if (drop <= 0) return;
    let h = this.head;
    const pairs = this.pairs;
    while (h < this.tail && pairs[2 * h + 1]! <= drop) {
      drop -= pairs[2 * h + 1]!;
      this.total -= pairs[2 * h++ + 1]!;
    }
    if (drop > 0) {
      pairs[2 * h + 1]! -= drop;
      this.total -= drop;
    }
    this.head = h;
    if (h < this.tail) this.ends[0] = pairs[2 * h]!;
    this.#shrink();
  }

  /** Emptied: back to the start (and to a small array when it had grown). */
  #shrink(): void {
    if (this.head !== this.tail) return;
    this.head = this.tail = 0;
    if (this.pairs.length > 128) this.pairs = new Float64Array(8);
  }

  /** Matches with from <= time < before (the total less the runs outside, summed from each end). */
  countIn(from: number, before: number): number {
    let n = this.total;
    const pairs = this.pairs;
    for (let i = this.tail - 1; i >= this.head && pairs[2 * i]! >= before; i--) n -= pairs[2 * i + 1]!;
    for (let i = this.head; i < this.tail && pairs[2 * i]! < from; i++) n -= pairs[2 * i + 1]!;
    return n < 0 ? 0 : n;
  }
}

function isAscending(list: readonly number[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i]! < list[i - 1]!) return false;
  return true;
}
