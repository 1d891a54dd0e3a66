/**
 * Presets of the `pattern` step: a pattern from patterns.ts plus the steps
 * that finish the job (the log's own time into @timestamp, syslog priority
 * into facility/severity names, scratch fields removed). The ECS mapping of
 * each is in docs/pipelines.md.
 */

import { asText, getPath, setPath, type Doc } from './fields.js';
import { compilePattern } from './pattern.js';
import { isoTime, parseTimestamp, parseZone, type TimestampFormat, type Zone } from './timestamp.js';
import { parseKv } from './kv.js';
import { parseStackTrace } from './stacktrace.js';
import { applyCaptures, OK, SKIP, StepError, syslogFields, normalizeLevel, type StepContext, type StepFn, type StepOutcome } from './steps.js';
import type { PresetName, StepConfig } from './types.js';

function patternPreset(block: string, field: string, after: StepFn[]): StepFn {
  const p = compilePattern(`%{${block}}$`);
  const src = field.split('.');
  return (doc: Doc, ctx: StepContext): StepOutcome => {
    const text = asText(getPath(doc, src));
    if (text === undefined) return SKIP;
    const m = p.regex.exec(text);
    if (!m) return `the ${block} pattern did not match`;
    ctx.scratch = {};
    const bad = applyCaptures(doc, m, p, ctx.scratch);
    if (bad !== undefined) return bad;
    for (const f of after) {
      const r = f(doc, ctx);
      if (r !== OK && r !== SKIP) return r;
    }
    return OK;
  };
}

/** The log's own time (captured as _pattern.time) into @timestamp. */
function ts(format: TimestampFormat, timezone: string): StepFn {
  const zone = parseZone(timezone);
  if (!zone) throw new StepError(`unknown timezone "${timezone}"`, 'timezone');
  return (doc, ctx) => {
    const text = ctx.scratch.time;
    if (text === undefined) return OK;
    // only year-less formats need the read time (parsing it costs)
    const t = parseTimestamp(text, format, zone, format === 'syslog' ? ctx.readTime : 0);
    if (t === undefined) return `"${text.slice(0, 40)}" is not a time in format ${format}`;
    doc['@timestamp'] = isoTime(t);
    return OK;
  };
}

/**
 * Presets that are a pattern plus the log's own time and nothing else: the
 * fast document writer (writer.ts) runs these from this table too, so both
 * paths parse them alike.
 */
export const FAST_PRESETS: Partial<Record<PresetName, { block: string; time: { format: TimestampFormat; zone: Zone } }>> = {
  nginx_access: { block: 'NGINX_ACCESS', time: { format: 'nginx', zone: parseZone('UTC')! } },
  apache_access: { block: 'APACHE_ACCESS', time: { format: 'nginx', zone: parseZone('UTC')! } },
};

/** The function for `{type: pattern, preset: NAME}`. */
export function presetStep(s: Extract<StepConfig, { type: 'pattern' }>, timezone = 'UTC'): StepFn {
  const name = s.preset as PresetName;
  const f = s.field;
  switch (name) {
    case 'nginx_access':
    case 'apache_access': {
      const fp = FAST_PRESETS[name]!;
      return patternPreset(fp.block, f, [ts(fp.time.format, timezone)]);
    }
    case 'nginx_error':
      return patternPreset('NGINX_ERROR', f, [ts('nginx_error', timezone), nginxErrorExtras]);
    case 'apache_error':
      return patternPreset('APACHE_ERROR', f, [apacheErrorTime]);
    case 'syslog_rfc3164':
      return patternPreset('SYSLOG_RFC3164', f, [ts('syslog', timezone), syslogFields]);
    case 'syslog_rfc5424':
      return patternPreset('SYSLOG_RFC5424', f, [ts('rfc3339', timezone), syslogFields]);
    case 'syslog': {
      const a = presetStep({ ...s, preset: 'syslog_rfc5424' }, timezone);
      const b = presetStep({ ...s, preset: 'syslog_rfc3164' }, timezone);
      return (doc, ctx) => {
        const text = asText(getPath(doc, f.split('.')));
        if (text === undefined) return SKIP;
        return text.length > 3 && text[0] === '<' && /^<\d{1,3}>\d/.test(text.slice(0, 8)) ? a(doc, ctx) : b(doc, ctx);
      };
    }
    case 'logfmt':
      return logfmt(f);
    case 'java_stacktrace':
    case 'python_traceback': {
      const kind = name === 'java_stacktrace' ? 'java' : 'python';
      return (doc) => {
        const text = asText(getPath(doc, f.split('.')));
        if (text === undefined) return SKIP;
        const st = parseStackTrace(text, kind);
        if (!st) return `no ${kind === 'java' ? 'Java stack trace' : 'Python traceback'} found`;
        setPath(doc, ['error', 'type'], st.type);
        setPath(doc, ['error', 'message'], st.message);
        setPath(doc, ['error', 'stack_trace'], st.trace);
        return OK;
      };
    }
    default:
      throw new StepError(`unknown preset "${String(name)}"`, 'preset');
  }
}

