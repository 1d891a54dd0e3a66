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
  return { rule, group, status: 'inactive', since: now, count: 0, matches: [], evidence: [], notified: Object.create(null) as GroupState['notified'] };
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
      if ((g.status === 'inactive' || g.status === 'resolved') && g.matches.length === 0 && wallNow - g.since > FORGET_AFTER_MS) this.groups.delete(k);
    }
  }
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
    if (m.length === 0 || t >= m[m.length - 1]!) m.push(t);
    else m.splice(sortedIndex(m, t), 0, t);
    const newest = m[m.length - 1]!;
    const cut = sortedIndex(m, newest - this.rule.window + 1);
    if (cut > 0) m.splice(0, cut);
    // trimmed to the newest `cap` once twice that many piled up: one splice per `cap` matches, not one per match
    if (m.length > 2 * this.cap) m.splice(0, m.length - this.cap);
    g.evidence.push(ev);
    // the last EVIDENCE_MAX count (readers take the tail); trimmed once per EVIDENCE_MAX matches
    if (g.evidence.length > 2 * EVIDENCE_MAX) g.evidence.splice(0, g.evidence.length - EVIDENCE_MAX);
    g.lastSeen = Math.max(g.lastSeen ?? t, t);
    // matches within the window ending at this record's time
    g.count = Math.min(this.cap, sortedIndex(m, t + 1) - sortedIndex(m, t - this.rule.window + 1));
    this.hooks.dirty();
    if (g.count > this.rule.threshold && g.status !== 'firing') this.tryFire(g, t, t);
  }

  /**
   * The matching lines of one delivery: the same state, transitions and hook calls as match() on
   * each line in order (evidence aside: see below), without its per-line work. Lines of one
   * group come in runs (a stored batch is one producer's), so the group is looked up once per
   * run; a record time not older than the group's newest is appended without a search (the
   * window's count is then the list's length); and a run builds the Evidence of its last
   * EVIDENCE_MAX lines only (before a transition, the lines so far), which is what readers take.
   * `lines`: indexes into `records` (ascending, the first `n`); `times`: record time per index.
   */
  matchLines(lines: ArrayLike<number>, n: number, records: ArrayLike<MatchedRecord>, times: ArrayLike<number>, topic: string, partition: number): void {
    if (n === 0) return;
    const window = this.rule.window;
    const threshold = this.rule.threshold;
    const cap = this.cap;
    const run = this.#run;
    let host: string | undefined;
    let g: GroupState | undefined;
    let runLen = 0;
    for (let j = 0; j < n; j++) {
      const i = lines[j]!;
      const r = records[i]!;
      const t = times[i]!;
      if (r.host !== host || g === undefined) {
        if (g !== undefined && runLen > 0) this.#evidence(g, records, runLen, topic, partition);
        runLen = 0;
        host = r.host;
        // a group refused (beyond the limit) is asked for again per line: counted per line, as match() does
        g = this.group(this.key(host), { host }, t);
        if (g === undefined) continue;
      }
      const m = g.matches;
      const len = m.length;
      if (len === 0 || t >= m[len - 1]!) {
        // in order: t is the newest; what the window drops is at the front, and every other time is within it
        m.push(t);
        if (m[0]! < t - window + 1) m.splice(0, sortedIndex(m, t - window + 1));
        if (m.length > 2 * cap) m.splice(0, m.length - cap);
        g.count = m.length < cap ? m.length : cap;
      } else this.#late(g, t);
      if (g.lastSeen === undefined || t > g.lastSeen) g.lastSeen = t;
      run[runLen++ % EVIDENCE_MAX] = i;
      if (g.count > threshold && g.status !== 'firing') {
        this.#evidence(g, records, runLen, topic, partition);
        runLen = 0;
        this.hooks.dirty();
        this.tryFire(g, t, t);
      }
    }
    if (g !== undefined && runLen > 0) this.#evidence(g, records, runLen, topic, partition);
    this.hooks.dirty();
  }


  /** Evidence of the last `runLen` lines of the run (at most EVIDENCE_MAX built). */
  #evidence(g: GroupState, records: ArrayLike<MatchedRecord>, runLen: number, topic: string, partition: number): void {
    const ev = g.evidence;
    for (let q = runLen > EVIDENCE_MAX ? runLen - EVIDENCE_MAX : 0; q < runLen; q++) {
      const r = records[this.#run[q % EVIDENCE_MAX]!]!;
      ev.push({ topic, partition, offset: r.offset, source: r.source, source_offset: r.source_offset });
    }
    if (ev.length > 2 * EVIDENCE_MAX) ev.splice(0, ev.length - EVIDENCE_MAX);
  }

  /** A match older than the group's newest: match()'s general case. */
  #late(g: GroupState, t: number): void {
    const m = g.matches;
    m.splice(sortedIndex(m, t), 0, t);
    const newest = m[m.length - 1]!;
    const cut = sortedIndex(m, newest - this.rule.window + 1);
    if (cut > 0) m.splice(0, cut);
    if (m.length > 2 * this.cap) m.splice(0, m.length - this.cap);
    g.count = Math.min(this.cap, sortedIndex(m, t + 1) - sortedIndex(m, t - this.rule.window + 1));
  }

  tick(evalNow: number): void {
    for (const g of this.groups.values()) {
      const m = g.matches;
      const cut = sortedIndex(m, evalNow - this.rule.window + 1);
      if (cut > 0) {
        m.splice(0, cut);
        this.hooks.dirty();
      }
      g.count = Math.min(this.cap, m.length);
      if (g.status === 'firing' && m.length <= this.rule.threshold) this.set(g, 'resolved', evalNow);
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

/** First index whose value is >= x (m ascending). */
export function sortedIndex(m: number[], x: number): number {
  let lo = 0;
  let hi = m.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (m[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
