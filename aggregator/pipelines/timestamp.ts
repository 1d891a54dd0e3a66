/**
 * Timestamp parsing for the `timestamp` step: hand-written scanners, no
 * regex, no exceptions, linear in the input and bounded (at most 64
 * characters are looked at). Every parser answers epoch milliseconds or
 * undefined.
 *
 * Formats:
 *   nginx (alias clf, apache): 01/Dec/2026:18:14:55 +0000
 *   rfc3339 (alias iso8601):   2026-12-01T18:14:55.123Z, 2026-12-01 18:14:55,123+01:00,
 *                              or without a zone (then the step's timezone)
 *   syslog (RFC 3164):         Dec  1 18:14:55 (no year: see yearFor)
 *   nginx_error:               2026/12/01 18:14:55 (the step's timezone)
 *   epoch_s, epoch_ms:         1764612895 / 1764612895123 (fractions allowed)
 */

export const TIMESTAMP_FORMATS = ['nginx', 'clf', 'apache', 'rfc3339', 'iso8601', 'syslog', 'nginx_error', 'epoch_s', 'epoch_ms'] as const;
export type TimestampFormat = (typeof TIMESTAMP_FORMATS)[number];

/** A zone: minutes east of UTC (fixed), or an IANA name resolved per instant through Intl. */
export type Zone = { fixed: number } | { iana: string; fmt: Intl.DateTimeFormat };

const MAX_SCAN = 64;
const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/** Parses a timezone option: UTC, Z, local, +02:00, -0530, or an IANA name such as Europe/Paris. */
export function parseZone(text: string): Zone | undefined {
  if (text === 'UTC' || text === 'Z' || text === 'utc') return { fixed: 0 };
  if (text === 'local') return { fixed: -new Date().getTimezoneOffset() };
  const off = offsetAt(text, 0, text.length);
  if (off && off.end === text.length) return { fixed: off.minutes };
  if (!/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+){0,2}$/.test(text)) return undefined;
  try {
    const fmt = new Intl.DateTimeFormat('en-US', { timeZone: text, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    return { iana: text, fmt };
  } catch {
    return undefined;
  }
}

function ianaOffsetMs(zone: { fmt: Intl.DateTimeFormat }, instant: number): number {
  // Intl throws outside the Date range: a time that far out has no zone rules worth applying
  if (!(Math.abs(instant) <= 8.64e15)) return 0;
  const parts = zone.fmt.formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(instant / 1000) * 1000;
}

/** Wall-clock milliseconds (as if UTC) in `zone` -> epoch milliseconds. */
export function wallToEpoch(wall: number, zone: Zone): number {
  if ('fixed' in zone) return wall - zone.fixed * 60_000;
  const first = wall - ianaOffsetMs(zone, wall);
  return wall - ianaOffsetMs(zone, first);
}

const digit = (c: number) => c >= 48 && c <= 57;

/** Reads exactly n digits at i. */
function num(s: string, i: number, n: number): number | undefined {
  if (i + n > s.length) return undefined;
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k);
    if (!digit(c)) return undefined;
    v = v * 10 + (c - 48);
  }
  return v;
}

/** +HH:MM, +HHMM, +HH, Z at i. */
function offsetAt(s: string, i: number, end: number): { minutes: number; end: number } | undefined {
  const c = s.charCodeAt(i);
  if (c === 90 || c === 122) return { minutes: 0, end: i + 1 };
  if (c !== 43 && c !== 45 && c !== 0x2212) return undefined;
  const sign = c === 43 ? 1 : -1;
  const h = num(s, i + 1, 2);
  if (h === undefined || h > 23) return undefined;
  let j = i + 3;
  let m = 0;
  if (j < end && s.charCodeAt(j) === 58) j++;
  const mm = num(s, j, 2);
  if (mm !== undefined) {
    if (mm > 59) return undefined;
    m = mm;
    j += 2;
  } else if (j !== i + 3) {
    return undefined;
  }
  return { minutes: sign * (h * 60 + m), end: j };
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDate(y: number, mo: number, d: number, h: number, mi: number, sec: number): boolean {
  if (mo < 0 || mo > 11 || d < 1 || h > 23 || mi > 59 || sec > 60) return false;
  const leap = mo === 1 && ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0);
  return d <= DAYS[mo]! + (leap ? 1 : 0);
}

