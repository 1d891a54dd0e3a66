import { describe, expect, it } from 'vitest';
import { cutMultiline } from '../../../../../agent/inputs/file/reader.js';
import { iterateRecords, RECORD_PART } from '../../../../../lib/protocol/records.js';

const rule = { start: /^\d{4}-\d\d-\d\d /, maxLines: 1000 };
const recs = (raw: Buffer, flags: number) => [...iterateRecords(raw, flags, 0)].map((r) => ({ m: r.message.toString(), o: r.sourceOffset, f: r.flags }));

const log = [
  '2026-11-22 10:00:00 ERROR boom',
  '  at a (x.js:1)',
  '  at b (x.js:2)',
  '2026-11-22 10:00:01 INFO ok',
  '2026-11-22 10:00:02 WARN trace follows',
  '  at c (y.js:3)',
].join('\n') + '\n';

describe('multiline records', () => {
  it('joins continuation lines and holds the open last record', () => {
    const cut = cutMultiline(Buffer.from(log), rule, 1 << 20, true, false)!;
    const out = recs(cut.raw, cut.flags);
    expect(out.map((r) => r.m)).toEqual(['2026-11-22 10:00:00 ERROR boom\n  at a (x.js:1)\n  at b (x.js:2)', '2026-11-22 10:00:01 INFO ok']);
    expect(out.map((r) => r.o)).toEqual([0, log.indexOf('2026-11-22 10:00:01')]);
    expect(cut.consumed).toBe(log.indexOf('2026-11-22 10:00:02'));
    expect(cut.lines).toBe(2);
  });

  it('flushes the open record on timeout (flush) with its source size', () => {
    const from = log.indexOf('2026-11-22 10:00:02');
    const rest = Buffer.from(log.slice(from));
    expect(cutMultiline(rest, rule, 1 << 20, true, false)).toBeUndefined();
    const cut = cutMultiline(rest, rule, 1 << 20, true, true)!;
    expect(recs(cut.raw, cut.flags).map((r) => r.m)).toEqual(['2026-11-22 10:00:02 WARN trace follows\n  at c (y.js:3)']);
    expect(cut.consumed).toBe(rest.length);
  });

  it('closes a record at max_lines', () => {
    const lines = ['2026-11-22 10:00:00 start', ...Array.from({ length: 5 }, (_, i) => `  cont ${i}`), '2026-11-22 10:00:01 next'].join('\n') + '\n';
    const cut = cutMultiline(Buffer.from(lines), { ...rule, maxLines: 3 }, 1 << 20, true, false)!;
    expect(recs(cut.raw, cut.flags).map((r) => r.m.split('\n').length)).toEqual([3, 3]);
  });

  it('ships a record bigger than one read as it is, and splits one over max_line_bytes into flagged parts', () => {
    const big = '2026-11-22 10:00:00 x\n' + '  more\n'.repeat(100);
    const cut = cutMultiline(Buffer.from(big), rule, 1 << 20, false, false)!;
    expect(cut.consumed).toBe(big.length);
    expect(cut.lines).toBe(1);
    const parts = cutMultiline(Buffer.from(big), rule, 100, false, false)!;
    const out = recs(parts.raw, parts.flags);
    expect(out.every((r) => r.f & RECORD_PART)).toBe(true);
    expect(out.map((r) => r.m).join('')).toBe(big.slice(0, -1));
    expect(parts.splitLines).toBe(1);
  });
});
