/**
 * Each step config compiled once into a function over a document. A step
 * answers OK, SKIP (its source field is absent: nothing to do, not a
 * failure), DROP, or a failure message; pipeline.ts turns failures into
 * tags/error.message and counts them. Compilation throws StepError with the
 * key of the step config that is wrong (and an offset inside its text when
 * known), which config.ts reports at FILE:LINE:COL.
 */

import { compileCondition, ConditionError, type Condition } from './condition.js';
import { asText, deletePath, fieldProblem, getPath, setPath, splitPath, toDocValue, type Doc } from './fields.js';
import { compilePattern, convertCapture, PatternError, type CompiledPattern } from './pattern.js';
import { isoTime, parseTimestamp, parseZone, TIMESTAMP_FORMATS, type TimestampFormat, type Zone } from './timestamp.js';
import { regexSafetyProblem } from '../../lib/regex-safety.js';
import { parseKv } from './kv.js';
import type { StepConfig } from './types.js';

export const OK = 0;
export const SKIP = 1;
export const DROP = 2;
export type StepOutcome = typeof OK | typeof SKIP | typeof DROP | string;

export interface StepContext {
  /** epoch ms of the record's read time: the reference for year-less timestamps (computed when first asked) */
  readonly readTime: number;
  /** stable identity of the record (for sample; computed when first asked) */
  readonly identity: string;
  /** sinks named by route steps that matched, if any */
  routes: Set<string> | undefined;
  /** `_pattern.*` captures of the current pattern step: scratch for a preset's own steps, never in the document */
  scratch: Record<string, string>;
}

export type StepFn = (doc: Doc, ctx: StepContext) => StepOutcome;

export interface CompiledStep {
  label: string;
  type: string;
  cond: Condition | undefined;
  run: StepFn;
}

export class StepError extends Error {
  constructor(
    message: string,
    /** the key of the step's config the problem is in */
    readonly key: string,
    readonly offset?: number,
    /** index in a list value (pattern, fields) */
    readonly item?: number,
  ) {
    super(message);
  }
}

function field(path: string, key: string): string[] {
  const problem = fieldProblem(path);
  if (problem) throw new StepError(problem, key);
  return splitPath(path);
}

/** The field as text, or undefined when absent. */
const textAt = (doc: Doc, keys: string[]): string | undefined => asText(getPath(doc, keys));

const LEVEL_NUMBERS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const LEVEL_KEYS = ['level', 'lvl', 'severity', 'log.level'];
const MESSAGE_KEYS = ['msg', 'message'];
const TIME_KEYS = ['time', 'ts', 'timestamp', '@timestamp'];

/** pino/bunyan numbers, logrus/zap names, "WARNING" and friends -> log.level. */
export function normalizeLevel(v: unknown): string | undefined {
  if (typeof v === 'number') return LEVEL_NUMBERS[v] ?? String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= 32) {
    const l = v.toLowerCase();
    return l === 'warning' ? 'warn' : l === 'err' ? 'error' : l === 'crit' || l === 'critical' || l === 'panic' || l === 'dpanic' ? 'fatal' : l;
  }
  return undefined;
}

/** A time value from a JSON line: RFC 3339 text, epoch seconds (zap) or milliseconds (pino, bunyan). */
function jsonTime(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v > 1e11 ? Math.floor(v) : Math.floor(v * 1000);
  if (typeof v === 'string') return parseTimestamp(v, 'rfc3339', { fixed: 0 }, 0) ?? (/^\d{10,13}(\.\d+)?$/.test(v) ? jsonTime(Number(v)) : undefined);
  return undefined;
}

const iso = isoTime;

/** Puts a match's captures into the document (`_pattern.*` into ctx.scratch); a message when one does not convert. */
export function applyCaptures(doc: Doc, m: RegExpExecArray, p: CompiledPattern, scratch: Record<string, string>): string | undefined {
  for (const c of p.captures) {
    const text = m[c.index];
    if (text === undefined) continue;
    if (c.keys[0] === '_pattern') {
      scratch[c.keys[1] ?? ''] = text;
      continue;
    }
    const v = convertCapture(text, c.type);
    if (v === undefined) return `"${text.slice(0, 40)}" is not a valid ${c.type} for ${c.field}`;
    setPath(doc, c.keys, v);
  }
  return undefined;
}

