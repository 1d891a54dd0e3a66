import { describe, expect, it } from 'vitest';
import { ReadBuffers } from '../../../../agent/pipeline/read-buffers.js';

describe('ReadBuffers', () => {
  it('hands out shared slots for full-size reads and reuses them, up to its bound; small reads are plain allocations', () => {
    const forgotten: SharedArrayBuffer[] = [];
    const r = new ReadBuffers(1024, 2, (s) => forgotten.push(s));
    const a = r.take(1024);
    const b = r.take(700);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.buffer.byteLength).toBe(1024);
    expect(b.length).toBe(700);
    expect(b.buffer.byteLength).toBe(1024);
    const small = r.take(100);
    expect(small.buffer).toBeInstanceOf(ArrayBuffer);
    expect(small.buffer.byteLength).toBe(100);
    expect(r.take(4096).length).toBe(4096);
    const c = r.take(1024);
    r.give(a.buffer);
    r.give(b.buffer);
    r.give(c.buffer); // over the bound: forgotten (the compression pool is told)
    expect(forgotten).toEqual([c.buffer]);
    r.give(small.buffer); // not a slot
    r.give(new SharedArrayBuffer(1024)); // not one of its slots
    expect(r.waiting).toBe(2);
    const d = r.take(1000);
    expect([a.buffer, b.buffer]).toContain(d.buffer);
    expect(d.length).toBe(1000);
    expect(r.waiting).toBe(1);
  });

  it('takes a slot back once: a second give of the same slot is ignored, so two reads never share one', () => {
    const r = new ReadBuffers(1024, 4);
    const a = r.take(1024);
    r.give(a.buffer);
    r.give(a.buffer);
    expect(r.waiting).toBe(1);
    const b = r.take(1024);
    const c = r.take(1024);
    expect(b.buffer).toBe(a.buffer);
    expect(c.buffer).not.toBe(a.buffer);
  });
});
