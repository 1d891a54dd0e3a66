/**
 * MatchEval.matchLines (a delivery's matching lines counted together) leaves
 * exactly the state, transitions and hook calls that match() per line in
 * order leaves: the same match times, counts, statuses and record times of
 * transitions, the same evidence at every transition and at the end (the
 * last EVIDENCE_MAX lines), the same stale and group-limit counts. Random
 * deliveries: hosts in runs and interleaved, record times in order, equal,
 * going back, older than max_age, windows sliding.
 */
import { describe, expect, it } from 'vitest';
import type { MatchAlertRule } from '../../../../aggregator/alerts/config.js';
import { MatchEval, MAX_GROUPS_PER_RULE, type EvalHooks, type MatchedRecord } from '../../../../aggregator/alerts/evaluate.js';
import type { GroupState } from '../../../../aggregator/alerts/types.js';
import { makeRng as rng } from '../../../bench/gen-nginx.js';


function rule(threshold: number, window: number, maxAge: number): MatchAlertRule {
  return { kind: 'match', name: 'R', topic: 't', match: 'x', threshold, window, labels: {}, annotations: {}, sinks: [], group_by: ['host'], max_age: maxAge } as MatchAlertRule;
}

/** An evaluator with hooks that record every call (transitions with what a notice would read). */
function recorded(r: MatchAlertRule, now: () => number) {
  const calls: string[] = [];
  const hooks: EvalHooks = {
    now,
    to: (_rule, g: GroupState, from, at) => calls.push(`to ${g.group.host} ${from}->${g.status} at=${at} since=${g.since} count=${g.count} ev=${JSON.stringify(g.evidence.list())}`),
    stale: () => calls.push('stale'),
    groupLimit: () => calls.push('limit'),
    dirty: () => {},
  };
  return { ev: new MatchEval(r, hooks), calls };
}

function state(ev: MatchEval) {
  return [...ev.groups].map(([k, g]) => ({ k, ...g, matches: g.matches.list(), evidence: g.evidence.list() }));
}

describe('MatchEval.matchLines', () => {
  it('leaves what match() per line leaves, over random deliveries', () => {
    const seen = { fired: 0, resolved: 0, stale: 0 };
    for (let seed = 1; seed <= 60; seed++) {
      const rand = rng(seed);
      // now and then above the least kept (100): trims of the newest `cap` inside a segment
      const threshold = seed % 5 === 0 ? 100 + Math.floor(rand() * 60) : 1 + Math.floor(rand() * 30);
      const window = 50 + Math.floor(rand() * 2000);
      const wall = 1_000_000;
      const r = rule(threshold, window, 400 + Math.floor(rand() * 400));
      const a = recorded(r, () => wall);
      const b = recorded(r, () => wall);
      const hosts = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, h) => `h${h}`);
      let t = wall - 1_000;
      let offset = 0;
      for (let d = 0; d < 12; d++) {
        // stored batches: runs of one host with one record time (segments counted at once), or
        // records one by one
        const batches = rand() < 0.5;
        const n = 1 + Math.floor(rand() * (batches ? 900 : 300));
        const records: MatchedRecord[] = [];
        const times = new Float64Array(n);
        const runLen = batches ? 1 + Math.floor(rand() * 400) : rand() < 0.3 ? 1 : 1 + Math.floor(rand() * 60);
        let host = hosts[0]!;
        for (let i = 0; i < n; i++) {
          if (i % runLen === 0) host = hosts[Math.floor(rand() * hosts.length)]!;
          const step = rand();
          // mostly forward, sometimes equal, sometimes back (late records), now and then far back (stale)
          if (!batches || i % runLen === 0) t += step < 0.6 ? Math.floor(rand() * 30) : step < 0.8 ? 0 : step < 0.97 ? -Math.floor(rand() * 40) : -Math.floor(rand() * 300);
          times[i] = t;
          records.push({ host, offset: offset++, source: `/var/log/${host}.log`, source_offset: i * 10 });
        }
        const lines = Array.from({ length: n }, (_, i) => i).filter(() => rand() < 0.7);
        for (const i of lines) {
          const rec = records[i]!;
          a.ev.match(a.ev.key(rec.host), rec.host, times[i]!, { topic: 't', partition: 2, offset: rec.offset, source: rec.source, source_offset: rec.source_offset });
        }
        b.ev.matchLines(Int32Array.from(lines), lines.length, records, times, 't', 2);
        expect(b.calls, `seed ${seed} delivery ${d}`).toEqual(a.calls);
        expect(state(b.ev), `seed ${seed} delivery ${d}`).toEqual(state(a.ev));
        if (rand() < 0.3) {
          a.ev.tick(t);
          b.ev.tick(t);
        }
      }
      seen.fired += a.calls.filter((c) => c.includes('->firing')).length;
      seen.resolved += a.calls.filter((c) => c.includes('->resolved')).length;
      seen.stale += a.calls.filter((c) => c === 'stale').length;
    }
    // the comparison covered what matters: incidents opened and resolved, stale records refused
    expect(seen.fired).toBeGreaterThan(20);
    expect(seen.resolved).toBeGreaterThan(5);
    expect(seen.stale).toBeGreaterThan(5);
  });

  it('refuses groups beyond the per-rule limit line by line, as match() does', () => {
    const r = rule(5, 1000, 60_000);
    const a = recorded(r, () => 10_000);
    const b = recorded(r, () => 10_000);
    const records: MatchedRecord[] = [];
    for (let i = 0; i < MAX_GROUPS_PER_RULE + 50; i++) records.push({ host: `h${Math.min(i, MAX_GROUPS_PER_RULE + 10)}`, offset: i, source: 's', source_offset: i });
    const times = new Float64Array(records.length).fill(9_000);
    const lines = records.map((_, i) => i);
    for (const i of lines) a.ev.match(a.ev.key(records[i]!.host), records[i]!.host, 9_000, { topic: 't', partition: 0, offset: i, source: 's', source_offset: i });
    b.ev.matchLines(lines, lines.length, records, times, 't', 0);
    expect(b.calls.filter((c) => c === 'limit').length).toBe(50);
    expect(b.calls).toEqual(a.calls);
    expect(b.ev.groups.size).toBe(MAX_GROUPS_PER_RULE);
  });
});