/** ", client: 1.2.3.4, server: x, request: "GET /p HTTP/1.1", host: "h"" at the end of nginx's error message. */
const nginxErrorExtras: StepFn = (doc) => {
  const msg = doc.message;
  if (typeof msg !== 'string') return OK;
  const at = msg.indexOf(', client: ');
  if (at < 0) return OK;
  const pairs = parseKv(msg.slice(at + 2).replace(/: /g, ':').replace(/, /g, ' '), ':', ' ');
  for (const [k, v] of pairs) {
    if (typeof v !== 'string') continue;
    if (k === 'client') setPath(doc, ['source', 'ip'], v);
    else if (k === 'server') setPath(doc, ['nginx', 'error', 'server'], v);
    else if (k === 'host') setPath(doc, ['url', 'domain'], v);
    else if (k === 'request') {
      const [method, path] = v.split(' ');
      if (method) setPath(doc, ['http', 'request', 'method'], method);
      if (path) setPath(doc, ['url', 'original'], path);
    }
  }
  doc.message = msg.slice(0, at);
  return OK;
};

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Tue Dec 01 18:14:55.123456 2026" (Apache's error log, local time of the server: taken as UTC unless a timezone is given) */
const apacheErrorTime: StepFn = (doc, ctx) => {
  const t = ctx.scratch.apache_time;
  if (typeof t !== 'string') return OK;
  const parts = t.split(' ');
  const mo = MONTHS.indexOf(parts[1] ?? '');
  const d = Number(parts[2]);
  const y = Number(parts[4]);
  const [h, mi, sf] = (parts[3] ?? '').split(':');
  const ms = Date.UTC(y, mo, d, Number(h), Number(mi), 0) + Math.floor(Number(sf) * 1000);
  if (mo < 0 || !Number.isFinite(ms)) return `"${t}" is not an Apache error-log time`;
  doc['@timestamp'] = new Date(ms).toISOString();
  return OK;
};

function logfmt(f: string): StepFn {
  const src = f.split('.');
  const utc = parseZone('UTC')!;
  return (doc, ctx) => {
    const text = asText(getPath(doc, src));
    if (text === undefined) return SKIP;
    const pairs = parseKv(text);
    if (pairs.length === 0) return 'no key=value pairs';
    let time: string | undefined;
    for (const [k, v] of pairs) {
      if (k === 'level' || k === 'lvl') {
        const l = normalizeLevel(v);
        if (l !== undefined) setPath(doc, ['log', 'level'], l);
      } else if (k === 'msg') doc.message = String(v);
      else if (k === 'time' || k === 'ts' || k === 'timestamp') time = String(v);
      else if (!k.split('.').some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype')) setPath(doc, k.split('.'), v);
    }
    if (time === undefined) return OK;
    const t = parseTimestamp(time, 'rfc3339', utc, ctx.readTime) ?? parseTimestamp(time, 'epoch_s', utc, 0) ?? parseTimestamp(time, 'epoch_ms', utc, 0);
    if (t === undefined) return `"${time.slice(0, 40)}" is not a time in format rfc3339, epoch_s or epoch_ms`;
    doc['@timestamp'] = new Date(t).toISOString();
    return OK;
  };
}
