/**
 * Sizes and durations as operators write them, normalized to bytes and
 * milliseconds. Parsers return a number or an error message, never throw,
 * so the validator can report every problem at its position.
 */

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export type Parsed = { ok: true; value: number } | { ok: false; message: string };

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/** `512KiB`, `64MiB`, `2GiB`, `10MB` (powers of 1000), `4096` or `4096B` (bytes). Units are case-insensitive. */
export function parseSize(input: string | number): Parsed {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) return { ok: false, message: `invalid size ${input}: expected a whole number of bytes >= 0` };
    return { ok: true, value: input };
  }
  const text = input.trim();
  const m = SIZE_RE.exec(text);
  if (!m) return { ok: false, message: `invalid size "${input}" (examples: 512KiB, 64MiB, 2GiB, 10MB, 4096)` };
  const unit = m[2]!.toLowerCase();
  const factor = unit === '' ? 1 : SIZE_UNITS[unit];
  if (factor === undefined) {
    return { ok: false, message: `unknown size unit "${m[2]}" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)` };
  }
  const value = Number(m[1]) * factor;
  if (!Number.isInteger(value)) return { ok: false, message: `invalid size "${input}": not a whole number of bytes` };
  if (!Number.isSafeInteger(value)) return { ok: false, message: `invalid size "${input}": too large` };
  return { ok: true, value };
}

const DURATION_PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y;

/**
 * `500ms`, `10s`, `5m`, `2h`, `7d`, or compound `1h30m`. A bare number is an
 * error (is `10` seconds or milliseconds?) except `0`, which needs no unit.
 */
export function parseDuration(input: string | number): Parsed {
  if (typeof input === 'number') {
    if (input === 0) return { ok: true, value: 0 };
    return { ok: false, message: `a duration needs a unit: write "${input}s" or "${input}ms" (units: ms, s, m, h, d)` };
  }
  const text = input.trim();
  if (text === '0') return { ok: true, value: 0 };
  if (/^\d+(\.\d+)?$/.test(text)) {
    return { ok: false, message: `a duration needs a unit: write "${text}s" or "${text}ms" (units: ms, s, m, h, d)` };
  }
  if (text === '') return { ok: false, message: 'invalid duration "" (examples: 500ms, 10s, 5m, 2h, 7d)' };
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(text);
    if (!m) return { ok: false, message: `invalid duration "${input}" (examples: 500ms, 10s, 5m, 2h, 7d, 1h30m)` };
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    pos = DURATION_PART.lastIndex;
  }
  const ms = Math.round(total);
  if (Math.abs(total - ms) > 1e-6) {
    return { ok: false, message: `invalid duration "${input}": not a whole number of milliseconds` };
  }
  if (!Number.isSafeInteger(ms)) return { ok: false, message: `invalid duration "${input}": too large` };
  return { ok: true, value: ms };
}

/** The shortest exact rendering: 1073741824 → "1GiB", 1000000 → "1MB", 1500 → "1500B". */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0B';
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB', 'TB', 'GB', 'MB', 'KB'] as const) {
    const f = SIZE_UNITS[unit.toLowerCase()]!;
    if (bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return `${bytes}B`;
}

/** 90000 → "90s", 604800000 → "7d", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const f = DURATION_UNITS[unit]!;
    if (ms % f === 0) return `${ms / f}${unit}`;
  }
  return `${ms}ms`;
}
