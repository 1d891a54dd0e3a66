/**
 * DiskBuffer in process, on a real temp dir: the ack cursor (durable, clamped at reopen), the
 * bound (an append goes in only when its frame fits; a drained buffer takes one oversized batch),
 * trimming (never past the written ack cursor or the checkpoint), the cursor written behind (coalesced), which segments drop_oldest removes and
 * what it counts, and recovery of a torn tail.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DiskBuffer } from '../../../../agent/buffer/disk-buffer.js';
import type { BufferedMeta } from '../../../../agent/buffer/buffered-meta.js';
import { CODEC_ZSTD } from '../../../../lib/protocol/batches.js';
import { crc32c } from '../../../../lib/log/crc32c.js';

let dir: string;
let buffers: DiskBuffer[] = [];
let logs: Array<{ level: number; msg: string; dropped_lines?: number }>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-dbuf-'));
  logs = [];
  buffers = [];
});
afterEach(async () => {
  for (const b of buffers) await b.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function open(maxBytes: number, whenFull: 'block' | 'drop_oldest' = 'block', onDrop?: (b: number, l: number) => void, ackPersistMs?: number): Promise<DiskBuffer> {
  const b = await DiskBuffer.open({
    dir: join(dir, 'buffer'),
    maxBytes,
    whenFull,
    fsync: true,
    onDrop,
    ...(ackPersistMs === undefined ? {} : { ackPersistMs }),
    logger: pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
  });
  buffers.push(b);
  return b;
}

function meta(i: number, lines = 10): BufferedMeta {
  return { codec: CODEC_ZSTD, flags: 0, topic: 'app', source: '/var/log/a.log', key: 'stream-a', start: i * 100, end: (i + 1) * 100, lines, rawLength: 100, dev: 1, ino: 2, fpLen: 0, fpCrc: 0 };
}

/** Appends batch i with a payload of `size` bytes whose first 4 bytes are i. */
async function put(b: DiskBuffer, i: number, size = 1000, lines = 10): Promise<number> {
  const payload = Buffer.alloc(size, 0x61);
  payload.writeUInt32BE(i, 0);
  const [off] = await b.append([{ meta: meta(i, lines), payload, timestamp: 1_700_000_000_000 + i }]);
  return off!;
}

const MiB = 1 << 20;

