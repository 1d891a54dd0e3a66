/**
 * Rule evaluation on record time. Each rule kind keeps a GroupState per group
 * and reports transitions through `to()`; the engine decides what a
 * transition means (persist, then notify). Times are ms since epoch: record
 * times for records, the engine's evaluation time for ticks.
 *
 * Backlog guard: a transition to firing caused by a record older than the
 * rule's max_age (against the wall clock) is refused: the group's counts and
 * values are updated, but no incident opens (`stale()` is told, and counts it).
 */
import type { AbsentAlertRule, AlertRule, MatchAlertRule, MetricAlertRule } from './config.js';
import { groupKey } from './identity.js';
import { EvidenceRing } from './evidence.js';
import { MatchTimes } from './match-times.js';
import { EVIDENCE_MAX, type AlertStatus, type Evidence, type GroupState } from './types.js';

export interface EvalHooks {
  /** wall clock, ms */
  now(): number;
  /** the group changed status (already applied to `g`) */
  to(rule: AlertRule, g: GroupState, from: AlertStatus, at: number): void;
  /** a record older than max_age would have opened an incident */
  stale(rule: AlertRule): void;
  /** a new group would exceed the per-rule limit */
  groupLimit(rule: AlertRule): void;
  /** something in the state changed (needs saving) */
  dirty(): void;
}

/** Groups per rule at most; beyond, new groups are refused (counted, logged). */
export const MAX_GROUPS_PER_RULE = 10_000;
/** A resolved or inactive group with nothing pending is forgotten after this long. */
const FORGET_AFTER_MS = 60 * 60_000;

/** What matchLines reads of a matched record. */
export interface MatchedRecord {
  host: string;
  offset: number;
  source: string;
  source_offset: number;
}

export function newGroup(rule: string, group: Record<string, string>, now: number): GroupState {
  return { rule, group, status: 'inactive', since: now, count: 0, matches: new MatchTimes(), evidence: new EvidenceRing(), notified: Object.create(null) as GroupState['notified'] };
}

export abstract class RuleEval<R extends AlertRule = AlertRule> {
  readonly groups = new Map<string, GroupState>();
  /** host -> group key */
  #keys = new Map<string, string>();

  constructor(
    readonly rule: R,
    protected hooks: EvalHooks,
  ) {}

  /** The group key of a host (cached; the same key the engine restores and notifies with). */
  key(host: string): string {
    let k = this.#keys.get(host);
    if (k === undefined) {
      if (this.#keys.size >= 100_000) this.#keys.clear();
      this.#keys.set(host, (k = groupKey(this.rule.name, this.rule.group_by, { host })));
    }
    return k;
  }

  /** The group for `values`, created when new (undefined beyond the limit). */
  group(key: string, values: Record<string, string>, at: number): GroupState | undefined {
    let g = this.groups.get(key);
    if (g) return g;
    if (this.groups.size >= MAX_GROUPS_PER_RULE) {
      this.hooks.groupLimit(this.rule);
      return undefined;
    }
    g = newGroup(this.rule.name, values, at);
    this.groups.set(key, g);
    return g;
  }

  protected set(g: GroupState, to: AlertStatus, at: number): void {
    const from = g.status;
    if (from === to) return;
    g.status = to;
    g.since = at;
    if (to === 'firing') {
      g.activeAt = at;
      g.resolvedAt = undefined;
    }
    if (to === 'resolved') g.resolvedAt = at;
    this.hooks.dirty();
    this.hooks.to(this.rule, g, from, at);
  }

  /** Fire unless the record that caused it is stale; true when it fired. */
  protected tryFire(g: GroupState, recordTime: number, at: number): boolean {
    if (this.hooks.now() - recordTime > this.rule.max_age) {
      this.hooks.stale(this.rule);
      return false;
    }
    this.set(g, 'firing', at);
    return true;
  }

  /** Time passes (evalNow: the engine's evaluation time). */
  abstract tick(evalNow: number): void;

  /** Drops groups that carry nothing worth keeping. */
  forget(wallNow: number): void {
    for (const [k, g] of this.groups) {
      if ((g.status === 'inactive' || g.status === 'resolved') && g.matches.empty && wallNow - g.since > FORGET_AFTER_MS) this.groups.delete(k);
    }
  }
}

/**
 * A delivery cut into segments: records in a row of one host and one record time. Record i is
 * in segment of[i], which ends before record end[of[i]].
 */
export interface Segments {
  of: Int32Array;
  end: Int32Array;
}

/** The segments of the first `n` records (into `to`'s arrays when long enough). */
export function segments(records: ArrayLike<MatchedRecord>, times: ArrayLike<number>, n: number, to?: Segments): Segments {
  const out = to !== undefined && to.of.length >= n ? to : { of: new Int32Array(Math.max(16, n * 2)), end: new Int32Array(Math.max(16, n * 2)) };
  const { of, end } = out;
  let s = -1;
  let host: string | undefined;
  let t = NaN;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    if (r.host !== host || times[i] !== t) {
      if (s >= 0) end[s] = i;
      s++;
      host = r.host;
      t = times[i]!;
    }
    of[i] = s;
  }
  if (s >= 0) end[s] = n;
  return out;
}