function jsonStep(s: Extract<StepConfig, { type: 'json' }>): StepFn {
  const src = field(s.field, 'field');
  const target = s.target === '' ? [] : field(s.target, 'target');
  return (doc) => {
    const text = textAt(doc, src);
    if (text === undefined) return SKIP;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return `not JSON: ${(err as Error).message.slice(0, 120)}`;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'the JSON value is not an object';
    const obj = toDocValue(parsed) as Doc;
    if (s.levels) {
      for (const k of LEVEL_KEYS) {
        if (!Object.hasOwn(obj, k)) continue;
        const l = normalizeLevel(obj[k]);
        if (l !== undefined) {
          delete obj[k];
          setPath(doc, ['log', 'level'], l);
        }
        break;
      }
      for (const k of TIME_KEYS) {
        if (!Object.hasOwn(obj, k)) continue;
        const t = jsonTime(obj[k]);
        if (t !== undefined) {
          delete obj[k];
          doc['@timestamp'] = iso(t);
        }
        break;
      }
      for (const k of MESSAGE_KEYS) {
        if (!Object.hasOwn(obj, k) || typeof obj[k] !== 'string') continue;
        const msg = obj[k];
        delete obj[k];
        if (target.length === 0) {
          doc.message = msg;
        } else setPath(doc, ['message'], msg);
        break;
      }
    }
    if (target.length === 0) {
      for (const k of Object.keys(obj)) {
        const v = obj[k];
        Object.defineProperty(doc, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
    } else setPath(doc, target, obj);
    return OK;
  };
}

function regexStep(s: Extract<StepConfig, { type: 'regex' }>): StepFn {
  const src = field(s.field, 'field');
  const problem = regexSafetyProblem(s.pattern);
  if (problem) throw new StepError(problem, 'pattern');
  const re = new RegExp(s.pattern);
  // named groups: a__b names field a.b (a group name cannot hold a dot)
  const names = [...s.pattern.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]!);
  if (names.length === 0) throw new StepError('the regex has no named group such as (?<user__name>\\S+) (a__b names the field a.b)', 'pattern');
  const targets = names.map((n) => ({ n, keys: field(n.split('__').join('.'), 'pattern') }));
  return (doc) => {
    const text = textAt(doc, src);
    if (text === undefined) return SKIP;
    const m = re.exec(text);
    if (!m) return 'the regex did not match';
    for (const t of targets) {
      const v = m.groups?.[t.n];
      if (v !== undefined) setPath(doc, t.keys, v);
    }
    return OK;
  };
}

function patternStep(s: Extract<StepConfig, { type: 'pattern' }>, patterns: string[]): StepFn {
  const src = field(s.field, 'field');
  const compiled = patterns.map((p, i) => {
    try {
      return compilePattern(p, s.definitions);
    } catch (err) {
      if (err instanceof PatternError) throw new StepError(err.message, s.pattern ? 'pattern' : 'preset', err.offset, s.pattern && s.pattern.length > 1 ? i : undefined);
      throw err;
    }
  });
  return (doc, ctx) => {
    const text = textAt(doc, src);
    if (text === undefined) return SKIP;
    for (const p of compiled) {
      const m = p.regex.exec(text);
      if (!m) continue;
      ctx.scratch = {};
      return applyCaptures(doc, m, p, ctx.scratch) ?? OK;
    }
    return compiled.length === 1 ? 'the pattern did not match' : `none of the ${compiled.length} patterns matched`;
  };
}

export function timestampFn(srcPath: string, formats: readonly string[], timezone: string, targetPath: string, remove: boolean): StepFn {
  const src = field(srcPath, 'field');
  const target = field(targetPath, 'target');
  const bad = formats.find((f) => !(TIMESTAMP_FORMATS as readonly string[]).includes(f));
  if (bad !== undefined) throw new StepError(`unknown format "${bad}" (${TIMESTAMP_FORMATS.join(', ')})`, 'formats');
  const zone: Zone | undefined = parseZone(timezone);
  if (!zone) throw new StepError(`unknown timezone "${timezone}" (UTC, local, +02:00, or a name such as Europe/Paris)`, 'timezone');
  const fmts = formats as TimestampFormat[];
  return (doc, ctx) => {
    const text = textAt(doc, src);
    if (text === undefined) return SKIP;
    for (const f of fmts) {
      const t = parseTimestamp(text, f, zone, f === 'syslog' ? ctx.readTime : 0);
      if (t !== undefined) {
        setPath(doc, target, iso(t));
        if (remove && srcPath !== targetPath) deletePath(doc, src);
        return OK;
      }
    }
    return `"${text.slice(0, 40)}" is not a time in format ${fmts.join(' or ')}`;
  };
}

function setStep(s: Extract<StepConfig, { type: 'set' }>): StepFn {
  const keys = field(s.field, 'field');
  // {{a.b}} is replaced by field a.b (empty when absent)
  const parts = s.value.split(/(\{\{[^{}]{1,256}\}\})/);
  const pieces = parts.map((p) => (p.startsWith('{{') && p.endsWith('}}') ? { keys: field(p.slice(2, -2).trim(), 'value') } : { text: p }));
  const constant = pieces.every((p) => 'text' in p) ? s.value : undefined;
  return (doc) => {
    if (!s.override && getPath(doc, keys) !== undefined) return OK;
    const v = constant ?? pieces.map((p) => ('text' in p ? p.text : (textAt(doc, p.keys) ?? ''))).join('');
    setPath(doc, keys, v);
    return OK;
  };
}

function moveStep(fields: Record<string, string>, keep: boolean): StepFn {
  const pairs = Object.entries(fields).map(([from, to]) => ({ from: field(from, 'fields'), to: field(to, 'fields') }));
  return (doc) => {
    for (const p of pairs) {
      const v = getPath(doc, p.from);
      if (v === undefined) continue;
      if (!keep) deletePath(doc, p.from);
      setPath(doc, p.to, keep && typeof v === 'object' && v !== null ? structuredClone(v) : v);
    }
    return OK;
  };
}

function removeStep(s: Extract<StepConfig, { type: 'remove' }>): StepFn {
  const all = s.fields.map((f) => field(f, 'fields'));
  return (doc) => {
    for (const k of all) deletePath(doc, k);
    return OK;
  };
}

/** FNV-1a over the record's identity: the same record is always kept or always left out. */
export function sampleHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const SEVERITY_NAMES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
const FACILITY_NAMES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];

