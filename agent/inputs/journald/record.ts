/**
 * A journal entry as a logship record: one JSON object on one line (JSON
 * escapes every newline, so a multi-line MESSAGE stays one record). The
 * aggregator's reader merges these fields into the record it serves (batch
 * flag FLAG_JSON), so `logship read --format json` shows them:
 *
 *   message                 MESSAGE as text (invalid UTF-8 replaced by U+FFFD)
 *   message_base64          MESSAGE's exact bytes, only when they are not valid UTF-8
 *   message_truncated_bytes MESSAGE's full length, only when it was longer than max_message_bytes and cut
 *   timestamp               __REALTIME_TIMESTAMP as ISO 8601 with milliseconds (the record's timestamp)
 *   log.level               PRIORITY as its syslog keyword: emerg alert crit err warning notice info debug
 *   log.syslog.severity     {code: PRIORITY as a number, name: the same keyword}
 *   journald                the journal's own fields, values as journalctl prints them (strings):
 *                           _SYSTEMD_UNIT, SYSLOG_IDENTIFIER, PRIORITY, _PID, _HOSTNAME, _BOOT_ID,
 *                           _TRANSPORT, __REALTIME_TIMESTAMP (µs since the epoch), __CURSOR
 *
 * A field the entry does not have is left out.
 */
import { isUtf8 } from 'node:buffer';
import type { JournalEntry } from './export-parser.js';
import { isoTime } from '../../../lib/util/utc-time.js';

export const SEVERITY = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

export interface EntryFilter {
  units?: Set<string>;
  excludeUnits?: Set<string>;
  identifiers?: Set<string>;
  /** highest PRIORITY shipped (0 emerg .. 7 debug) */
  maxPriority: number;
  includeKernel: boolean;
}

/**
 * Whether an entry is shipped. Kernel entries (_TRANSPORT=kernel) are governed by
 * include_kernel and priority only; units, exclude_units and identifiers judge the rest.
 * An entry without PRIORITY passes the priority filter.
 */
export function accepts(f: EntryFilter, e: JournalEntry): boolean {
  if (e.priority !== '' && f.maxPriority < 7) {
    const p = e.priority.charCodeAt(0) - 48;
    if (e.priority.length === 1 && p >= 0 && p <= 7 && p > f.maxPriority) return false;
  }
  if (e.transport === 'kernel') return f.includeKernel;
  if (f.units && !f.units.has(e.unit)) return false;
  if (f.excludeUnits && f.excludeUnits.has(e.unit)) return false;
  if (f.identifiers && !f.identifiers.has(e.identifier)) return false;
  return true;
}

/** The ISO text of the last whole second formatted: entries come in time order, so most share it. */
let isoSecond = -1;
let isoPrefix = '';

function isoFromMicros(us: string): string | undefined {
  if (us.length === 0 || us.length > 17) return undefined;
  const ms = Math.floor(Number(us) / 1000);
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 253_402_300_799_999) return undefined;
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    isoSecond = sec;
    isoPrefix = isoTime(sec * 1000).slice(0, -4); // "YYYY-MM-DDTHH:MM:SS."
  }
  const frac = ms - sec * 1000;
  return `${isoPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}

/** Characters JSON must escape; values without them are quoted as they are (most journal values). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029\ud800-\udfff]/;

function q(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** Milliseconds since the epoch of an entry, or undefined when it has no usable __REALTIME_TIMESTAMP. */
export function entryMillis(e: JournalEntry): number | undefined {
  if (e.realtime.length === 0 || e.realtime.length > 17) return undefined;
  const ms = Math.floor(Number(e.realtime) / 1000);
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= 253_402_300_799_999 ? ms : undefined;
}

/** The record line, newline included. */
export function recordLine(e: JournalEntry): string {
  let s = '{"message":';
  const m = e.message;
  if (m === undefined) s += '""';
  else if (!e.messageBinary || isUtf8(m)) s += q(m.toString('utf8'));
  else s += `${JSON.stringify(m.toString('utf8'))},"message_base64":"${m.toString('base64')}"`;
  if (e.messageTruncatedFrom) s += `,"message_truncated_bytes":${e.messageTruncatedFrom}`;
  const ts = isoFromMicros(e.realtime);
  if (ts) s += `,"timestamp":"${ts}"`;
  const p = e.priority.length === 1 ? e.priority.charCodeAt(0) - 48 : -1;
  if (p >= 0 && p <= 7) s += `,"log":{"level":"${SEVERITY[p]}","syslog":{"severity":{"code":${p},"name":"${SEVERITY[p]}"}}}`;
  // Each field adds ',"NAME":value'; the first comma is cut when the object is opened.
  let j = '';
  if (e.unit !== '') j += `,"_SYSTEMD_UNIT":${q(e.unit)}`;
  if (e.identifier !== '') j += `,"SYSLOG_IDENTIFIER":${q(e.identifier)}`;
  if (e.priority !== '') j += `,"PRIORITY":${q(e.priority)}`;
  if (e.pid !== '') j += `,"_PID":${q(e.pid)}`;
  if (e.hostname !== '') j += `,"_HOSTNAME":${q(e.hostname)}`;
  if (e.bootId !== '') j += `,"_BOOT_ID":${q(e.bootId)}`;
  if (e.transport !== '') j += `,"_TRANSPORT":${q(e.transport)}`;
  if (e.realtime !== '') j += `,"__REALTIME_TIMESTAMP":${q(e.realtime)}`;
  if (e.cursor !== '') j += `,"__CURSOR":${q(e.cursor)}`;
  return `${s},"journald":{${j.slice(1)}}}\n`;
}