/** More than `threshold` matches within `window` (record time) in one group. */
export class MatchEval extends RuleEval<MatchAlertRule> {
  /** latest match times kept per group (at least; up to twice as many between trims): enough to decide the condition exactly, and to show a count (at most cap) */
  readonly cap = Math.max(this.rule.threshold + 1, 100);
  /** matchLines: the latest lines of the current run (a ring of EVIDENCE_MAX) */
  #run = new Int32Array(EVIDENCE_MAX);

  /** One matching record. */
  match(key: string, host: string, t: number, ev: Evidence): void {
    const g = this.group(key, { host }, t);
    if (!g) return;
    const m = g.matches;
    m.add(t);
    m.dropBefore(m.newest! - this.rule.window + 1);
    // trimmed to the newest `cap` once twice that many piled up (so a count never needs more than it keeps)
    if (m.total > 2 * this.cap) m.keepNewest(this.cap);
    g.evidence.add(ev.topic, ev.partition, ev.offset, ev.source, ev.source_offset);
    g.lastSeen = Math.max(g.lastSeen ?? t, t);
    // matches within the window ending at this record's time
    g.count = Math.min(this.cap, m.countIn(t - this.rule.window + 1, t + 1));
    this.hooks.dirty();
    if (g.count > this.rule.threshold && g.status !== 'firing') this.tryFire(g, t, t);
  }

