import { describe, expect, it } from 'vitest';
import { ReadBuffers } from '../../../../agent/pipeline/read-buffers.js';

describe('ReadBuffers', () => {
  it('reuses full-size buffers given back, up to its bound; small reads are plain allocations', () => {
    const r = new ReadBuffers(1024, 2);
    const a = r.take(1024);
    const b = r.take(700);
    expect(a.buffer.byteLength).toBe(1024);
    expect(b.length).toBe(700);
    expect(b.buffer.byteLength).toBe(1024);
    expect(r.take(100).buffer.byteLength).toBe(100);
    expect(r.take(4096).length).toBe(4096);
    const c = r.take(1024);
    r.give(a.buffer as ArrayBuffer);
    r.give(b.buffer as ArrayBuffer);
    r.give(c.buffer as ArrayBuffer); // over the bound: left to the garbage collector
    r.give(new ArrayBuffer(512)); // not its size
    expect(r.waiting).toBe(2);
    const d = r.take(1000);
    expect([a.buffer, b.buffer]).toContain(d.buffer);
    expect(d.length).toBe(1000);
    expect(r.waiting).toBe(1);
  });
});
