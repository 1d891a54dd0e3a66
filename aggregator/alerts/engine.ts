/**
 * The alert engine: consumers over the topics its rules need (group
 * `alerts`, in-process transport), rule evaluation on record time, state
 * per (rule, group), and the notifiers.
 *
 *   records -> apply (synchronous: counts, values, transitions) -> outbox
 *   every tick / on a transition: save state (offsets + groups, one file)
 *                                 -> hand the outbox to the notifiers
 *
 * Crash consistency: the state file carries, per partition, the offset up to
 * which records are in it, and the consumers resume from those offsets (not
 * from the group's own commits, which only feed the lag gauge). Records are
 * applied synchronously in deliver(), so every saved snapshot is exactly "the
 * records below these offsets": after kill -9 the records after the snapshot
 * are evaluated again, once. A notification goes out only after the state
 * that caused it is on disk, so a restart never forgets an incident it paged
 * for; per sink, the state remembers what the sink accepted, so a restart
 * resends only what was not (a PagerDuty trigger or a webhook is not sent
 * twice; Alertmanager gets every firing alert again at once, which is an
 * update of the same fingerprint).
 *
 * Rules on parsed fields (`where`, a field path in group_by, `{{field.PATH}}`)
 * run their pipeline (aggregator/pipelines: Pipeline.run) on the lines their
 * `match` lets through, once per pipeline and record per delivery however many
 * rules read it; the pipeline's `route` and `drop`/`sample` steps decide
 * whether a rule counts the record (routedTo with the rule's sinks). Rules
 * without parsed fields whose topic pipeline neither routes nor drops never
 * run it: they stay on the literal-automaton path (pattern.ts).
 *
 * Config reload (SIGHUP restarts the aggregator in-process on the new
 * config; a restart on an edited file is the same): the state file records a
 * fingerprint of every rule. A group whose rule is gone or changed is not
 * restored; if it was firing, it becomes a retired incident: resolved (and
 * saved as such) before the resolve goes to every sink that was told it
 * fired, kept in the state until each accepted it.
 *
 * Evaluation time: records count at their record time; the clock tick
 * evaluates windows and absence at "now" when every consumer is caught up,
 * otherwise at the newest record time seen (a consumer catching up must not
 * resolve what the records it has not read yet would keep firing).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { Logger } from '../../lib/obs/logger.js';
import { Consumer, type ConsumerTransport, type Delivery } from '../consumer/index.js';
import type { FetchFrom, FetchResult, PartitionRange } from '../consumer/transport.js';
import type { GroupStore } from '../topics/groups.js';
import type { Storage } from '../storage/types.js';
import type { StoredRecord } from '../storage/record-decoder.js';
import { baseDocument } from '../pipelines/document.js';
import { compileCondition, type Condition } from '../pipelines/condition.js';
import { asText, getPath, splitPath } from '../pipelines/fields.js';
import { routedTo, type ParseResult, type Pipeline, type PipelineSet } from '../pipelines/index.js';
import { groupLabel, usesParsedFields, type AlertRule, type MatchAlertRule, type MetricAlertRule } from './config.js';
import { AbsentEval, MatchEval, MAX_GROUPS_PER_RULE, MetricEval, segments, type EvalHooks, type RuleEval, type Segments } from './evaluate.js';
import { groupKey } from './identity.js';
import { createAlertMetrics, type AlertMetrics } from './metrics.js';
import type { DeliveryResult, Notifier, NotifierContext } from './notifier.js';
import { HitLists, LinePattern, PatternSet } from './pattern.js';
import { AlertStateStore, type EngineSnapshot } from './state-store.js';
import { compileTemplate, render, templateFields, type Template } from './template.js';
import { fieldProblem } from '../pipelines/fields.js';
import type { AlertNotice, AlertStatus, GroupState, RetiredIncident } from './types.js';

export const ALERTS_GROUP = 'alerts';
/** Hosts remembered for absence rules at most. */
export const MAX_HOSTS = 100_000;
const HOST_FORGET_MS = 7 * 86_400_000;

export interface AlertSinkConfig {
  type: string;
  name: string;
}

export type NotifierFactory = (cfg: AlertSinkConfig, ctx: NotifierContext) => Notifier;

export interface AlertEngineOptions {
  rules: AlertRule[];
  sinks: AlertSinkConfig[];
  createNotifier: NotifierFactory;
  transport: ConsumerTransport;
  storage: Pick<Storage, 'names'>;
  groups: GroupStore;
  dataDir: string;
  logger: Logger;
  registry: Registry;
  /** the configured pipelines (rules on parsed fields, route); none: every rule reads the unparsed record */
  pipelines?: PipelineSet;
  /** the aggregator's base URL (for generatorURL links) */
  baseUrl: () => string;
  /** wall clock, ms; default Date.now */
  now?: () => number;
  /** how often windows and absence are evaluated and state saved; default 1 s */
  tickMs?: number;
  /** consumers' long-poll wait; default 1 s */
  waitMs?: number;
}

