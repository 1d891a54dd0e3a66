import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realFs, SegmentLog, type FsSeam } from '../../../../lib/log/index.js';
import { expectedPayload, makeBatch, tempDir } from '../../../helpers/log-fixtures.js';

/** A seam that records every buffer the log reads into (a read chunk is allocated per refill). */
function readTracking(): { io: FsSeam; chunks: Set<Buffer>; reset: () => void; allocated: () => number } {
  const chunks = new Set<Buffer>();
  const io: FsSeam = {
    ...realFs,
    read: (fd, buf, offset, length, position) => {
      chunks.add(buf);
      return realFs.read(fd, buf, offset, length, position);
    },
  };
  const allocated = (): number => {
    let n = 0;
    for (const b of chunks) n += b.length;
    return n;
  };
  return { io, chunks, reset: () => chunks.clear(), allocated };
}

// Frames about the size of the agent's compressed 1 MiB batches.
const PAYLOAD = 140 * 1024;
const FRAMES = 64;

describe('SegmentLog read paths allocate what the read needs (issue 17)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let log: SegmentLog | undefined;
  let tracked: ReturnType<typeof readTracking>;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    tracked = readTracking();
    log = await SegmentLog.open({ dir, io: tracked.io, fsync: false });
    for (let i = 0; i < FRAMES; i++) await log.append([makeBatch(`b${i}`, { payloadBytes: PAYLOAD, timestamp: 1_700_000_000_000 + i })]);
  });
  afterEach(async () => {
    await log?.close();
    log = undefined;
    await cleanup();
  });

  it('a 4 MiB read allocates about 4 MiB, not a second chunk for the frame crossing the first one', async () => {
    const maxBytes = 4 << 20;
    for (const from of [0, 7, 30]) {
      tracked.reset();
      const got = await log!.read(from, maxBytes);
      // Same batches as before: until their frames add up to maxBytes.
      let bytes = 0;
      got.forEach((b, i) => {
        expect(b.baseOffset).toBe(from + i);
        expect(b.payload.equals(expectedPayload(`b${from + i}`, PAYLOAD))).toBe(true);
        bytes += b.size;
      });
      expect(bytes).toBeGreaterThanOrEqual(maxBytes);
      expect(bytes - got.at(-1)!.size).toBeLessThan(maxBytes);
      // The first chunk (maxBytes + one index interval) plus the crossing frame; before, two chunks of maxBytes + 64 KiB.
      expect(tracked.allocated()).toBeLessThanOrEqual(maxBytes + (64 << 10) + 2 * (PAYLOAD + 4096));
    }
  });

  it('a read of one batch still returns it whole', async () => {
    tracked.reset();
    const [b, more] = await log!.read(5, 1);
    expect(more).toBeUndefined();
    expect(b!.baseOffset).toBe(5);
    expect(b!.payload.equals(expectedPayload('b5', PAYLOAD))).toBe(true);
  });

  it('scanMeta reads headers in small reads and hands out metas that do not hold read chunks', async () => {
    tracked.reset();
    const metas = [];
    for await (const m of log!.scanMeta(0)) metas.push(m);
    expect(metas.map((m) => m.baseOffset)).toEqual(Array.from({ length: FRAMES }, (_, i) => i));
    expect(metas.map((m) => m.meta.toString())).toEqual(Array.from({ length: FRAMES }, (_, i) => `b${i}`));
    expect(metas.map((m) => m.timestamp)).toEqual(Array.from({ length: FRAMES }, (_, i) => 1_700_000_000_000 + i));
    // Before: a 64 KiB chunk per frame, each kept alive by the meta that was a view of it.
    for (const m of metas) expect(m.meta.buffer.byteLength).toBeLessThanOrEqual(8192);
    expect(tracked.allocated()).toBeLessThanOrEqual(64 * 1024 + FRAMES * 4096);
  });

  it('offsetForTimestamp finds the same batch with header-only reads', async () => {
    tracked.reset();
    expect(await log!.offsetForTimestamp(1_700_000_000_000 + 41)).toBe(41);
    expect(await log!.offsetForTimestamp(0)).toBe(0);
    expect(await log!.offsetForTimestamp(Number.MAX_SAFE_INTEGER)).toBe(FRAMES);
  });
});
