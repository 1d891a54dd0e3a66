import { describe, expect, it } from 'vitest';
import { ReadBuffers } from '../../../../agent/pipeline/read-buffers.js';
import { countableBlocks, countNewlines, countsInPlace, newlinesImpl } from '../../../../lib/protocol/newlines.js';
import { cutBatch } from '../../../../agent/inputs/file/reader.js';

describe('ReadBuffers', () => {
  it('without slots: reuses full-size buffers given back, up to its bound; small reads are plain allocations', () => {
    const r = new ReadBuffers(1024, 2, { slots: 0 });
    const a = r.take(1024);
    const b = r.take(700);
    expect(a.buffer.byteLength).toBe(1024);
    expect(b.length).toBe(700);
    expect(b.buffer.byteLength).toBe(1024);
    expect(r.take(100).buffer.byteLength).toBe(100);
    expect(r.take(4096).length).toBe(4096);
    const c = r.take(1024);
    r.give(a);
    r.give(b);
    r.give(c); // over the bound: left to the garbage collector
    r.give(new Uint8Array(512)); // not its size
    expect(r.waiting).toBe(2);
    const d = r.take(1000);
    expect([a.buffer, b.buffer]).toContain(d.buffer);
    expect(d.length).toBe(1000);
    expect(r.waiting).toBe(1);
  });

  it('full-size reads land in slots of WebAssembly memory that the counter counts in place; a slot is handed out again only after it is given back', () => {
    expect(newlinesImpl).toBe('simd'); // Node 20 has WebAssembly SIMD: the slots are what the agent runs with
    const size = 128 * 1024;
    const r = new ReadBuffers(size, 2, { slots: 3 });
    const small = r.take(1000);
    expect(countsInPlace(small)).toBe(false); // small reads: plain allocations, and no block made for them
    expect(r.slotsOut).toBe(0);
    const a = r.take(size);
    const b = r.take(size - 10);
    const c = r.take(size / 2);
    expect([a, b, c].every((x) => countsInPlace(x))).toBe(true);
    expect(new Set([a.byteOffset, b.byteOffset, c.byteOffset]).size).toBe(3);
    expect(r.slotsOut).toBe(3);
    // every slot out: a plain buffer, as without slots
    const d = r.take(size);
    expect(countsInPlace(d)).toBe(false);
    // writing one slot does not touch another
    a.fill(0x61);
    c.fill(0x63);
    b.fill(10);
    expect(a.every((x) => x === 0x61) && c.every((x) => x === 0x63)).toBe(true);
    expect(countNewlines(b, b.length)).toBe(size - 10);
    // given back (as the pipeline does: a view from the slot's start), the slot is the next one out
    r.give(b.subarray(0, 100));
    expect(r.slotsOut).toBe(2);
    const e = r.take(size);
    expect(e.byteOffset).toBe(b.byteOffset);
    expect(e.buffer).toBe(b.buffer);
    // a second give of a slot that is free already is ignored (and counted), never frees it twice
    r.give(a);
    r.give(a);
    expect(r.doubleGives).toBe(1);
    expect(r.slotsOut).toBe(2);
    // the plain buffer goes to the plain free list
    r.give(d);
    expect(r.waiting).toBe(1);
  });

  it('close() gives its block back, so an agent restarted in the process (SIGHUP) does not keep every earlier one', () => {
    const size = 64 * 1024;
    const before = countableBlocks();
    // ten reloads: each agent instance makes its own ReadBuffers and reads into a slot
    for (let i = 0; i < 10; i++) {
      const r = new ReadBuffers(size, 2, { slots: 3 });
      const a = r.take(size);
      expect(countsInPlace(a)).toBe(true);
      expect(countableBlocks()).toBe(before + 1);
      a.fill(10);
      r.close();
      expect(countableBlocks()).toBe(before);
      // a read still held when it closed is counted all the same (the plain search), and giving it back is harmless
      expect(countsInPlace(a)).toBe(false);
      expect(countNewlines(a, a.length)).toBe(size);
      r.give(a);
      expect(r.doubleGives).toBe(0);
      // after close: plain allocations, no new block
      const b = r.take(size);
      expect(countsInPlace(b)).toBe(false);
      expect(countableBlocks()).toBe(before);
    }
  });

  it('cutBatch counts a read in a slot where it lies, with the same result as a plain buffer', () => {
    const size = 256 * 1024;
    const r = new ReadBuffers(size, 2, { slots: 2 });
    const text = Buffer.alloc(size);
    let lines = 0;
    for (let p = 0; p + 100 <= size; p += 100, lines++) text.write(`${'x'.repeat(99)}\n`, p, 'latin1');
    const slot = r.take(size);
    text.copy(slot);
    const plain = Buffer.from(text);
    const inSlot = cutBatch(slot, 1 << 20, false, false)!;
    const inPlain = cutBatch(plain, 1 << 20, false, false)!;
    expect(inSlot.lines).toBe(lines);
    expect(inPlain.lines).toBe(lines);
    expect(inSlot.raw.buffer).toBe(slot.buffer); // a view of the slot: nothing copied
    expect(inSlot.consumed).toBe(inPlain.consumed);
  });

  it('under LOGSHIP_TEST_POISON_SLABS a slot given back is overwritten, so a read used after its release shows', () => {
    const size = 64 * 1024;
    const r = new ReadBuffers(size, 2, { slots: 1, poison: true });
    const a = r.take(size);
    a.fill(0x61);
    r.give(a);
    expect(a.every((x) => x === 0xa5)).toBe(true);
  });
});