/** log.syslog.priority -> facility and severity (code and name), and process.* from the syslog header. */
export const syslogFields: StepFn = (doc) => {
  const pri = getPath(doc, ['log', 'syslog', 'priority']);
  if (typeof pri === 'number' && pri >= 0 && pri <= 191) {
    const sev = pri & 7;
    const fac = pri >> 3;
    setPath(doc, ['log', 'syslog', 'severity', 'code'], sev);
    setPath(doc, ['log', 'syslog', 'severity', 'name'], SEVERITY_NAMES[sev]);
    setPath(doc, ['log', 'syslog', 'facility', 'code'], fac);
    setPath(doc, ['log', 'syslog', 'facility', 'name'], FACILITY_NAMES[fac]);
    setPath(doc, ['log', 'level'], SEVERITY_NAMES[sev]!.toLowerCase());
  }
  const app = getPath(doc, ['log', 'syslog', 'appname']);
  if (typeof app === 'string') setPath(doc, ['process', 'name'], app);
  const pid = getPath(doc, ['log', 'syslog', 'procid']);
  if (typeof pid === 'string' && /^\d{1,10}$/.test(pid)) setPath(doc, ['process', 'pid'], Number(pid));
  const host = getPath(doc, ['log', 'syslog', 'hostname']);
  if (typeof host === 'string') setPath(doc, ['host', 'hostname'], host);
  return OK;
};

/**
 * drop, sample and route act on the record's context, never on its fields, so both
 * document paths (compileStep here, the fast writer in writer.ts) run the same step.
 */
export function contextStep(s: Extract<StepConfig, { type: 'drop' | 'sample' | 'route' }>): (_fields: unknown, ctx: StepContext) => StepOutcome {
  switch (s.type) {
    case 'drop':
      return () => DROP;
    case 'sample': {
      const rate = s.rate;
      return (_fields, ctx) => (sampleHash(ctx.identity) % rate === 0 ? OK : DROP);
    }
    case 'route': {
      const sinks = s.sinks;
      return (_fields, ctx) => {
        ctx.routes ??= new Set();
        for (const k of sinks) ctx.routes.add(k);
        return OK;
      };
    }
  }
}

/** Builds a step's function (without its condition). `presetSteps` expands a preset into its steps. */
export function compileStep(s: StepConfig, presetSteps: (s: Extract<StepConfig, { type: 'pattern' }>) => StepFn): StepFn {
  switch (s.type) {
    case 'json':
      return jsonStep(s);
    case 'regex':
      return regexStep(s);
    case 'pattern':
      if (s.preset !== undefined) return presetSteps(s);
      if (!s.pattern || s.pattern.length === 0) throw new StepError('give pattern (one or a list) or preset', 'pattern');
      return patternStep(s, s.pattern);
    case 'timestamp':
      return timestampFn(s.field, s.formats, s.timezone, s.target, s.remove);
    case 'kv': {
      const src = field(s.field, 'field');
      const target = s.target === '' ? [] : field(s.target, 'target');
      if (s.separator.length !== 1 || s.delimiter.length !== 1) throw new StepError('separator and delimiter are one character each', s.separator.length !== 1 ? 'separator' : 'delimiter');
      return (doc) => {
        const text = textAt(doc, src);
        if (text === undefined) return SKIP;
        const pairs = parseKv(text, s.separator, s.delimiter);
        if (pairs.length === 0) return 'no key=value pairs';
        for (const [k, v] of pairs) if (fieldProblem(k) === undefined) setPath(doc, [...target, ...splitPath(k)], v);
        return OK;
      };
    }
    case 'set':
      return setStep(s);
    case 'rename':
      return moveStep(s.fields, false);
    case 'copy':
      return moveStep(s.fields, true);
    case 'remove':
      return removeStep(s);
    case 'drop':
    case 'sample':
    case 'route':
      return contextStep(s);
  }
}

export function compileIf(src: string | undefined): Condition | undefined {
  if (src === undefined) return undefined;
  try {
    return compileCondition(src);
  } catch (err) {
    if (err instanceof ConditionError) throw new StepError(err.message, 'if', err.offset);
    throw err;
  }
}

