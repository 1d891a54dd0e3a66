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

function isoFromMicros(us: string): string | undefined {
  if (us.length === 0 || us.length > 17) return undefined;
  const ms = Math.floor(Number(us) / 1000);
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 253_402_300_799_999) return undefined;
  return new Date(ms).toISOString();
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
  else if (!e.messageBinary || isUtf8(m)) s += JSON.stringify(m.toString('utf8'));
  else s += `${JSON.stringify(m.toString('utf8'))},"message_base64":"${m.toString('base64')}"`;
  if (e.messageTruncatedFrom) s += `,"message_truncated_bytes":${e.messageTruncatedFrom}`;
  const ts = isoFromMicros(e.realtime);
  if (ts) s += `,"timestamp":"${ts}"`;
  const p = e.priority.length === 1 ? e.priority.charCodeAt(0) - 48 : -1;
  if (p >= 0 && p <= 7) s += `,"log":{"level":"${SEVERITY[p]}","syslog":{"severity":{"code":${p},"name":"${SEVERITY[p]}"}}}`;
  s += ',"journald":{';
  let first = true;
  const add = (k: string, v: string) => {
    if (v === '') return;
    s += `${first ? '' : ','}"${k}":${JSON.stringify(v)}`;
    first = false;
  };
  add('_SYSTEMD_UNIT', e.unit);
  add('SYSLOG_IDENTIFIER', e.identifier);
  add('PRIORITY', e.priority);
  add('_PID', e.pid);
  add('_HOSTNAME', e.hostname);
  add('_BOOT_ID', e.bootId);
  add('_TRANSPORT', e.transport);
  add('__REALTIME_TIMESTAMP', e.realtime);
  add('__CURSOR', e.cursor);
  return `${s}}}\n`;
}