interface Compiled {
  rule: AlertRule;
  eval: RuleEval;
  pattern?: LinePattern;
  labels: Array<[string, Template]>;
  annotations: Array<[string, Template]>;
  /** log-match rules: host -> group key, so a match builds no key string */
  keys?: Map<string, string>;
  /** log-match rules: the evaluations counter of this rule */
  evaluations?: { inc(n: number): void };
  /** log-match rules: records evaluated not yet added to `evaluations` (added when metrics are read) */
  evaluated: number;
  /** log-match rules: index of its pattern in the topic's PatternSet (undefined: no `match`, every line) */
  patternIndex?: number;
  /** log-match rules that read the parsed record */
  parsed?: ParsedRule;
  /** fingerprint of the rule's config (a reload that changes it retires its incidents) */
  fp: string;
}

/** How a log-match rule reads parsed records. */
interface ParsedRule {
  /** undefined: the unparsed record's base document (pipeline: none, or the topic has none) */
  pipeline: Pipeline | undefined;
  where: Condition | undefined;
  /** group_by entries with their split paths (host: from the record) */
  group: Array<[string, string[] | undefined]>;
  /** `{{field.PATH}}` paths of the rule's templates */
  fields: Array<[string, string[]]>;
  routedAway: { inc(n?: number): void };
}

/** A pipeline step that decides whether a record reaches a sink (so a rule with those sinks). */
const DECIDING_STEPS = new Set(['route', 'drop', 'sample']);

export function ruleFingerprint(rule: AlertRule): string {
  return createHash('sha256').update(JSON.stringify(rule)).digest('hex').slice(0, 16);
}

export interface AlertsView {
  rules: Array<{
    name: string;
    kind: AlertRule['kind'];
    sinks: string[];
    groups: Array<{
      group: Record<string, string>;
      state: AlertStatus;
      since: string;
      active_at?: string;
      resolved_at?: string;
      value?: number;
      count: number;
      notifications: Record<string, { status: string; at: string; ok: boolean; error?: string }>;
    }>;
  }>;
  sinks: Array<{ name: string; type: string; queued: number }>;
}

export class AlertEngine {
  #o: AlertEngineOptions;
  #log: Logger;
  #m: AlertMetrics;
  #store: AlertStateStore;
  #now: () => number;
  #rules: Compiled[] = [];
  #byName = new Map<string, Compiled>();
  #matchByTopic = new Map<string, Compiled[]>();
  #patternsByTopic = new Map<string, PatternSet>();
  #metricRules: Compiled[] = [];
  #absentRules: Compiled[] = [];
  #notifiers = new Map<string, Notifier>();
  /** topic -> partition -> next offset not yet in the state */
  #offsets = new Map<string, Map<number, number>>();
  #hosts = new Map<string, number>();
  /** host -> wall time the engine last read a record of it (absence: a host whose records arrive late is not silent) */
  #arrived = new Map<string, number>();
  #consumers = new Map<string, Consumer>();
  /** incidents of removed or changed rules, by key, until every sink accepted their resolve */
  #retired = new Map<string, RetiredIncident>();
  #runs: Promise<void>[] = [];
  #outbox: Array<{ notice: AlertNotice; sinks: string[] }> = [];
  #dirty = false;
  #saving: Promise<void> | undefined;
  #wantSave = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #startedAt = 0;
  #newestRecord = 0;
  #allTopics: boolean;
  #lookback: number;
  #tsCache = { text: '', ms: 0 };
  /** record times of the delivery being applied */
  #times = new Float64Array(2048);
  /** its segments (one host, one record time) and messages, reused from delivery to delivery */
  #segs: Segments = { of: new Int32Array(2048), end: new Int32Array(2048) };
  #messages: string[] = [];
  /** per pattern set: its last answer's arrays, refilled by the next (read before it) */
  #hits = new Map<PatternSet, HitLists>();
  /** log-match rules with evaluations not yet added to their counter */
  #evaluatedRules: Compiled[] = [];
  #ticks = 0;