let lastMs = NaN;
let lastIso = '';
/** ISO 8601 UTC with milliseconds; the last answer is kept (log lines come in runs of one second). */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** Fraction of a second at i (after '.' or ','): ms and the end. */
function fraction(s: string, i: number, end: number): { ms: number; end: number } {
  const c = s.charCodeAt(i);
  if (c !== 46 && c !== 44) return { ms: 0, end: i };
  let j = i + 1;
  let ms = 0;
  let scale = 100;
  while (j < end && digit(s.charCodeAt(j))) {
    ms += (s.charCodeAt(j) - 48) * scale;
    scale /= 10;
    j++;
  }
  if (j === i + 1) return { ms: 0, end: i };
  return { ms: Math.floor(ms), end: j };
}

function hms(s: string, i: number): { h: number; mi: number; sec: number } | undefined {
  const h = num(s, i, 2);
  const mi = num(s, i + 3, 2);
  const sec = num(s, i + 6, 2);
  if (h === undefined || mi === undefined || sec === undefined) return undefined;
  if (s.charCodeAt(i + 2) !== 58 || s.charCodeAt(i + 5) !== 58) return undefined;
  return { h, mi, sec };
}

function month(s: string, i: number): number | undefined {
  if (i + 3 > s.length) return undefined;
  return MONTHS[s.slice(i, i + 3).toLowerCase()];
}

/** 01/Dec/2026:18:14:55 +0000 */
function parseClf(s: string, zone: Zone): number | undefined {
  const d = num(s, 0, 2);
  const mo = month(s, 3);
  const y = num(s, 7, 4);
  if (d === undefined || mo === undefined || y === undefined || s.charCodeAt(2) !== 47 || s.charCodeAt(6) !== 47 || s.charCodeAt(11) !== 58) return undefined;
  const t = hms(s, 12);
  if (!t || !validDate(y, mo, d, t.h, t.mi, t.sec)) return undefined;
  const f = fraction(s, 20, s.length);
  const wall = Date.UTC(y, mo, d, t.h, t.mi, t.sec, f.ms);
  let j = f.end;
  if (j === s.length) return wallToEpoch(wall, zone);
  if (s.charCodeAt(j) !== 32) return undefined;
  const off = offsetAt(s, j + 1, s.length);
  if (!off || off.end !== s.length) return undefined;
  return wall - off.minutes * 60_000;
}

