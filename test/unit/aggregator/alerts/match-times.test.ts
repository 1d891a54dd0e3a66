/**
 * A log-match group's match times as runs of (time, count) (match-times.ts):
 * the same multiset, counts and states as the earlier layout, a sorted list
 * of one time per match (kept here as the reference, with the list operations
 * the engine used on it); and a state file in that earlier layout ("matches")
 * loads with the same counts and is written back as runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MatchAlertRule } from '../../../../aggregator/alerts/config.js';
import { ruleFingerprint } from '../../../../aggregator/alerts/engine.js';
import { MatchEval, type EvalHooks } from '../../../../aggregator/alerts/evaluate.js';
import { EvidenceRing } from '../../../../aggregator/alerts/evidence.js';
import { MatchTimes } from '../../../../aggregator/alerts/match-times.js';
import { AlertStateStore } from '../../../../aggregator/alerts/state-store.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import { EVIDENCE_MAX, type Evidence } from '../../../../aggregator/alerts/types.js';
import { tempDir, waitFor } from '../../../helpers/procs.js';
import { makeRng as rng } from '../../../bench/gen-nginx.js';
import { offlineEngine } from './harness.js';


/** First index whose value is >= x (m ascending). */
function sortedIndex(m: number[], x: number): number {
  let lo = 0;
  let hi = m.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (m[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The earlier layout: one time per match, ascending, with the operations the engine used on it. */
class ListModel {
  m: number[] = [];
  count = 0;
  status: 'inactive' | 'firing' | 'resolved' = 'inactive';
  constructor(
    readonly threshold: number,
    readonly window: number,
  ) {}
  get cap(): number {
    return Math.max(this.threshold + 1, 100);
  }
  match(t: number): void {
    const m = this.m;
    if (m.length === 0 || t >= m[m.length - 1]!) m.push(t);
    else m.splice(sortedIndex(m, t), 0, t);
    const cut = sortedIndex(m, m[m.length - 1]! - this.window + 1);
    if (cut > 0) m.splice(0, cut);
    if (m.length > 2 * this.cap) m.splice(0, m.length - this.cap);
    this.count = Math.min(this.cap, sortedIndex(m, t + 1) - sortedIndex(m, t - this.window + 1));
    if (this.count > this.threshold && this.status !== 'firing') this.status = 'firing';
  }
  tick(now: number): void {
    const cut = sortedIndex(this.m, now - this.window + 1);
    if (cut > 0) this.m.splice(0, cut);
    this.count = Math.min(this.cap, this.m.length);
    if (this.status === 'firing' && this.m.length <= this.threshold) this.status = 'resolved';
  }
}

function rule(threshold: number, window: number): MatchAlertRule {
  return { kind: 'match', name: 'R', topic: 't', match: 'x', threshold, window, labels: {}, annotations: {}, sinks: [], group_by: ['host'], max_age: 1e12 } as MatchAlertRule;
}

const hooks: EvalHooks = { now: () => 0, to: () => {}, stale: () => {}, groupLimit: () => {}, dirty: () => {} };

describe('MatchTimes', () => {
  it('holds what a sorted list of one time per match holds, under adds, cuts, trims and counts', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = rng(seed);
      const runs = new MatchTimes();
      const list: number[] = [];
      let t = 1_000;
      for (let op = 0; op < 3_000; op++) {
        const x = rand();
        if (x < 0.75) {
          // mostly forward or equal (a stored batch shares its time), sometimes back
          const s = rand();
          t += s < 0.5 ? 0 : s < 0.9 ? Math.floor(rand() * 20) : -Math.floor(rand() * 60);
          const n = rand() < 0.9 ? 1 : 1 + Math.floor(rand() * 5);
          runs.add(t, n);
          for (let k = 0; k < n; k++) list.splice(sortedIndex(list, t + 1), 0, t);
        } else if (x < 0.85) {
          const from = t - Math.floor(rand() * 400);
          const had = list.length;
          list.splice(0, sortedIndex(list, from));
          if (runs.dropBefore(from) !== list.length < had) expect({ seed, op, dropped: !(list.length < had) }).toEqual({ seed, op, dropped: list.length < had });
        } else if (x < 0.9) {
          const keep = Math.floor(rand() * 50);
          if (list.length > keep) list.splice(0, list.length - keep);
          runs.keepNewest(keep);
        } else {
          const from = t - Math.floor(rand() * 300);
          const before = t + 1 - Math.floor(rand() * 100);
          const want = Math.max(0, sortedIndex(list, before) - sortedIndex(list, from));
          if (runs.countIn(from, before) !== want) expect({ seed, op, from, before, count: runs.countIn(from, before) }).toEqual({ seed, op, from, before, count: want });
        }
        if (runs.total !== list.length || (op % 50 === 0 && runs.list().join() !== list.join())) expect({ seed, op, times: runs.list() }).toEqual({ seed, op, times: list });
        // the ends kept beside the runs: the oldest and newest time whenever something is kept
        if (list.length > 0 && (runs.ends[0] !== list[0] || runs.ends[1] !== list[list.length - 1])) expect({ seed, op, ends: [...runs.ends] }).toEqual({ seed, op, ends: [list[0], list[list.length - 1]] });
      }
      expect(runs.list(), `seed ${seed}`).toEqual(list);
      // saved and read back: the same times
      expect(MatchTimes.fromRuns(runs.runs()).list()).toEqual(list);
      expect(MatchTimes.fromList(list).runs()).toEqual(runs.runs());
      expect(runs.clone().list()).toEqual(list);
    }
  });

  it('keeps one run per record time: a busy group holds its distinct times, not its matches', () => {
    const runs = new MatchTimes();
    for (let batch = 0; batch < 1_000; batch++) for (let line = 0; line < 250; line++) runs.add(10_000 + batch * 10);
    expect(runs.total).toBe(250_000);
    expect(runs.runs().length).toBe(1_000);
    expect(runs.capacity).toBeLessThanOrEqual(2_048);
    runs.dropBefore(10_000 + 900 * 10);
    expect(runs.total).toBe(100 * 250);
    runs.dropBefore(Infinity);
    expect(runs.empty).toBe(true);
    expect(runs.capacity).toBe(4);
  });

  it('gives MatchEval the counts and states of the list layout, match by match and tick by tick', () => {
    let fired = 0;
    let resolved = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rand = rng(seed * 7919);
      const threshold = rand() < 0.2 ? 150 + Math.floor(rand() * 100) : 1 + Math.floor(rand() * 40);
      const window = 20 + Math.floor(rand() * 600);
      const r = rule(threshold, window);
      const ev = new MatchEval(r, hooks);
      const ref = new ListModel(threshold, window);
      const key = ev.key('h');
      let t = 10_000;
      for (let op = 0; op < 2_000; op++) {
        const x = rand();
        if (x < 0.92) {
          const s = rand();
          t += s < 0.5 ? 0 : s < 0.9 ? Math.floor(rand() * 8) : -Math.floor(rand() * 40);
          ev.match(key, 'h', t, { topic: 't', partition: 0, offset: op, source: 's', source_offset: op });
          ref.match(t);
        } else {
          t += Math.floor(rand() * window);
          ev.tick(t);
          ref.tick(t);
        }
        const g = ev.groups.get(key);
        if (g === undefined) {
          // a tick before the first match: no group yet
          expect(ref.m.length).toBe(0);
          continue;
        }
        // plain comparisons per op (an expect per op is slow); the first difference is reported whole
        if (g.count !== ref.count || (g.status === 'firing') !== (ref.status === 'firing') || g.matches.total !== ref.m.length || (op % 100 === 0 && g.matches.list().join() !== ref.m.join())) {
          expect({ seed, op, count: g.count, firing: g.status === 'firing', times: g.matches.list() }).toEqual({ seed, op, count: ref.count, firing: ref.status === 'firing', times: ref.m });
        }
        if (g.status === 'firing' && ref.status === 'firing' && op > 0) fired++;
        if (g.status === 'resolved') resolved++;
      }
    }
    expect(fired).toBeGreaterThan(100);
    expect(resolved).toBeGreaterThan(10);
  });
});

