/**
 * UTC timestamps as text, from epoch milliseconds, in integer arithmetic.
 *
 * Why not `Date#toISOString` / `toUTCString`: the first call of either makes V8 set up its
 * time-zone cache, which loads ICU's zone data and code pages: ~0.95 MiB of the node binary
 * become resident for good (node 20.20, RssFile before and after the first call).
 * The agent writes one timestamp per log line and one `Date` header per status response, and is
 * measured by its resident memory (docs/agent-footprint.md), so it formats them here. Output is
 * byte for byte what Date gives for years 0000-9999 (test/unit/lib/util/utc-time.test.ts); outside
 * that range, or for a value that is not a finite integer time, Date does it.
 */

const DAY_MS = 86_400_000;
/** Date's range check: 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z */
const MIN_MS = -62_167_219_200_000;
const MAX_MS = 253_402_300_799_999;
const WEEKDAYS = ['Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue', 'Wed']; // day 0 (1970-01-01) was a Thursday
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface Parts {
  y: number;
  m: number;
  d: number;
  days: number;
  h: number;
  min: number;
  s: number;
  ms: number;
}

/** The UTC fields of epoch milliseconds `t`: civil (proleptic Gregorian) date, month 1-12, day count since 1970-01-01, time of day. */
function parts(t: number): Parts {
  const days = Math.floor(t / DAY_MS);
  let rest = t - days * DAY_MS;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const min = Math.floor(rest / 60_000);
  rest -= min * 60_000;
  const s = Math.floor(rest / 1000);
  const ms = rest - s * 1000;
  // Days to civil date, counting 400-year eras from 0000-03-01 (March first, so leap days come last).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097; // [0, 146096]
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365); // [0, 399]
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100)); // [0, 365]
  const mp = Math.floor((5 * doy + 2) / 153); // [0, 11], March = 0
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return { y, m, d, days, h, min, s, ms };
}

const two = (n: number): string => (n < 10 ? '0' + n : String(n));
const three = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : String(n));
const four = (n: number): string => (n < 10 ? '000' + n : n < 100 ? '00' + n : n < 1000 ? '0' + n : String(n));

const inRange = (t: number): boolean => Number.isInteger(t) && t >= MIN_MS && t <= MAX_MS;

/** `2026-12-03T02:27:00.123Z`, as `new Date(t).toISOString()` */
export function isoTime(t: number): string {
  if (!inRange(t)) return new Date(t).toISOString();
  const p = parts(t);
  return `${four(p.y)}-${two(p.m)}-${two(p.d)}T${two(p.h)}:${two(p.min)}:${two(p.s)}.${three(p.ms)}Z`;
}

/** `Thu, 03 Dec 2026 02:27:00 GMT` (an HTTP date, RFC 9110 IMF-fixdate), as `new Date(t).toUTCString()` */
export function httpDate(t: number): string {
  if (!inRange(t)) return new Date(t).toUTCString();
  const p = parts(t);
  const wd = WEEKDAYS[((p.days % 7) + 7) % 7]!;
  return `${wd}, ${two(p.d)} ${MONTHS[p.m - 1]!} ${four(p.y)} ${two(p.h)}:${two(p.min)}:${two(p.s)} GMT`;
}
