/**
 * The alert engine's state file: data_dir/alerts/state.json, written through
 * lib/state/state-file.ts (temp file, fsync, rename, directory fsync).
 *
 * Layout (version 1):
 *   { "version": 1,
 *     "offsets": { TOPIC: { PARTITION: NEXT_OFFSET } },   // records below these are in the state
 *     "hosts":   { HOST: LAST_RECORD_TIME_MS },            // for absence rules
 *     "groups":  [ GroupState, ... ],                      // aggregator/alerts/types.ts
 *     "rules":   { RULE: FINGERPRINT },                     // the rules the groups belong to, as configured
 *     "retired": [ { "key": GROUP_KEY, "group": GroupState } ] }  // incidents of removed/changed rules, until resolved everywhere
 *
 * A log-match group's match times are saved as "matchRuns": [[TIME_MS,
 * COUNT], ...], ascending (match-times.ts). Files of earlier releases hold
 * "matches": [TIME_MS, ...] instead, one time per match, ascending; they are
 * read as the same runs (the same counts), and written back as matchRuns.
 *
 * Invariant: the offsets and the groups are written together, from one
 * synchronous snapshot, so after a crash the engine resumes reading exactly
 * where the saved state stops: a record is applied to the state once, never
 * twice, never skipped. Only the engine writes it; nothing else reads it.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { readStateFile, writeStateFile, type Problems, type StateKind } from '../../lib/state/state-file.js';
import { EvidenceRing } from './evidence.js';
import { MatchTimes } from './match-times.js';
import { EVIDENCE_MAX, type AlertStatus, type GroupState, type RetiredIncident, type SinkNote } from './types.js';

export interface EngineSnapshot {
  offsets: Record<string, Record<string, number>>;
  hosts: Record<string, number>;
  groups: GroupState[];
  /** rule name -> fingerprint of its config when saved (absent in files of older versions) */
  rules?: Record<string, string>;
  retired?: RetiredIncident[];
}

const STATUSES: readonly AlertStatus[] = ['inactive', 'pending', 'firing', 'resolved'];

function strMap(v: unknown, path: string, at: Problems): Record<string, string> {
  const o = at.obj(v, path);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, x] of Object.entries(o)) out[k] = at.str(x, `${path}.${k}`);
  return { ...out };
}

function optNum(v: unknown, path: string, at: Problems): number | undefined {
  return v === undefined || v === null ? undefined : at.num(v, path);
}

function decodeGroup(v: unknown, path: string, at: Problems): GroupState {
  const o = at.obj(v, path);
  const status = at.str(o.status, `${path}.status`) as AlertStatus;
  if (!STATUSES.includes(status)) at.fail(`${path}.status`, `expected one of ${STATUSES.join(', ')}`);
  const notified: Record<string, SinkNote> = Object.create(null) as Record<string, SinkNote>;
  for (const [sink, n] of Object.entries(at.obj(o.notified ?? {}, `${path}.notified`))) {
    const no = at.obj(n, `${path}.notified.${sink}`);
    const st = at.str(no.status, `${path}.notified.${sink}.status`);
    if (st !== 'firing' && st !== 'resolved') at.fail(`${path}.notified.${sink}.status`, 'expected firing or resolved');
    notified[sink] = { status: st, at: at.num(no.at, `${path}.notified.${sink}.at`), ok: no.ok === true, ...(typeof no.error === 'string' ? { error: no.error.slice(0, 500) } : {}) };
  }
  const evidence = at
    .arr(o.evidence ?? [], `${path}.evidence`)
    .slice(-EVIDENCE_MAX)
    .map((e, i) => {
      const eo = at.obj(e, `${path}.evidence[${i}]`);
      return {
        topic: at.str(eo.topic, `${path}.evidence[${i}].topic`, 200),
        partition: at.int(eo.partition, `${path}.evidence[${i}].partition`),
        offset: at.int(eo.offset, `${path}.evidence[${i}].offset`),
        source: at.str(eo.source, `${path}.evidence[${i}].source`),
        source_offset: at.int(eo.source_offset, `${path}.evidence[${i}].source_offset`),
      };
    });
  const g: GroupState = {
    rule: at.str(o.rule, `${path}.rule`),
    group: strMap(o.group, `${path}.group`, at),
    status,
    since: at.num(o.since, `${path}.since`),
    count: at.int(o.count ?? 0, `${path}.count`),
    matches: decodeMatches(o, path, at),
    evidence: EvidenceRing.from(evidence),
    notified,
  };
  const pendingSince = optNum(o.pendingSince, `${path}.pendingSince`, at);
  const activeAt = optNum(o.activeAt, `${path}.activeAt`, at);
  const resolvedAt = optNum(o.resolvedAt, `${path}.resolvedAt`, at);
  const value = optNum(o.value, `${path}.value`, at);
  const lastSeen = optNum(o.lastSeen, `${path}.lastSeen`, at);
  if (pendingSince !== undefined) g.pendingSince = pendingSince;
  if (activeAt !== undefined) g.activeAt = activeAt;
  if (resolvedAt !== undefined) g.resolvedAt = resolvedAt;
  if (value !== undefined) g.value = value;
  if (lastSeen !== undefined) g.lastSeen = lastSeen;
  if (o.labels !== undefined) g.labels = strMap(o.labels, `${path}.labels`, at);
  if (o.annotations !== undefined) g.annotations = strMap(o.annotations, `${path}.annotations`, at);
  if (o.fields !== undefined) g.fields = strMap(o.fields, `${path}.fields`, at);
  return g;
}

