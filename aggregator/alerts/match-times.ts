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
 * Two parallel Float64Arrays (times, counts) used from `head` to `tail`; the
 * front is cut by moving `head`, and the live part is moved back to the start
 * when the arrays are full (amortized O(1) per run).
 */
export class MatchTimes {
  /** run i: times[i] (ms), counts[i] (>= 1), for head <= i < tail */
  times: Float64Array;
  counts: Float64Array;
  head = 0;
  tail = 0;
  /** matches kept: the sum of the counts */
  total = 0;

  constructor(capacity = 4) {
    this.times = new Float64Array(capacity);
    this.counts = new Float64Array(capacity);
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
    for (let i = this.head; i < this.tail; i++) out.push([this.times[i]!, this.counts[i]!]);
    return out;
  }

  /** One time per match, ascending (tests, tools). */
  list(): number[] {
    const out: number[] = [];
    for (let i = this.head; i < this.tail; i++) for (let k = 0; k < this.counts[i]!; k++) out.push(this.times[i]!);
    return out;
  }

  clone(): MatchTimes {
    const m = new MatchTimes(Math.max(4, this.tail - this.head));
    m.times.set(this.times.subarray(this.head, this.tail));
    m.counts.set(this.counts.subarray(this.head, this.tail));
    m.tail = this.tail - this.head;
    m.total = this.total;
    return m;
  }

  get empty(): boolean {
    return this.total === 0;
  }

  /** The newest time (undefined when empty). */
  get newest(): number | undefined {
    return this.tail > this.head ? this.times[this.tail - 1] : undefined;
  }

  /** The oldest time (undefined when empty). */
  get oldest(): number | undefined {
    return this.tail > this.head ? this.times[this.head] : undefined;
  }

  /** `n` matches at time `t` (any time: an older one goes to its place). */
  add(t: number, n = 1): void {
    const tail = this.tail;
    this.total += n;
    if (tail > this.head) {
      const last = this.times[tail - 1]!;
      if (t === last) {
        this.counts[tail - 1]! += n;
        return;
      }
      if (t < last) {
        this.#insert(t, n);
        return;
      }
    }
    if (tail === this.times.length) this.#room();
    this.times[this.tail] = t;
    this.counts[this.tail++] = n;
  }

  /** An older time than the newest: into its run, or a new run at its place. */
  #insert(t: number, n: number): void {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.times[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    if (this.times[lo] === t) {
      this.counts[lo]! += n;
      return;
    }
    if (this.tail === this.times.length) {
      const moved = this.head;
      this.#room();
      lo -= moved;
    }
    this.times.copyWithin(lo + 1, lo, this.tail);
    this.counts.copyWithin(lo + 1, lo, this.tail);
    this.times[lo] = t;
    this.counts[lo] = n;
    this.tail++;
  }

  /** Space for one more run at the tail: the live runs moved to the start, or arrays twice as long. */
  #room(): void {
    const live = this.tail - this.head;
    if (this.head > 0 && live <= this.times.length >>> 1) {
      this.times.copyWithin(0, this.head, this.tail);
      this.counts.copyWithin(0, this.head, this.tail);
    } else {
      const times = new Float64Array(Math.max(4, this.times.length * 2));
      const counts = new Float64Array(times.length);
      times.set(this.times.subarray(this.head, this.tail));
      counts.set(this.counts.subarray(this.head, this.tail));
      this.times = times;
      this.counts = counts;
    }
    this.head = 0;
    this.tail = live;
  }

  /** Drops the matches older than `from`; true when some were. */
  dropBefore(from: number): boolean {
    let h = this.head;
    const tail = this.tail;
    if (h === tail || this.times[h]! >= from) return false;
    let total = this.total;
    while (h < tail && this.times[h]! < from) total -= this.counts[h++]!;
    this.head = h;
    this.total = total;
    this.#shrink();
    return true;
  }

  /** Drops the oldest matches until `keep` are left (a run may lose part of its count). */
  keepNewest(keep: number): void {
    let drop = this.total - keep;
    if (drop <= 0) return;
    let h = this.head;
    while (h < this.tail && this.counts[h]! <= drop) {
      drop -= this.counts[h]!;
      this.total -= this.counts[h++]!;
    }
    if (drop > 0) {
      this.counts[h]! -= drop;
      this.total -= drop;
    }
    this.head = h;
    this.#shrink();
  }

  /** Emptied: back to the start (and to small arrays when they had grown). */
  #shrink(): void {
    if (this.head !== this.tail) return;
    this.head = this.tail = 0;
    if (this.times.length > 64) {
      this.times = new Float64Array(4);
      this.counts = new Float64Array(4);
    }
  }

  /** Matches with from <= time < before (the total less the runs outside, summed from each end). */
  countIn(from: number, before: number): number {
    let n = this.total;
    for (let i = this.tail - 1; i >= this.head && this.times[i]! >= before; i--) n -= this.counts[i]!;
    for (let i = this.head; i < this.tail && this.times[i]! < from; i++) n -= this.counts[i]!;
    return n < 0 ? 0 : n;
  }
}

function isAscending(list: readonly number[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i]! < list[i - 1]!) return false;
  return true;
}