  constructor(o: AlertEngineOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'alerts' });
    this.#m = createAlertMetrics(o.registry, () => this.#flushEvaluated());
    this.#store = new AlertStateStore(o.dataDir);
    this.#now = o.now ?? Date.now;
    const hooks: EvalHooks = {
      now: () => this.#now(),
      to: (rule, g, from, at) => this.#transition(rule, g, from, at),
      stale: (rule) => this.#m.stale.inc({ rule: rule.name }),
      groupLimit: (rule) => {
        this.#m.groupLimit.inc({ rule: rule.name });
        this.#log.warn({ rule: rule.name }, 'alert rule has 10000 groups: new groups are not tracked (is group_by too fine?)');
      },
      dirty: () => {
        this.#dirty = true;
      },
    };
    for (const rule of o.rules) {
      const ev = rule.kind === 'match' ? new MatchEval(rule, hooks) : rule.kind === 'metric' ? new MetricEval(rule, hooks) : new AbsentEval(rule, hooks);
      const topt = rule.kind === 'match' ? { fieldProblem } : {};
      const c: Compiled = {
        rule,
        eval: ev,
        labels: Object.entries(rule.labels).map(([k, v]) => [k, compileTemplate(v, topt)]),
        annotations: Object.entries(rule.annotations).map(([k, v]) => [k, compileTemplate(v, topt)]),
        fp: ruleFingerprint(rule),
        evaluated: 0,
      };
      if (rule.kind === 'match') {
        if (rule.match !== '') c.pattern = new LinePattern(rule.match);
        c.keys = new Map();
        c.evaluations = this.#m.evaluations.labels({ rule: rule.name });
        c.parsed = this.#parsedRule(rule, c);
        const list = this.#matchByTopic.get(rule.topic) ?? [];
        list.push(c);
        this.#matchByTopic.set(rule.topic, list);
      } else if (rule.kind === 'metric') this.#metricRules.push(c);
      else this.#absentRules.push(c);
      this.#rules.push(c);
      this.#byName.set(rule.name, c);
    }
    for (const [topic, list] of this.#matchByTopic) {
      const withPattern = list.filter((c) => c.pattern !== undefined);
      withPattern.forEach((c, i) => (c.patternIndex = i));
      if (withPattern.length > 0) {
        const set = new PatternSet(withPattern.map((c) => c.pattern!));
        this.#patternsByTopic.set(topic, set);
        this.#hits.set(set, new HitLists(set.patterns.length));
      }
    }
    this.#allTopics = this.#absentRules.length > 0 || this.#metricRules.some((c) => (c.rule as MetricAlertRule).topic === undefined);
    this.#lookback = Math.max(
      60_000,
      ...o.rules.map((r) => Math.max(r.max_age, r.kind === 'match' ? r.window : r.kind === 'metric' ? r.for : r.absent_for)),
    );
  }

  /**
   * The parsed-record plan of a log-match rule, or undefined when it reads no parsed field and its
   * pipeline neither routes nor drops (then it never runs the pipeline).
   */
  #parsedRule(rule: MatchAlertRule, c: Compiled): ParsedRule | undefined {
    const set = this.#o.pipelines;
    const pipeline = rule.pipeline === 'none' ? undefined : rule.pipeline !== undefined ? set?.pipelines.get(rule.pipeline) : set?.forTopic(rule.topic);
    if (rule.pipeline !== undefined && rule.pipeline !== 'none' && pipeline === undefined) throw new Error(`alert rule ${rule.name}: no pipeline named "${rule.pipeline}"`);
    const deciding = pipeline?.steps.some((s) => DECIDING_STEPS.has(s.type)) ?? false;
    if (!usesParsedFields(rule) && !deciding) return undefined;
    const fields = [...new Set([...c.labels, ...c.annotations].flatMap(([, t]) => templateFields(t)))];
    return {
      pipeline,
      where: rule.where !== undefined ? compileCondition(rule.where) : undefined,
      group: rule.group_by.map((g) => [g, g === 'host' ? undefined : splitPath(g)]),
      fields: fields.map((f) => [f, splitPath(f)]),
      routedAway: this.#m.routedAway.labels({ rule: rule.name }),
    };
  }

  get rules(): readonly AlertRule[] {
    return this.#o.rules;
  }

  /** Whether data_dir holds alert state (then the engine runs even with no rules: it may have incidents to resolve). */
  static hasState(dataDir: string): boolean {
    return existsSync(new AlertStateStore(dataDir).file);
  }

  async start(): Promise<void> {
    this.#startedAt = this.#now();
    const ctx: NotifierContext = {
      logger: this.#log,
      onResult: (sink, r) => this.#onResult(sink, r),
      onDropped: (sink) => this.#m.dropped.inc({ sink }),
      clock: () => performance.now(),
    };
    let snap: EngineSnapshot | undefined;
    try {
      snap = await this.#store.load();
    } catch (err) {
      this.#log.error({ err: (err as Error).message, file: this.#store.file }, 'alert state unreadable: starting without it');
    }
    const retiring = snap ? this.#retire(snap) : [];
    const used = new Set([...this.#o.rules.flatMap((r) => r.sinks), ...retiring.flatMap((e) => this.#pendingSinks(e))]);
    for (const cfg of this.#o.sinks) {
      if (!used.has(cfg.name)) continue;
      const n = this.#o.createNotifier(cfg, ctx);
      await n.start();
      this.#notifiers.set(cfg.name, n);
    }
    for (const e of retiring) {
      for (const sink of this.#pendingSinks(e)) {
        if (this.#notifiers.has(sink)) continue;
        this.#log.warn({ rule: e.group.rule, group: e.group.group, sink }, 'alert rule removed or changed while firing: sink is no longer configured, so it cannot be told the alert resolved');
        delete e.group.notified[sink];
      }
      if (this.#pendingSinks(e).length === 0) continue;
      this.#retired.set(e.key, e);
      this.#outbox.push({ notice: this.#retiredNotice(e), sinks: this.#pendingSinks(e) });
      this.#dirty = true;
    }
    if (snap) this.#restore(snap);
    this.#startConsumers();
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs ?? 1_000);
    this.#timer.unref();
    this.#log.info({ rules: this.#o.rules.length, sinks: [...this.#notifiers.keys()], state: snap ? 'restored' : 'new' }, 'alert engine started');
  }

  /** Sinks told an incident fired that have not accepted its resolve. */
  #pendingSinks(e: RetiredIncident): string[] {
    return Object.entries(e.group.notified)
      .filter(([, n]) => !(n.ok && n.status === 'resolved'))
      .map(([s]) => s);
  }

  /**
   * The incidents of the saved state whose rule is gone or changed (its fingerprint differs), as
   * resolved; and those retired before that some sink has not accepted yet (a day at most).
   */
  #retire(snap: EngineSnapshot): RetiredIncident[] {
    const now = this.#now();
    const out: RetiredIncident[] = [];
    for (const e of snap.retired ?? []) if (now - (e.group.resolvedAt ?? 0) < 86_400_000) out.push(e);
    for (const g of snap.groups) {
      const c = this.#byName.get(g.rule);
      const savedFp = snap.rules?.[g.rule];
      if (c && (savedFp === undefined || savedFp === c.fp)) continue;
      if (g.status !== 'firing' && !(g.status === 'resolved' && Object.values(g.notified).some((n) => n.status === 'firing' || !n.ok))) continue;
      const from = g.status;
      if (g.status === 'firing') {
        g.status = 'resolved';
        g.since = now;
        g.resolvedAt = now;
        this.#m.transitions.inc({ rule: g.rule, to: 'resolved' });
      }
      // the key it fired with: the group's values were stored in its group_by order
      const key = groupKey(g.rule, Object.keys(g.group), g.group);
      this.#log.info({ rule: g.rule, group: g.group, from, why: c ? 'rule changed' : 'rule removed' }, `alert ${g.rule} resolved: its rule was ${c ? 'changed' : 'removed'} by the configuration`);
      out.push({ key, group: g });
    }
    return out;
  }

  #retiredNotice(e: RetiredIncident): AlertNotice {
    const g = e.group;
    return {
      rule: g.rule,
      key: e.key,
      status: 'resolved',
      labels: g.labels ?? { alertname: g.rule, ...Object.fromEntries(Object.entries(g.group).map(([k, v]) => [groupLabel(k), v])) },
      annotations: g.annotations ?? {},
      startsAt: g.activeAt ?? g.since,
      endsAt: g.resolvedAt ?? g.since,
      host: g.group.host ?? '',
      count: g.count,
      ...(g.value !== undefined ? { value: g.value } : {}),
      evidence: g.evidence.list(),
      generatorURL: `${this.#o.baseUrl().replace(/\/$/, '')}/v1/alerts`,
      createdAt: performance.now(),
      retired: true,
    };
  }

  #restore(snap: EngineSnapshot): void {
    for (const [topic, parts] of Object.entries(snap.offsets)) {
      this.#offsets.set(topic, new Map(Object.entries(parts).map(([p, o]) => [Number(p), o])));
    }
    for (const [h, t] of Object.entries(snap.hosts)) this.#hosts.set(h, t);
    for (const g of snap.groups) {
      const c = this.#byName.get(g.rule);
      if (!c) continue; // the rule is gone (config reload): retired above
      if (snap.rules?.[g.rule] !== undefined && snap.rules[g.rule] !== c.fp) continue; // changed: starts over (retired above)
      c.eval.groups.set(this.#key(c.rule, g.group), g);
      for (const sink of c.rule.sinks) {
        const n = this.#notifiers.get(sink);
        if (!n) continue;
        const incident = g.status === 'firing' || (g.status === 'resolved' && g.activeAt !== undefined);
        if (!incident) continue;
        const want = g.status === 'firing' ? 'firing' : 'resolved';
        const note = g.notified[sink];
        const accepted = note?.ok === true && note.status === want;
        // Resolved long ago and accepted: nothing to say. Otherwise re-announce (the sink decides).
        if (want === 'resolved' && accepted && this.#now() - (g.resolvedAt ?? 0) > 15 * 60_000) continue;
        if (want === 'resolved' && note === undefined) continue; // never told it fired: nothing to resolve
        n.notify(this.#notice(c, g, want), accepted);
      }
    }
  }

  #key(rule: AlertRule, group: Record<string, string>): string {
    return groupKey(rule.name, rule.group_by, group);
  }

  /** Topics to read now. */
  #topics(): string[] {
    const want = new Set<string>(this.#matchByTopic.keys());
    for (const c of this.#metricRules) {
      const t = (c.rule as MetricAlertRule).topic;
      if (t) want.add(t);
    }
    if (this.#allTopics) for (const t of this.#o.storage.names()) want.add(t);
    return [...want];
  }

  #startConsumers(): void {
    if (this.#closed) return;
    for (const topic of this.#topics()) {
      if (this.#consumers.has(topic)) continue;
      const c = new Consumer({
        transport: this.#transport(),
        topic,
        group: ALERTS_GROUP,
        follow: true,
        startAt: { since: new Date(this.#now() - this.#lookback).toISOString() },
        waitMs: this.#o.waitMs ?? 1_000,
        deliver: async (d) => this.apply(d),
        onGap: (partition, from, to) => this.#log.warn({ topic, partition, from, to: to - 1 }, 'alert engine fell behind retention: these records were deleted before it evaluated them'),
        onRetry: (err, delayMs) => this.#log.warn({ topic, err, retry_in_ms: delayMs }, 'alert engine read failed; retrying'),
      });
      this.#consumers.set(topic, c);
      this.#runs.push(c.run().catch((err: unknown) => this.#log.error({ err, topic }, 'alert consumer stopped')));
    }
  }

  /** The in-process transport, with the state's offsets as the committed ones (see the file comment). */
  #transport(): ConsumerTransport {
    const inner = this.#o.transport;
    return {
      partitions: (topic: string): Promise<PartitionRange[] | undefined> => inner.partitions(topic),
      committed: async (_group: string, topic: string) => new Map(this.#offsets.get(topic) ?? []),
      commit: async (_group: string, topic: string, partition: number, offset: number) => this.#advance(topic, partition, offset),
      fetch: (topic: string, partition: number, from: FetchFrom, opts: { maxBytes: number; waitMs: number; signal?: AbortSignal }): Promise<FetchResult> =>
        inner.fetch(topic, partition, from, opts),
    };
  }

  #advance(topic: string, partition: number, offset: number): void {
    let parts = this.#offsets.get(topic);
    if (!parts) this.#offsets.set(topic, (parts = new Map()));
    if ((parts.get(partition) ?? -1) < offset) {
      parts.set(partition, offset);
      this.#dirty = true;
    }
  }

  #time(ts: string): number {
    if (ts === this.#tsCache.text) return this.#tsCache.ms;
    const ms = Date.parse(ts);
    this.#tsCache = { text: ts, ms };
    return ms;
  }

  /** Applies delivered records to the state (synchronously: a save sees all of a delivery or none). */
  apply(d: Delivery): void {
    const applied = this.#offsets.get(d.topic)?.get(d.partition) ?? -1;
    let records: StoredRecord[] = d.records;
    if (records.length > 0 && records[0]!.offset < applied) records = records.filter((r) => r.offset >= applied);
    if (records.length === 0) return;
    const absent = this.#absentRules.length > 0;
    const wall = absent ? this.#now() : 0;
    let newest = this.#newestRecord;
    if (this.#times.length < records.length) this.#times = new Float64Array(records.length * 2);
    const times = this.#times;
    // the last timestamp's time kept in locals: a stored batch shares one timestamp, and a call per
    // record returning a double would box it (a heap number per record)
    let lastTs = this.#tsCache.text;
    let lastMs = this.#tsCache.ms;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const ts = r.timestamp;
      if (ts !== lastTs) {
        lastMs = this.#time(ts);
        lastTs = ts;
      }
      const t = (times[i] = lastMs);
      if (t > newest) newest = t;
      if (absent) {
        this.#arrived.set(r.host, wall);
        const prev = this.#hosts.get(r.host);
        if (prev === undefined || t > prev) {
          this.#hosts.set(r.host, t);
          for (const c of this.#absentRules) (c.eval as AbsentEval).seen(r.host, t);
        }
      }
      if (r.metrics !== undefined && this.#metricRules.length > 0) this.#metrics(d.topic, r, t);
    }
    this.#newestRecord = Math.min(newest, this.#now());
    const match = this.#matchByTopic.get(d.topic);
    if (match) this.#match(d, records, match);
    for (const c of this.#metricRules) {
      const topic = (c.rule as MetricAlertRule).topic;
      if (topic === undefined || topic === d.topic) this.#m.evaluations.inc({ rule: c.rule.name }, records.length);
    }
    this.#advance(d.topic, d.partition, records[records.length - 1]!.offset + 1);
    this.#dirty = true;
  }

  #match(d: Delivery, records: StoredRecord[], rules: Compiled[]): void {
    const set = this.#patternsByTopic.get(d.topic);
    let all: HitLists | undefined;
    if (set) {
      const messages = this.#messages;
      messages.length = records.length;
      for (let i = 0; i < records.length; i++) messages[i] = records[i]!.message;
      const starts: number[] = [];
      let text = '';
      if (set.needsText) {
        let pos = 0;
        for (let i = 0; i < messages.length; i++) {
          starts.push(pos);
          pos += messages[i]!.length + 1;
        }
        text = messages.join('\n');
      }
      all = set.matchInto(messages, text, starts, this.#hits.get(set)!);
      messages.fill('');
    }
    const segs = (this.#segs = segments(records, this.#times, records.length, this.#segs));
    /** parse results per pipeline (null: base document) and record index, shared by the rules of this delivery */
    let docs: Map<Pipeline | null, Array<ParseResult | undefined>> | undefined;
    for (let k = 0; k < rules.length; k++) {
      const c = rules[k]!;
      if (c.parsed) {
        const p = c.patternIndex;
        if (p === undefined) this.#matchParsed(d, records, c, undefined, records.length, (docs ??= new Map()));
        else this.#matchParsed(d, records, c, all!.lines[p]!, all!.count[p]!, (docs ??= new Map()));
      } else {
        const p = c.patternIndex!;
        // segments of one host and one record time counted together (evaluate.ts MatchEval.matchLines)
        (c.eval as MatchEval).matchLines(all!.lines[p]!, all!.count[p]!, records, this.#times, d.topic, d.partition, segs);
      }
      if (c.evaluated === 0) this.#evaluatedRules.push(c);
      c.evaluated += records.length;
    }
  }

  /** Adds the log-match rules' evaluations to their counters (when metrics are read, and at close). */
  #flushEvaluated(): void {
    for (const c of this.#evaluatedRules) {
      c.evaluations!.inc(c.evaluated);
      c.evaluated = 0;
    }
    this.#evaluatedRules.length = 0;
  }

  /**
   * A rule on parsed fields: the lines its pattern matched (hits[0 .. n); undefined: all n records) are
   * parsed by its pipeline (once per delivery and pipeline), then counted when the pipeline
   * routes them to one of the rule's sinks (and did not drop them) and `where` holds, in the
   * group of their group_by values.
   */
  #matchParsed(d: Delivery, records: StoredRecord[], c: Compiled, hits: Int32Array | undefined, n: number, docs: Map<Pipeline | null, Array<ParseResult | undefined>>): void {
    const p = c.parsed!;
    const ev = c.eval as MatchEval;
    const rule = c.rule as MatchAlertRule;
    const cacheKey = p.pipeline ?? null;
    let cache = docs.get(cacheKey);
    if (!cache) docs.set(cacheKey, (cache = new Array<ParseResult | undefined>(records.length)));
    const times = this.#times;
    let away = 0;
    for (let j = 0; j < n; j++) {
      const i = hits ? hits[j]! : j;
      const r = records[i]!;
      let res = cache[i];
      if (res === undefined) cache[i] = res = p.pipeline ? p.pipeline.run(r) : { doc: baseDocument(r), dropped: false, routes: undefined, failed: [] };
      if (res.dropped || !routedTo(res.routes, rule.sinks)) {
        away++;
        continue;
      }
      const doc = res.doc;
      if (p.where && !p.where(doc)) continue;
      const values: Record<string, string> = {};
      for (const [path, keys] of p.group) values[path] = keys === undefined ? r.host : (asText(getPath(doc, keys)) ?? '');
      const key = this.#key(rule, values);
      const t = times[i]!;
      const g = ev.group(key, values, t);
      if (!g) continue;
      if (p.fields.length > 0) {
        const f: Record<string, string> = {};
        for (const [path, keys] of p.fields) f[path] = asText(getPath(doc, keys)) ?? '';
        g.fields = f;
      }
      ev.match(key, r.host, t, { topic: d.topic, partition: d.partition, offset: r.offset, source: r.source, source_offset: r.source_offset });
    }
    if (away > 0) p.routedAway.inc(away);
  }

  #metrics(topic: string, r: StoredRecord, t: number): void {
    for (const c of this.#metricRules) {
      const rule = c.rule as MetricAlertRule;
      if (rule.topic !== undefined && rule.topic !== topic) continue;
      const byGroup = new Map<string, { values: Record<string, string>; sum: number; n: number; min: number; max: number }>();
      for (const s of r.metrics as Array<{ name?: unknown; labels?: unknown; value?: unknown }>) {
        if (s?.name !== rule.metric || typeof s.value !== 'number' || !Number.isFinite(s.value)) continue;
        const labels = (s.labels && typeof s.labels === 'object' ? s.labels : {}) as Record<string, unknown>;
        let ok = true;
        for (const [k, v] of Object.entries(rule.match_labels)) if (labels[k] !== v) ok = false;
        if (!ok) continue;
        const values: Record<string, string> = {};
        for (const g of rule.group_by) values[g] = g === 'host' ? r.host : typeof labels[g] === 'string' ? (labels[g] as string) : '';
        const key = this.#key(rule, values);
        const a = byGroup.get(key) ?? { values, sum: 0, n: 0, min: Infinity, max: -Infinity };
        a.sum += s.value;
        a.n++;
        a.min = Math.min(a.min, s.value);
        a.max = Math.max(a.max, s.value);
        byGroup.set(key, a);
      }
      for (const [key, a] of byGroup) {
        const v = rule.aggregate === 'sum' ? a.sum : rule.aggregate === 'avg' ? a.sum / a.n : rule.aggregate === 'min' ? a.min : a.max;
        (c.eval as MetricEval).sample(key, a.values, v, t);
      }
    }
  }

  /** Every consumer caught up (those that have started). */
  #caughtUp(): boolean {
    for (const c of this.#consumers.values()) for (const lag of c.lag().values()) if (lag > 0) return false;
    return true;
  }

  #tick(): void {
    if (this.#closed) return;
    if (this.#allTopics) this.#startConsumers();
    const now = this.#now();
    const evalNow = this.#caughtUp() ? now : Math.max(this.#newestRecord, this.#startedAt);
    this.#forgetHosts(now);
    let lastHeard: Map<string, number> | undefined;
    if (this.#absentRules.length > 0) {
      lastHeard = new Map();
      for (const [h, t] of this.#hosts) lastHeard.set(h, Math.max(t, this.#arrived.get(h) ?? 0));
    }
    for (const c of this.#rules) {
      if (c.rule.kind === 'absent') (c.eval as AbsentEval).check(lastHeard!, evalNow, this.#startedAt);
      else c.eval.tick(evalNow);
      c.eval.forget(now);
    }
    void this.#save();
  }

  /**
   * Hosts are remembered for absence rules; bounded: one silent for a week whose absence alerts are not
   * firing is forgotten, and beyond MAX_HOSTS the longest silent go first.
   */
  #forgetHosts(now: number): void {
    if (this.#hosts.size === 0) return;
    const firing = (h: string) => this.#absentRules.some((c) => c.eval.groups.get((c.eval as AbsentEval).key(h))?.status === 'firing');
    if (++this.#ticks % 60 === 0) {
      for (const [h, t] of this.#hosts) {
        if (now - Math.max(t, this.#arrived.get(h) ?? 0) > HOST_FORGET_MS && !firing(h)) {
          this.#hosts.delete(h);
          this.#arrived.delete(h);
          this.#dirty = true;
        }
      }
    }
    if (this.#hosts.size > MAX_HOSTS) {
      const oldest = [...this.#hosts].sort((a, b) => a[1] - b[1]).slice(0, this.#hosts.size - MAX_HOSTS);
      for (const [h] of oldest) {
        this.#hosts.delete(h);
        this.#arrived.delete(h);
      }
      this.#dirty = true;
      this.#log.warn({ max_hosts: MAX_HOSTS }, 'more hosts than the alert engine remembers for absence rules: the longest silent were forgotten');
    }
  }

  #transition(rule: AlertRule, g: GroupState, from: AlertStatus, at: number): void {
    this.#m.transitions.inc({ rule: rule.name, to: g.status });
    this.#log.info({ rule: rule.name, group: g.group, from, to: g.status, at: new Date(at).toISOString(), count: g.count, value: g.value }, `alert ${rule.name} ${g.status}`);
    const c = this.#byName.get(rule.name)!;
    if (g.status === 'firing') {
      const vars = this.#vars(c, g);
      g.labels = this.#labels(c, g, vars.labels);
      g.annotations = this.#annotations(c, g);
    } else if (g.status === 'resolved') {
      g.annotations = this.#annotations(c, g);
    }
    if (g.status === 'firing' || (g.status === 'resolved' && from === 'firing')) {
      this.#outbox.push({ notice: this.#notice(c, g, g.status), sinks: rule.sinks });
      void this.#save();
    }
  }

  #vars(c: Compiled, g: GroupState) {
    const labels: Record<string, string> = { alertname: c.rule.name };
    // Alertmanager drops empty label values; dropping them here keeps one identity (and fingerprint) everywhere.
    // A field path (source.ip) becomes a label name (source_ip).
    for (const [k, v] of Object.entries(g.group)) if (v !== '') labels[groupLabel(k)] = v;
    return { host: g.group.host ?? '', count: g.count, value: g.value, labels, ...(g.fields ? { fields: g.fields } : {}) };
  }

  #labels(c: Compiled, g: GroupState, base: Record<string, string>): Record<string, string> {
    const vars = this.#vars(c, g);
    const out: Record<string, string> = { ...base };
    for (const [k, t] of c.labels) {
      const v = render(t, vars);
      if (v !== '') out[k] = v; // Alertmanager drops empty labels; so do we, to keep one identity
    }
    return out;
  }

  #annotations(c: Compiled, g: GroupState): Record<string, string> {
    const vars = this.#vars(c, g);
    vars.labels = { ...(g.labels ?? vars.labels) };
    return Object.fromEntries(c.annotations.map(([k, t]) => [k, render(t, vars)]));
  }

  #notice(c: Compiled, g: GroupState, status: 'firing' | 'resolved'): AlertNotice {
    const labels = g.labels ?? this.#labels(c, g, this.#vars(c, g).labels);
    const evidence = g.evidence.list();
    const ev = evidence[0];
    const base = this.#o.baseUrl().replace(/\/$/, '');
    const generatorURL = ev
      ? `${base}/v1/topics/${encodeURIComponent(ev.topic)}/partitions/${ev.partition}/records?offset=${ev.offset}`
      : `${base}/v1/alerts`;
    return {
      rule: c.rule.name,
      key: this.#key(c.rule, g.group),
      status,
      labels,
      annotations: g.annotations ?? this.#annotations(c, g),
      startsAt: g.activeAt ?? g.since,
      ...(status === 'resolved' ? { endsAt: g.resolvedAt ?? g.since } : {}),
      host: g.group.host ?? '',
      count: g.count,
      ...(g.value !== undefined ? { value: g.value } : {}),
      evidence,
      generatorURL,
      createdAt: performance.now(),
    };
  }

  #onResult(sink: string, r: DeliveryResult): void {
    if (r.ok) {
      this.#m.sent.inc({ sink });
      if (r.latencyMs !== undefined) this.#m.latency.observe({ sink }, r.latencyMs / 1000);
    } else {
      this.#m.failed.inc({ sink });
      this.#log.warn({ sink, rule: r.notice.rule, key: r.notice.key, status: r.notice.status, err: r.error }, 'alert notification failed (retried with backoff unless the sink refused it for good)');
    }
    if (r.notice.retired) {
      const e = this.#retired.get(r.notice.key);
      if (!e) return;
      e.group.notified[sink] = { status: r.notice.status, at: this.#now(), ok: r.ok, ...(r.error ? { error: r.error.slice(0, 500) } : {}) };
      if (this.#pendingSinks(e).length === 0) this.#retired.delete(r.notice.key);
      this.#dirty = true;
      return;
    }
    const c = this.#byName.get(r.notice.rule);
    const g = c?.eval.groups.get(r.notice.key);
    if (!g) return;
    g.notified[sink] = { status: r.notice.status, at: this.#now(), ok: r.ok, ...(r.error ? { error: r.error.slice(0, 500) } : {}) };
    this.#dirty = true;
  }

  /** Saves the state if it changed, then releases the notifications it covers. One save at a time; a request during one runs another after it. */
  #save(): Promise<void> {
    this.#wantSave = true;
    this.#saving ??= (async () => {
      try {
        // A transition asks for a save in the middle of apply(), which is synchronous: wait for it
        // to return, so the snapshot never holds a delivery's counts half applied beside the
        // offsets from before it (a crash then would count that part again on restart).
        await undefined;
        while (this.#wantSave) {
          this.#wantSave = false;
          await this.#saveNow();
        }
      } finally {
        this.#saving = undefined;
      }
    })();
    return this.#saving;
  }

  async #saveNow(): Promise<void> {
    if (!this.#dirty && this.#outbox.length === 0) return;
    const snap = this.#snapshot();
    const out = this.#outbox;
    this.#outbox = [];
    this.#dirty = false;
    try {
      await this.#store.save(snap);
    } catch (err) {
      this.#m.stateWriteFailures.inc();
      this.#log.error({ err, file: this.#store.file }, 'cannot save the alert state; notifications wait until it is saved (retried every tick)');
      this.#outbox = out.concat(this.#outbox);
      this.#dirty = true;
      return;
    }
    for (const { notice, sinks } of out) for (const s of sinks) this.#notifiers.get(s)?.notify(notice);
    const commit = new Map([...this.#offsets].map(([t, p]) => [t, new Map(p)]));
    await this.#o.groups.commit(ALERTS_GROUP, commit).catch((err: unknown) => this.#log.warn({ err }, 'cannot record the alert engine offsets in its group (lag gauge only)'));
  }

  #snapshot(): EngineSnapshot {
    const offsets: EngineSnapshot['offsets'] = Object.create(null) as EngineSnapshot['offsets'];
    for (const [t, parts] of this.#offsets) {
      const o = Object.create(null) as Record<string, number>;
      for (const [p, off] of parts) o[String(p)] = off;
      offsets[t] = o;
    }
    const hosts = Object.create(null) as Record<string, number>;
    for (const [h, t] of this.#hosts) hosts[h] = t;
    const groups: GroupState[] = [];
    for (const c of this.#rules) for (const g of c.eval.groups.values()) groups.push(cloneGroup(g));
    const rules = Object.create(null) as Record<string, string>;
    for (const c of this.#rules) rules[c.rule.name] = c.fp;
    const retired = [...this.#retired.values()].map((e) => ({ key: e.key, group: cloneGroup(e.group) }));
    return { offsets, hosts, groups, rules, ...(retired.length > 0 ? { retired } : {}) };
  }

  /** What `GET /v1/alerts` answers. */
  view(): AlertsView {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    return {
      rules: this.#rules.map((c) => ({
        name: c.rule.name,
        kind: c.rule.kind,
        sinks: c.rule.sinks,
        groups: [...c.eval.groups.values()].map((g): AlertsView['rules'][number]['groups'][number] => ({
          group: g.group,
          state: g.status,
          since: iso(g.since)!,
          ...(g.activeAt !== undefined ? { active_at: iso(g.activeAt) } : {}),
          ...(g.resolvedAt !== undefined ? { resolved_at: iso(g.resolvedAt) } : {}),
          ...(g.value !== undefined ? { value: g.value } : {}),
          count: g.count,
          notifications: Object.fromEntries(Object.entries(g.notified).map(([s, n]) => [s, { status: n.status, at: iso(n.at)!, ok: n.ok, ...(n.error ? { error: n.error } : {}) }])),
        })).concat(c.rule.kind === 'absent' ? this.#quietHosts(c) : []),
      })),
      sinks: [...this.#notifiers.values()].map((n) => ({ name: n.name, type: n.type, queued: n.queued() })),
    };
  }

  /**
   * Absence rules: the hosts heard from that have no group yet, as inactive groups (since: their
   * newest record), so operators see which hosts a rule watches before one goes silent. At most
   * MAX_GROUPS_PER_RULE listed.
   */
  #quietHosts(c: Compiled): AlertsView['rules'][number]['groups'] {
    const ev = c.eval as AbsentEval;
    const out: AlertsView['rules'][number]['groups'] = [];
    for (const [host, t] of this.#hosts) {
      if (ev.groups.size + out.length >= MAX_GROUPS_PER_RULE) break;
      if (ev.groups.has(ev.key(host))) continue;
      out.push({ group: { host }, state: 'inactive', since: new Date(t).toISOString(), count: 0, notifications: {} });
    }
    return out;
  }

  /** Sets the per-state group gauge (called at scrape). */
  refreshGauges(): void {
    this.#m.groups.reset();
    for (const c of this.#rules) {
      const counts: Record<AlertStatus, number> = { inactive: 0, pending: 0, firing: 0, resolved: 0 };
      for (const g of c.eval.groups.values()) counts[g.status]++;
      if (c.rule.kind === 'absent') counts.inactive += this.#quietHosts(c).length;
      for (const [state, n] of Object.entries(counts)) this.#m.groups.set({ rule: c.rule.name, state }, n);
    }
  }

  /** Stops reading, saves the state, gives the notifiers a moment to deliver, stops them, saves what they reported. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all([...this.#consumers.values()].map((c) => c.stop()));
    await Promise.all(this.#runs);
    this.#dirty = true;
    await this.#save(); // hands what is pending to the notifiers
    await Promise.all([...this.#notifiers.values()].map((n) => n.close(2_000)));
    // what the sinks accepted meanwhile is recorded, so a restart does not send it again
    this.#dirty = true;
    await this.#save();
  }
}

/** A copy of a group for a snapshot (match times and evidence copied by their classes: structuredClone keeps no class). */
function cloneGroup(g: GroupState): GroupState {
  const { matches, evidence, ...rest } = g;
  return { ...structuredClone(rest), matches: matches.clone(), evidence: evidence.clone() };
}

/** The base URL generatorURL links use: the listen address, with this host's name for a wildcard one. */
export function baseUrlFor(address: string, port: number, tls: boolean): string {
  const host = address === '0.0.0.0' || address === '::' ? hostname() : address.includes(':') ? `[${address}]` : address;
  return `${tls ? 'https' : 'http'}://${host}:${port}`;
}