/** Match times: matchRuns (this layout) or matches (earlier releases' list, one time per match). */
function decodeMatches(o: Record<string, unknown>, path: string, at: Problems): MatchTimes {
  if (o.matchRuns !== undefined) {
    let prev = -Infinity;
    const runs = at.arr(o.matchRuns, `${path}.matchRuns`).map((r, i): [number, number] => {
      const p = `${path}.matchRuns[${i}]`;
      const pair = at.arr(r, p);
      if (pair.length !== 2) at.fail(p, 'expected [time, count]');
      const t = at.num(pair[0], `${p}[0]`);
      const n = at.int(pair[1], `${p}[1]`, 1);
      if (t <= prev) at.fail(`${p}[0]`, 'times must ascend');
      prev = t;
      return [t, n];
    });
    return MatchTimes.fromRuns(runs);
  }
  return MatchTimes.fromList(at.arr(o.matches ?? [], `${path}.matches`).map((x, i) => at.num(x, `${path}.matches[${i}]`)));
}

/** A group as saved: its match times as runs (matchRuns), everything else as it is. */
function encodeGroup(g: GroupState): Record<string, unknown> {
  const { matches, evidence, ...rest } = g;
  return { ...rest, evidence: evidence.list(), matchRuns: matches.runs() };
}

export const alertStateKind: StateKind<EngineSnapshot> = {
  what: 'alert engine state',
  version: 1,
  remedy:
    'move the file aside and restart: the engine then starts with no alert state (firing alerts are sent again only if their condition still holds; a resolve for an alert that was firing may be missed, and Alertmanager resolves it after its lease)',
  decode(v, at) {
    const offsets: EngineSnapshot['offsets'] = Object.create(null) as EngineSnapshot['offsets'];
    for (const [topic, parts] of Object.entries(at.obj(v.offsets ?? {}, 'offsets'))) {
      const po: Record<string, number> = Object.create(null) as Record<string, number>;
      for (const [p, off] of Object.entries(at.obj(parts, `offsets.${topic}`))) po[p] = at.int(off, `offsets.${topic}.${p}`);
      offsets[topic] = po;
    }
    const hosts: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [h, t] of Object.entries(at.obj(v.hosts ?? {}, 'hosts'))) hosts[h] = at.num(t, `hosts.${h}`);
    const groups = at.arr(v.groups ?? [], 'groups').map((g, i) => decodeGroup(g, `groups[${i}]`, at));
    const snap: EngineSnapshot = { offsets, hosts, groups };
    if (v.rules !== undefined) snap.rules = strMap(v.rules, 'rules', at);
    if (v.retired !== undefined) {
      snap.retired = at.arr(v.retired, 'retired').map((e, i) => {
        const eo = at.obj(e, `retired[${i}]`);
        return { key: at.str(eo.key, `retired[${i}].key`), group: decodeGroup(eo.group, `retired[${i}].group`, at) };
      });
    }
    return snap;
  },
};

export class AlertStateStore {
  readonly file: string;
  #dir: string;

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'alerts');
    this.file = join(this.#dir, 'state.json');
  }

  async load(): Promise<EngineSnapshot | undefined> {
    return readStateFile(this.file, alertStateKind);
  }

  /** `s` must not change while this runs (the engine hands a copy). */
  async save(s: EngineSnapshot): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const body = {
      ...s,
      groups: s.groups.map(encodeGroup),
      ...(s.retired ? { retired: s.retired.map((e) => ({ key: e.key, group: encodeGroup(e.group) })) } : {}),
    };
    await writeStateFile(this.file, alertStateKind, body);
  }
}