describe('EvidenceRing', () => {
  it('keeps the latest EVIDENCE_MAX lines in order, as the list it replaced did', () => {
    const ring = new EvidenceRing();
    const list: Evidence[] = [];
    for (let i = 0; i < 57; i++) {
      const e = { topic: `t${i % 3}`, partition: i % 4, offset: 1000 + i, source: `/var/log/${i}.log`, source_offset: i * 7 };
      ring.add(e.topic, e.partition, e.offset, e.source, e.source_offset);
      list.push(e);
      expect(ring.list()).toEqual(list.slice(-EVIDENCE_MAX));
      expect(ring.length).toBe(Math.min(list.length, EVIDENCE_MAX));
    }
    // fresh objects: a notice holding them is not changed by later matches
    const held = ring.list();
    ring.add('x', 0, 0, 'x', 0);
    expect(held).toEqual(list.slice(-EVIDENCE_MAX));
    expect(EvidenceRing.from(list).list()).toEqual(list.slice(-EVIDENCE_MAX));
    expect(JSON.parse(JSON.stringify({ evidence: ring })).evidence).toEqual(ring.list());
  });
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('alert state file of the earlier layout (matches: one time per match)', () => {
  it('loads with the same counts, and is written back as runs', async () => {
    const tmp = await tempDir('alert-old-state');
    cleanups.push(tmp.cleanup);
    const r: MatchAlertRule = {
      kind: 'match',
      name: 'Burst',
      topic: 'app',
      match: 'ERROR',
      threshold: 5,
      window: 60_000,
      labels: {},
      annotations: { summary: '{{count}} errors on {{host}}' },
      sinks: [],
      group_by: ['host'],
      max_age: 300_000,
    };
    const now = Date.now();
    // as logship 0.x wrote it: five matches within the window (three of one record time), one before it
    const old = [now - 70_000, now - 5_000, now - 5_000, now - 5_000, now - 4_000, now - 3_000];
    const oldEvidence = [95, 96, 97, 98, 99].map((o) => ({ topic: 'app', partition: 0, offset: o, source: '/var/log/app.log', source_offset: o * 10 }));
    await mkdir(join(tmp.dir, 'alerts'), { recursive: true });
    const file = join(tmp.dir, 'alerts', 'state.json');
    await writeFile(
      file,
      JSON.stringify({
        version: 1,
        offsets: { app: { '0': 100 } },
        hosts: {},
        groups: [{ rule: 'Burst', group: { host: 'web-01' }, status: 'inactive', since: now - 70_000, count: 5, matches: old, lastSeen: now - 3_000, evidence: oldEvidence, notified: {} }],
        rules: { Burst: ruleFingerprint(r) },
      }),
    );
    const loaded = await new AlertStateStore(tmp.dir).load();
    expect(loaded!.groups[0]!.matches.list()).toEqual(old);
    expect(loaded!.groups[0]!.matches.runs()).toEqual([
      [now - 70_000, 1],
      [now - 5_000, 3],
      [now - 4_000, 1],
      [now - 3_000, 1],
    ]);

    const engine = offlineEngine([r], tmp.dir, { tickMs: 60_000 });
    await engine.start();
    cleanups.push(() => engine.close());
    expect(engine.view().rules[0]!.groups[0]).toMatchObject({ group: { host: 'web-01' }, state: 'inactive', count: 5 });
    // a record below the saved offset is already in the state: not counted again
    const rec = (offset: number): StoredRecord => ({ offset, timestamp: new Date(now).toISOString(), host: 'web-01', source: '/var/log/app.log', source_offset: offset * 10, message: `ERROR ${offset}` });
    engine.apply({ topic: 'app', partition: 0, records: [rec(99)] });
    expect(engine.view().rules[0]!.groups[0]!.count).toBe(5);
    // the sixth within the window: the one before the window is dropped, so 6 (not 7), more than 5: firing
    engine.apply({ topic: 'app', partition: 0, records: [rec(100)] });
    const g = engine.view().rules[0]!.groups[0]!;
    expect(g).toMatchObject({ state: 'firing', count: 6 });

    let saved: Record<string, any> | undefined;
    await waitFor(
      'the state saved as runs',
      async () => {
        saved = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
        return saved.groups[0].status === 'firing';
      },
      10_000,
      20,
    );
    const sg = saved!.groups[0];
    expect(sg.matches).toBeUndefined();
    expect(sg.matchRuns).toEqual([
      [now - 5_000, 3],
      [now - 4_000, 1],
      [now - 3_000, 1],
      [now, 1],
    ]);
    expect(sg.count).toBe(6);
    // the evidence: the saved lines, then the new one
    expect(sg.evidence).toEqual([...oldEvidence, { topic: 'app', partition: 0, offset: 100, source: '/var/log/app.log', source_offset: 1000 }]);
    expect(sg.annotations.summary).toBe('6 errors on web-01');
    expect(saved!.offsets.app['0']).toBe(101);
    // and read back: the same times
    const again = await new AlertStateStore(tmp.dir).load();
    expect(again!.groups[0]!.matches.list()).toEqual([now - 5_000, now - 5_000, now - 5_000, now - 4_000, now - 3_000, now]);
  });

  it('refuses runs that are not [time, count] with ascending times, naming the field', async () => {
    const tmp = await tempDir('alert-bad-runs');
    cleanups.push(tmp.cleanup);
    await mkdir(join(tmp.dir, 'alerts'), { recursive: true });
    const write = (matchRuns: unknown) =>
      writeFile(join(tmp.dir, 'alerts', 'state.json'), JSON.stringify({ version: 1, groups: [{ rule: 'R', group: { host: 'h' }, status: 'inactive', since: 0, count: 0, matchRuns, evidence: [], notified: {} }] }));
    const store = new AlertStateStore(tmp.dir);
    await write([
      [5, 1],
      [5, 2],
    ]);
    await expect(store.load()).rejects.toThrow(/groups\[0\]\.matchRuns\[1\]\[0\]: times must ascend/);
    await write([[5, 0]]);
    await expect(store.load()).rejects.toThrow(/groups\[0\]\.matchRuns\[0\]\[1\]/);
    await write([[5]]);
    await expect(store.load()).rejects.toThrow(/groups\[0\]\.matchRuns\[0\]: expected \[time, count\]/);
  });
});