describe('DiskBuffer', () => {
  it('keeps the ack cursor durably and clamps it to the stored range at reopen', async () => {
    let b = await open(MiB);
    for (let i = 0; i < 5; i++) expect(await put(b, i)).toBe(i);
    expect(b.unackedBatches).toBe(5);
    await b.ack(3);
    expect(b.ackedOffset).toBe(3);
    expect(b.unackedBatches).toBe(2);
    expect(JSON.parse(await readFile(join(dir, 'buffer', 'ack.json'), 'utf8'))).toEqual({ version: 1, next: 3 });
    await b.ack(2); // never moves back
    expect(b.ackedOffset).toBe(3);
    await b.close();
    b = await open(MiB);
    expect(b.ackedOffset).toBe(3);
    const rest = await b.read(b.ackedOffset, MiB);
    expect(rest.map((x) => x.payload.readUInt32BE(0))).toEqual([3, 4]);
    expect(rest[0]!.meta).toEqual(meta(3));
    await b.close();
    // an ack file beyond the log (a log cut shorter by recovery) is clamped to its end
    await writeFile(join(dir, 'buffer', 'ack.json'), JSON.stringify({ next: 99 }));
    b = await open(MiB);
    expect(b.ackedOffset).toBe(5);
  });

  it('never lets an append exceed max_bytes: fits() counts the whole frame, and a waiting append makes the buffer full', async () => {
    const max = MiB; // segments of 64 KiB
    const b = await open(max);
    const frame = DiskBuffer.frameBytes(meta(0), 10_000);
    let i = 0;
    while (b.fits(frame)) await put(b, i++, 10_000);
    expect(b.sizeBytes).toBeLessThanOrEqual(max);
    expect(b.sizeBytes + frame).toBeGreaterThan(max);
    // not yet at max_bytes, but the next batch does not fit: an append waits, and inputs see "full"
    expect(b.sizeBytes).toBeLessThan(max);
    expect(b.isFull()).toBe(false);
    let done = false;
    const waiting = b.waitForSpace(undefined, frame).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(b.isFull()).toBe(true);
    expect(b.acceptsMore()).toBe(false);
    // acknowledging alone frees nothing; the trim (checkpoint covering it) does, and wakes the waiter
    await b.ack(10);
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(b.trimmable).toBe(true);
    await b.trim(10);
    await waiting;
    expect(done).toBe(true);
    expect(b.fits(frame)).toBe(true);
    expect(b.isFull()).toBe(false);
  });

  it('writes the ack cursor behind: the first at once, later ones coalesced per interval; trims wait for it; close writes the last', async () => {
    const b = await open(MiB, 'block', undefined, 300);
    for (let i = 0; i < 40; i++) await put(b, i, 10_000); // ~6 segments of 64 KiB
    const cursor = async () => (JSON.parse(await readFile(join(dir, 'buffer', 'ack.json'), 'utf8')) as { next: number }).next;
    await b.ack(1); // after a quiet spell: written at once
    expect(await cursor()).toBe(1);
    expect(b.persistedAckedOffset).toBe(1);
    const later = b.ack(2);
    for (let n = 3; n <= 30; n++) void b.ack(n);
    // in memory at once; on disk not yet (the interval since the last write has not passed)
    expect(b.ackedOffset).toBe(30);
    expect(await cursor()).toBe(1);
    // a checkpoint's trim may not delete what a restart would send again (below the written cursor only)
    await b.trim(30);
    expect(b.log.firstOffset).toBe(0);
    await later; // one write covers all of them
    expect(await cursor()).toBe(30);
    expect(b.persistedAckedOffset).toBe(30);
    expect(b.trimmable).toBe(true);
    await b.trim(30);
    expect(b.log.firstOffset).toBeGreaterThan(0);
    void b.ack(35);
    await b.close(); // shutdown writes the last cursor without waiting for the interval
    expect(await cursor()).toBe(35);
    const again = await open(MiB);
    expect(again.ackedOffset).toBe(35);
  });

  it('trims only whole segments below both the ack cursor and the checkpoint', async () => {
    const b = await open(MiB);
    for (let i = 0; i < 40; i++) await put(b, i, 10_000); // ~6 segments of 64 KiB
    const segs = async () => (await readdir(join(dir, 'buffer', 'log'))).filter((n) => n.endsWith('.log')).length;
    const before = await segs();
    expect(before).toBeGreaterThan(3);
    await b.trim(40); // nothing acknowledged: nothing goes
    expect(await segs()).toBe(before);
    await b.ack(40);
    await b.trim(0); // checkpoint covers nothing: nothing goes
    expect(await segs()).toBe(before);
    await b.trim(20);
    expect(b.log.firstOffset).toBeGreaterThan(0);
    expect(b.log.firstOffset).toBeLessThanOrEqual(20);
    await b.trim(40);
    expect(await segs()).toBe(1); // the active segment stays
    expect(b.trimmable).toBe(false);
  });

  it('a drained buffer takes one batch larger than the room left, so the agent always makes progress', async () => {
    const b = await open(MiB);
    const big = MiB + 1000;
    expect(b.fits(DiskBuffer.frameBytes(meta(0), big))).toBe(true); // empty: drained
    await put(b, 0, big);
    expect(b.sizeBytes).toBeGreaterThan(MiB);
    expect(b.fits(DiskBuffer.frameBytes(meta(1), 10))).toBe(false); // not delivered yet: no more
    await b.ack(1);
    // acknowledged, but the only segment cannot be trimmed: still drained, takes the next batch
    expect(b.drained).toBe(true);
    expect(b.fits(DiskBuffer.frameBytes(meta(1), 10))).toBe(true);
  });

  it('drop_oldest removes the oldest segment first and counts only its undelivered batches and lines', async () => {
    const drops: Array<[number, number]> = [];
    const b = await open(MiB, 'drop_oldest', (x, l) => drops.push([x, l]));
    for (let i = 0; i < 200; i++) {
      const frame = DiskBuffer.frameBytes(meta(i), 10_000);
      await b.waitForSpace(undefined, frame);
      await put(b, i, 10_000, 7);
      if (i === 2) await b.ack(3); // batches 0..2 delivered
    }
    expect(b.sizeBytes).toBeLessThanOrEqual(MiB);
    expect(drops.length).toBeGreaterThan(0);
    // what is left is the newest batches, contiguous up to the last one
    const first = b.log.firstOffset;
    expect(first).toBeGreaterThan(3);
    const left = [];
    for (let from = first; from < b.log.nextOffset; ) {
      const got = await b.read(from, MiB);
      left.push(...got.map((x) => x.payload.readUInt32BE(0)));
      from = got[got.length - 1]!.offset + 1;
    }
    expect(left[0]).toBe(first);
    expect(left[left.length - 1]).toBe(199);
    for (let k = 1; k < left.length; k++) expect(left[k]).toBe(left[k - 1]! + 1);
    // counted: every dropped batch except the three delivered ones, 7 lines each
    const batches = drops.reduce((a, [x]) => a + x, 0);
    const lines = drops.reduce((a, [, l]) => a + l, 0);
    expect(batches).toBe(first - 3);
    expect(lines).toBe((first - 3) * 7);
    expect(b.ackedOffset).toBe(first);
    expect(logs.some((l) => l.level === 50 && /drop_oldest/.test(l.msg))).toBe(true);
  });

  it('drop_oldest counts the lines of exactly the undelivered batches it deleted, with the cursor inside the oldest segment', async () => {
    const drops: Array<[number, number]> = [];
    const b = await open(MiB, 'drop_oldest', (x, l) => drops.push([x, l]));
    const lines = (i: number): number => (i % 5) + 1;
    for (let i = 0; i < 120; i++) {
      await b.waitForSpace(undefined, DiskBuffer.frameBytes(meta(i), 10_000));
      await put(b, i, 10_000, lines(i));
      if (i === 4) await b.ack(2); // batches 0..1 delivered, 2.. not: the cursor sits inside the first segment
    }
    expect(drops.length).toBeGreaterThan(1);
    const first = b.log.firstOffset;
    let expected = 0;
    for (let i = 2; i < first; i++) expected += lines(i);
    expect(drops.reduce((a, [x]) => a + x, 0)).toBe(first - 2);
    expect(drops.reduce((a, [, l]) => a + l, 0)).toBe(expected);
    expect(b.ackedOffset).toBe(first);
  });

  it('sends recent batches from memory and counts the ones it must read back from its files', async () => {
    const readBacks: number[] = [];
    let payloadBytes = 0;
    const openCounting = async () => {
      const b = await DiskBuffer.open({
        dir: join(dir, 'buffer'),
        maxBytes: 16 * MiB,
        whenFull: 'block',
        fsync: true,
        onReadBack: (n) => readBacks.push(n),
        onPayloadBytes: (n) => (payloadBytes += n),
        logger: pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l)) }),
      });
      buffers.push(b);
      return b;
    };
    let b = await openCounting();
    for (let i = 0; i < 3; i++) await put(b, i);
    const fromMemory = await b.read(0, MiB);
    expect(fromMemory.map((x) => x.payload.readUInt32BE(0))).toEqual([0, 1, 2]);
    // batches from memory carry the CRC computed once at append (sent as the wire CRC)
    expect(fromMemory.map((x) => x.crc)).toEqual(fromMemory.map((x) => crc32c(x.payload)));
    expect(readBacks).toEqual([]);
    // every appended payload byte is counted (memory the PayloadCollector frees once sent); a read from memory adds none
    const appended = fromMemory.reduce((n, x) => n + x.payload.length, 0);
    expect(payloadBytes).toBe(appended);
    // Past the in-memory cache (a few MiB of payload), the oldest batches come from the files.
    for (let i = 3; i < 12; i++) await put(b, i, MiB);
    const old = await b.read(0, 2 * MiB);
    expect(old[0]!.payload.readUInt32BE(0)).toBe(0);
    // read back from the files: no CRC carried (the sender computes it)
    expect(old.every((x) => x.crc === undefined)).toBe(true);
    expect(readBacks.length).toBe(1);
    expect(readBacks[0]).toBe(old.length);
    // read-backs are new memory too: appended bytes plus the bytes read back
    const before = payloadBytes;
    const more = await b.read(0, 2 * MiB);
    expect(payloadBytes - before).toBe(more.reduce((n, x) => n + x.payload.length, 0));
    await b.close();
    // After a restart nothing is cached: everything unacknowledged is read back.
    readBacks.length = 0;
    b = await openCounting();
    const again = await b.read(0, 16 * MiB);
    expect(again.map((x) => x.payload.readUInt32BE(0))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(readBacks.reduce((a, n) => a + n, 0)).toBe(12);
  });

  it('recovers a torn tail: the cut batch is gone, everything before it reads back', async () => {
    let b = await open(MiB);
    for (let i = 0; i < 5; i++) await put(b, i, 1000);
    await b.close();
    const seg = join(dir, 'buffer', 'log', (await readdir(join(dir, 'buffer', 'log'))).find((n) => n.endsWith('.log'))!);
    await truncate(seg, (await stat(seg)).size - 300);
    b = await open(MiB);
    expect(b.log.nextOffset).toBe(4);
    expect(logs.some((l) => /torn tail was cut/.test(l.msg))).toBe(true);
    const got = await b.read(0, MiB);
    expect(got.map((x) => x.payload.readUInt32BE(0))).toEqual([0, 1, 2, 3]);
    expect(await put(b, 4)).toBe(4);
  });
  it('answers the oldest unacknowledged timestamp from the recent cache, from one batch read back, and again after a reopen', async () => {
    const b = await open(64 * MiB);
    // 40 x 200 KiB: more than the 4 MiB recent cache, so the first batches are only in the files.
    for (let i = 0; i < 40; i++) await put(b, i, 200 << 10);
    const ts = (i: number) => 1_700_000_000_000 + i;
    expect(await b.oldestUnackedTimestamp()).toBe(ts(0));
    await b.ack(5);
    expect(await b.oldestUnackedTimestamp()).toBe(ts(5));
    // asked again at the same cursor: the same answer
    expect(await b.oldestUnackedTimestamp()).toBe(ts(5));
    await b.ack(38);
    expect(await b.oldestUnackedTimestamp()).toBe(ts(38));
    await b.ack(40);
    expect(await b.oldestUnackedTimestamp()).toBeUndefined();
    await put(b, 40, 1000);
    expect(await b.oldestUnackedTimestamp()).toBe(ts(40));
    await b.close();
    const again = await open(64 * MiB);
    expect(again.ackedOffset).toBe(40);
    expect(await again.oldestUnackedTimestamp()).toBe(ts(40));
  });
});