  /**
   * The matching lines of one delivery: the same state, transitions and hook calls as match() on
   * each line in order (evidence aside: see below), without its per-line work. A delivery is
   * made of segments, records of one host and one record time in a row (a stored batch is one
   * producer's lines with one time: `segs`, from segments()). The lines of one segment are
   * counted at once when the first of them leaves the group's times in order and the rest can
   * change no state (the group fires already, or their count stays within the threshold): one
   * run of the group's times grows by their number, and the trims of the newest `cap` that
   * one-by-one adds would make are made at once (the same times kept: the newest, as many as
   * one by one). Otherwise, and for records older than the group's newest, line by line. The
   * group is looked up once per run of one host's lines, and a run builds the Evidence of its
   * last EVIDENCE_MAX lines only (before a transition, the lines so far), which is what readers
   * take. `lines`: indexes into `records` (ascending, the first `n`); `times`: record time per
   * index.
   */
  matchLines(
    lines: ArrayLike<number>,
    n: number,
    records: ArrayLike<MatchedRecord>,
    times: ArrayLike<number>,
    topic: string,
    partition: number,
    segs: Segments = segments(records, times, records.length),
  ): void {
    if (n === 0) return;
    const threshold = this.rule.threshold;
    const cap = this.cap;
    const run = this.#run;
    const segOf = segs.of;
    const segEnd = segs.end;
    let host: string | undefined;
    let g: GroupState | undefined;
    this.#runLen = 0;
    let j = 0;
    while (j < n) {
      const i = lines[j]!;
      // this segment's lines: j .. j1 - 1
      const e = segEnd[segOf[i]!]!;
      let j1 = j + 1;
      while (j1 < n && lines[j1]! < e) j1++;
      const t = times[i]!;
      const h = records[i]!.host;
      if (h !== host || g === undefined) {
        if (g !== undefined && this.#runLen > 0) this.#evidence(g, records, topic, partition);
        this.#runLen = 0;
        host = h;
        const key = this.key(h);
        g = this.groups.get(key) ?? this.group(key, { host: h }, t);
        if (g === undefined) {
          // refused (beyond the limit): asked for again per line, counted per line, as match() does
          for (let k = j + 1; k < j1; k++) this.group(key, { host: h }, t);
          j = j1;
          continue;
        }
      }
      // the first line of the segment on its own (the window's cut, a transition, a late record)
      this.#line(g, i, t, records, topic, partition);
      const rest = j1 - j - 1;
      const m = g.matches;
      if (rest > 0 && t === m.ends[1] && (g.status === 'firing' || Math.min(cap, m.total + rest) <= threshold)) {
        // the rest at once: in order (t is the newest), nothing to cut, no transition
        const before = m.total;
        m.pairs[2 * m.tail - 1]! += rest;
        m.total += rest;
        if (m.total > 2 * cap) {
          // one by one, the times are trimmed to the newest cap whenever more than 2 x cap: first once
          // `before` reaches 2 x cap + 1, then every cap + 1 lines
          const after = rest - (2 * cap + 1 - before);
          m.keepNewest(cap + (after % (cap + 1)));
        }
        g.count = m.total < cap ? m.total : cap;
        const from = j1 - EVIDENCE_MAX > j + 1 ? j1 - EVIDENCE_MAX : j + 1;
        this.#runLen += from - (j + 1);
        for (let q = from; q < j1; q++) run[this.#runLen++ % EVIDENCE_MAX] = lines[q]!;
      } else for (let q = j + 1; q < j1; q++) this.#line(g, lines[q]!, times[lines[q]!]!, records, topic, partition);
      j = j1;
    }
    if (g !== undefined && this.#runLen > 0) this.#evidence(g, records, topic, partition);
    this.hooks.dirty();
  }

  /** matchLines: lines of the current run so far (the latest EVIDENCE_MAX in #run) */
  #runLen = 0;

  /** One line of matchLines: match() without the group lookup and the Evidence object. */
  #line(g: GroupState, i: number, t: number, records: ArrayLike<MatchedRecord>, topic: string, partition: number): void {
    const m = g.matches;
    const tail = m.tail;
    const ends = m.ends;
    if (tail === m.head || t >= ends[1]!) {
      // in order: t is the newest; what the window drops is at the front, and every other time is within it
      if (tail > m.head && t === ends[1]) {
        m.pairs[2 * tail - 1]!++;
        m.total++;
      } else m.add(t);
      const from = t - this.rule.window + 1;
      if (ends[0]! < from) m.dropBefore(from);
      if (m.total > 2 * this.cap) m.keepNewest(this.cap);
      g.count = m.total < this.cap ? m.total : this.cap;
    } else this.#late(g, t);
    if (g.lastSeen === undefined || t > g.lastSeen) g.lastSeen = t;
    this.#run[this.#runLen++ % EVIDENCE_MAX] = i;
    if (g.count > this.rule.threshold && g.status !== 'firing') {
      this.#evidence(g, records, topic, partition);
      this.#runLen = 0;
      this.hooks.dirty();
      this.tryFire(g, t, t);
    }
  }

  /** Evidence of the last lines of the run (at most EVIDENCE_MAX). */
  #evidence(g: GroupState, records: ArrayLike<MatchedRecord>, topic: string, partition: number): void {
    const ev = g.evidence;
    const runLen = this.#runLen;
    for (let q = runLen > EVIDENCE_MAX ? runLen - EVIDENCE_MAX : 0; q < runLen; q++) {
      const r = records[this.#run[q % EVIDENCE_MAX]!]!;
      ev.add(topic, partition, r.offset, r.source, r.source_offset);
    }
  }

  /** A match older than the group's newest: match()'s general case. */
  #late(g: GroupState, t: number): void {
    const m = g.matches;
    m.add(t);
    m.dropBefore(m.newest! - this.rule.window + 1);
    if (m.total > 2 * this.cap) m.keepNewest(this.cap);
    g.count = Math.min(this.cap, m.countIn(t - this.rule.window + 1, t + 1));
  }

  tick(evalNow: number): void {
    for (const g of this.groups.values()) {
      const m = g.matches;
      if (m.dropBefore(evalNow - this.rule.window + 1)) this.hooks.dirty();
      g.count = Math.min(this.cap, m.total);
      if (g.status === 'firing' && m.total <= this.rule.threshold) this.set(g, 'resolved', evalNow);
    }
  }
}

/** A metric above/below a value, held `for` (record time) before firing. */
export class MetricEval extends RuleEval<MetricAlertRule> {
  /** One aggregated value of a group from one record. */
  sample(key: string, values: Record<string, string>, v: number, t: number): void {
    const g = this.group(key, values, t);
    if (!g) return;
    if (g.lastSeen !== undefined && t < g.lastSeen) return; // older than what we have: no step back in time
    g.lastSeen = t;
    g.value = v;
    this.hooks.dirty();
    const r = this.rule;
    const holds = r.above !== undefined ? v > r.above : v < r.below!;
    if (holds) {
      if (g.status === 'inactive' || g.status === 'resolved') {
        g.pendingSince = t;
        if (r.for > 0) this.set(g, 'pending', t);
      }
      if (g.status !== 'firing' && t - (g.pendingSince ?? t) >= r.for) this.tryFire(g, t, t);
    } else {
      g.pendingSince = undefined;
      if (g.status === 'firing') this.set(g, 'resolved', t);
      else if (g.status === 'pending') this.set(g, 'inactive', t);
    }
  }

  tick(): void {}
}

/** A host seen before sends no record at all (any topic) for absent_for. */
export class AbsentEval extends RuleEval<AbsentAlertRule> {


  /** A record from `host` at `t`. */
  seen(host: string, t: number): void {
    const g = this.groups.get(this.key(host));
    if (!g) return;
    g.lastSeen = Math.max(g.lastSeen ?? t, t);
    if (g.status === 'firing') {
      g.count = 0;
      this.set(g, 'resolved', t);
    }
  }

  /** `hosts`: last record time per host; `floor`: the engine's start (a host is silent since then at most). */
  check(hosts: Map<string, number>, evalNow: number, floor: number): void {
    for (const [host, last] of hosts) {
      const silentFor = evalNow - Math.max(last, floor);
      if (silentFor < this.rule.absent_for) continue;
      const g = this.group(this.key(host), { host }, evalNow);
      if (!g || g.status === 'firing') continue;
      g.lastSeen = last;
      g.value = Math.round(silentFor / 1000);
      this.set(g, 'firing', evalNow);
    }
  }

  tick(): void {}
}
