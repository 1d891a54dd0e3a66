import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { httpDate, isoTime } from '../../../../lib/util/utc-time.js';

const MIN = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const MAX = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

describe('UTC time text without Date (lib/util/utc-time.ts)', () => {
  it('isoTime and httpDate equal Date#toISOString and Date#toUTCString over years 0000-9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN, max: MAX }), (t) => {
        expect(isoTime(t)).toBe(new Date(t).toISOString());
        expect(httpDate(t)).toBe(new Date(t).toUTCString());
      }),
      { numRuns: 20_000 },
    );
  });

  it('the edges: range ends, the epoch, leap days, century rules, ends of months and of days', () => {
    const cases = [
      MIN, MAX, 0, -1, 1, 86_399_999, 86_400_000,
      Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(1900, 1, 28, 12), Date.UTC(1900, 2, 1), Date.UTC(2100, 1, 28), Date.UTC(2024, 1, 29),
      Date.UTC(1969, 11, 31, 23, 59, 59, 999), Date.UTC(1600, 1, 29), Date.UTC(400, 2, 1), Date.UTC(2026, 11, 3, 2, 27, 0, 123),
    ];
    for (const t of cases) {
      expect(isoTime(t), String(t)).toBe(new Date(t).toISOString());
      expect(httpDate(t), String(t)).toBe(new Date(t).toUTCString());
    }
    // Every day from 1960 to 2040 at 23:59:59.999.
    for (let d = Date.UTC(1960, 0, 1); d < Date.UTC(2040, 0, 1); d += 86_400_000) {
      const t = d + 86_399_999;
      expect(isoTime(t)).toBe(new Date(t).toISOString());
    }
  });

  it('outside 0000-9999 and for non-integers it answers as Date does (extended years, RangeError)', () => {
    for (const t of [MIN - 1, MAX + 1, 8.64e15, -8.64e15, 1.5]) {
      expect(isoTime(t)).toBe(new Date(t).toISOString());
      expect(httpDate(t)).toBe(new Date(t).toUTCString());
    }
    expect(() => isoTime(NaN)).toThrow(RangeError);
    expect(httpDate(NaN)).toBe('Invalid Date');
  });
});
