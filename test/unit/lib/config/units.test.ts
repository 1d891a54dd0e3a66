import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../../../lib/config/units.js';

const ok = (r: { ok: boolean; value?: number }) => (r.ok ? r.value : 'error');

describe('parseSize', () => {
  it.each([
    ['512KiB', 512 * 1024],
    ['64MiB', 64 * 1024 ** 2],
    ['2GiB', 2 * 1024 ** 3],
    ['1TiB', 1024 ** 4],
    ['10MB', 10_000_000],
    ['1KB', 1000],
    ['3GB', 3e9],
    ['1TB', 1e12],
    ['100B', 100],
    ['4096', 4096],
    ['1.5KiB', 1536],
    ['64 mib', 64 * 1024 ** 2],
  ])('%s → %d bytes', (text, bytes) => {
    expect(ok(parseSize(text))).toBe(bytes);
  });

  it('takes a plain integer as bytes', () => {
    expect(ok(parseSize(1024))).toBe(1024);
    expect(ok(parseSize(0))).toBe(0);
  });

  it.each(['', 'MiB', '12 parsecs', '1.3B', '-1KiB', '1e3'])('rejects %j', (text) => {
    expect(parseSize(text).ok).toBe(false);
  });

  it('names the allowed units', () => {
    const r = parseSize('10K');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('unknown size unit "K"');
  });

  it('rejects fractional and negative numbers', () => {
    expect(parseSize(1.5).ok).toBe(false);
    expect(parseSize(-1).ok).toBe(false);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['0', 0],
    ['0s', 0],
  ])('%s → %d ms', (text, ms) => {
    expect(ok(parseDuration(text))).toBe(ms);
  });

  it('rejects a bare number (ambiguous unit) but accepts 0', () => {
    const r = parseDuration(10);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('a duration needs a unit: write "10s" or "10ms"');
    expect(parseDuration('10').ok).toBe(false);
    expect(ok(parseDuration(0))).toBe(0);
  });

  it.each(['', '5 minutes', '1w', '0.5ms', 's', '10s5'])('rejects %j', (text) => {
    expect(parseDuration(text).ok).toBe(false);
  });
});

describe('formatting (used by the reference and messages)', () => {
  it('formats sizes exactly', () => {
    expect(formatSize(2 * 1024 ** 3)).toBe('2GiB');
    expect(formatSize(1_000_000)).toBe('1MB');
    expect(formatSize(1500)).toBe('1500B');
    expect(formatSize(0)).toBe('0B');
  });
  it('formats durations exactly', () => {
    expect(formatDuration(604_800_000)).toBe('7d');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1500)).toBe('1500ms');
  });
  it('round-trips', () => {
    for (const n of [1, 1024, 1536, 10 ** 9, 3 * 1024 ** 4]) expect(ok(parseSize(formatSize(n)))).toBe(n);
    for (const n of [1, 999, 60_000, 86_400_000 * 3, 3_600_001]) expect(ok(parseDuration(formatDuration(n)))).toBe(n);
  });
});