/** 2026-12-01T18:14:55.123Z and relatives. */
function parseRfc3339(s: string, zone: Zone): number | undefined {
  const y = num(s, 0, 4);
  const mo = num(s, 5, 2);
  const d = num(s, 8, 2);
  if (y === undefined || mo === undefined || d === undefined || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  if (s.length === 10) return validDate(y, mo - 1, d, 0, 0, 0) ? wallToEpoch(Date.UTC(y, mo - 1, d), zone) : undefined;
  const sep = s.charCodeAt(10);
  if (sep !== 84 && sep !== 116 && sep !== 32) return undefined;
  const t = hms(s, 11);
  if (!t || !validDate(y, mo - 1, d, t.h, t.mi, t.sec)) return undefined;
  const f = fraction(s, 19, s.length);
  const wall = Date.UTC(y, mo - 1, d, t.h, t.mi, t.sec, f.ms);
  let j = f.end;
  if (j === s.length) return wallToEpoch(wall, zone);
  if (s.charCodeAt(j) === 32) j++;
  const off = offsetAt(s, j, s.length);
  if (!off || off.end !== s.length) return undefined;
  return wall - off.minutes * 60_000;
}

/** 2026/12/01 18:14:55 (nginx's error log) */
function parseNginxError(s: string, zone: Zone): number | undefined {
  const y = num(s, 0, 4);
  const mo = num(s, 5, 2);
  const d = num(s, 8, 2);
  if (y === undefined || mo === undefined || d === undefined || s.charCodeAt(4) !== 47 || s.charCodeAt(7) !== 47 || s.charCodeAt(10) !== 32) return undefined;
  const t = hms(s, 11);
  if (!t || s.length !== 19 || !validDate(y, mo - 1, d, t.h, t.mi, t.sec)) return undefined;
  return wallToEpoch(Date.UTC(y, mo - 1, d, t.h, t.mi, t.sec), zone);
}

/**
 * The year of a year-less syslog time: the reference time's year, unless that
 * puts the time more than 7 days after the reference (a December line read
 * in January): then the year before.
 */
export function yearFor(mo: number, d: number, h: number, mi: number, sec: number, reference: number, zone: Zone): number {
  const y = new Date(reference).getUTCFullYear();
  const t = wallToEpoch(Date.UTC(y, mo, d, h, mi, sec), zone);
  return t - reference > 7 * 86_400_000 ? y - 1 : y;
}

/** Dec  1 18:14:55 or Dec 01 18:14:55(.123) */
function parseSyslog(s: string, zone: Zone, reference: number): number | undefined {
  const mo = month(s, 0);
  if (mo === undefined || s.charCodeAt(3) !== 32) return undefined;
  let i = 4;
  if (s.charCodeAt(i) === 32) i++;
  let d: number | undefined;
  if (digit(s.charCodeAt(i)) && digit(s.charCodeAt(i + 1))) {
    d = num(s, i, 2);
    i += 2;
  } else {
    d = num(s, i, 1);
    i += 1;
  }
  if (d === undefined || s.charCodeAt(i) !== 32) return undefined;
  const t = hms(s, i + 1);
  if (!t) return undefined;
  const f = fraction(s, i + 9, s.length);
  if (f.end !== s.length) return undefined;
  const y = yearFor(mo, d, t.h, t.mi, t.sec, reference, zone);
  if (!validDate(y, mo, d, t.h, t.mi, t.sec)) return undefined;
  return wallToEpoch(Date.UTC(y, mo, d, t.h, t.mi, t.sec, f.ms), zone);
}

function parseEpoch(s: string, scale: number): number | undefined {
  if (s.length === 0 || s.length > 24) return undefined;
  let dot = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 && !dot && i > 0) dot = true;
    else if (!digit(c)) return undefined;
  }
  const v = Math.floor(Number(s) * scale);
  return Number.isFinite(v) && v <= 8.64e15 ? v : undefined;
}

/** Parses `text` in one format. `reference` (epoch ms) decides the year of year-less formats. Never throws. */
export function parseTimestamp(text: string, format: TimestampFormat, zone: Zone, reference: number): number | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.length > MAX_SCAN ? text.slice(0, MAX_SCAN + 1) : text;
  if (s.length > MAX_SCAN) return undefined;
  let v: number | undefined;
  switch (format) {
    case 'nginx':
    case 'clf':
    case 'apache':
      v = parseClf(s, zone);
      break;
    case 'rfc3339':
    case 'iso8601':
      v = parseRfc3339(s, zone);
      break;
    case 'syslog':
      v = parseSyslog(s, zone, reference);
      break;
    case 'nginx_error':
      v = parseNginxError(s, zone);
      break;
    case 'epoch_s':
      v = parseEpoch(s, 1000);
      break;
    case 'epoch_ms':
      v = parseEpoch(s, 1);
      break;
  }
  return v !== undefined && Number.isFinite(v) && Math.abs(v) <= 8.64e15 ? v : undefined;
}
