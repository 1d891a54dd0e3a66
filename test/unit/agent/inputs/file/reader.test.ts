import { describe, expect, it } from 'vitest';
import { cutBatch, SIMD_MIN_BYTES } from '../../../../../agent/inputs/file/reader.js';
import { FLAG_FRAMED } from '../../../../../lib/protocol/batches.js';
import { iterateRecords, RECORD_NO_NEWLINE, RECORD_PART } from '../../../../../lib/protocol/records.js';

describe('cutBatch', () => {
  it('cuts at the last newline and keeps a trailing partial line for later', () => {
    const c = cutBatch(Buffer.from('a\nbb\nccc'), 1024, true, false)!;
    expect(c.raw.toString()).toBe('a\nbb\n');
    expect(c.lines).toBe(2);
    expect(c.consumed).toBe(5);
    expect(c.flags).toBe(0);
  });

  it('counts the lines of a cut no longer than max_line_bytes (SIMD count) exactly as the per-line scan does', () => {
    let text = '';
    let n = 0;
    for (let i = 0; text.length < 300_000; i++, n++) text += 'x'.repeat((i * 7919) % 700) + '\n';
    const chunk = Buffer.from(text + 'partial');
    const whole = text.length;
    const fast = cutBatch(chunk, 1 << 20, true, false)!; // the whole cut fits under max_line_bytes: count only
    const longest = Math.max(...text.split('\n').map((l) => l.length));
    const scan = cutBatch(chunk, longest, true, false)!; // cut longer than max_line_bytes: per-line scan, nothing split
    for (const c of [fast, scan]) {
      expect(c.lines).toBe(n);
      expect(c.consumed).toBe(whole);
      expect(c.flags).toBe(0);
      expect(c.splitLines).toBe(0);
    }
    expect(fast.raw.equals(scan.raw)).toBe(true);
    // at the edge: one line of exactly max_line_bytes (plus its newline) is whole
    const edge = cutBatch(Buffer.from('y'.repeat(1024) + '\n'), 1024, true, false)!;
    expect([edge.lines, edge.flags, edge.splitLines]).toEqual([1, 0, 0]);
    const over = cutBatch(Buffer.from('y'.repeat(1025) + '\n'), 1024, true, false)!;
    expect([over.lines, over.flags, over.splitLines]).toEqual([2, FLAG_FRAMED, 1]);
  });

  it('cuts on either side of SIMD_MIN_BYTES (indexOf loop below, the WebAssembly counter from it) count the same', () => {
    for (const size of [1, 2, 100, SIMD_MIN_BYTES - 1, SIMD_MIN_BYTES, SIMD_MIN_BYTES + 1, 3 * SIMD_MIN_BYTES + 17]) {
      // Lines of varied length, the last newline exactly at byte `size`.
      let text = '';
      let n = 0;
      for (let i = 0; text.length < size; i++) {
        const room = size - text.length;
        const len = Math.min(room - 1, (i * 131) % 300);
        text += 'z'.repeat(Math.max(0, len)) + '\n';
        n++;
      }
      expect(text.length).toBe(size);
      const c = cutBatch(Buffer.from(text + 'tail'), 1 << 20, true, false)!;
      expect([c.lines, c.consumed, c.flags], `size ${size}`).toEqual([n, size, 0]);
    }
  });

  it('waits when only a partial line is there', () => {
    expect(cutBatch(Buffer.from('abc'), 1024, true, false)).toBeUndefined();
  });

  it('flushes a trailing partial line when told (partial_line_timeout), flagged without newline', () => {
    const c = cutBatch(Buffer.from('a\nxyz'), 1024, true, true)!;
    expect(c.flags).toBe(FLAG_FRAMED);
    expect(c.consumed).toBe(5);
    const recs = [...iterateRecords(c.raw, c.flags, 100)];
    expect(recs.map((r) => [r.message.toString(), r.sourceOffset, r.flags])).toEqual([
      ['a', 100, 0],
      ['xyz', 102, RECORD_NO_NEWLINE],
    ]);
  });

  it('splits lines longer than max_line_bytes into flagged parts, covering every byte', () => {
    const long = 'x'.repeat(2500);
    const c = cutBatch(Buffer.from(`s\n${long}\nt\n`), 1024, true, false)!;
    expect(c.splitLines).toBe(1);
    const recs = [...iterateRecords(c.raw, c.flags, 0)];
    expect(recs.map((r) => r.message.length)).toEqual([1, 1024, 1024, 452, 1]);
    expect(recs.filter((r) => r.flags & RECORD_PART).length).toBe(3);
    expect(recs.map((r) => r.message.toString()).slice(1, 4).join('')).toBe(long);
    expect(recs.map((r) => r.sourceOffset)).toEqual([0, 2, 1026, 2050, 2503]);
    expect(c.consumed).toBe(2 + 2501 + 2);
  });

  it('ships whole parts of an unterminated over-long line and keeps the rest', () => {
    const c = cutBatch(Buffer.from('y'.repeat(3000)), 1024, false, false)!;
    expect(c.consumed).toBe(2048);
    expect([...iterateRecords(c.raw, c.flags, 0)].every((r) => r.flags & RECORD_PART)).toBe(true);
  });

  it('passes invalid UTF-8 through byte for byte', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x28, 0x0a]);
    const c = cutBatch(bytes, 1024, true, false)!;
    expect(Buffer.compare(c.raw, bytes)).toBe(0);
  });
});
