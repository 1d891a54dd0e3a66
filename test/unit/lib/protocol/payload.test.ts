/**
 * Property-based tests (fast-check) for the batch decoder and the payload
 * checks (issue 9, finding 2 and 6): over arbitrary bytes they throw nothing
 * but LogshipError, never inflate past the declared raw length or the limit,
 * and agree with how iterateRecords splits what they accept.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compressSync } from '../../../../lib/codec/zstd-pool.js';
import { CODEC_NONE, CODEC_ZSTD, FLAG_FRAMED, decodeRequest, encodeRequest, type WireBatch } from '../../../../lib/protocol/batches.js';
import { encodeFramed, iterateRecords } from '../../../../lib/protocol/records.js';
import { MAX_TIMESTAMP, inflateChecked, payloadProblem } from '../../../../lib/protocol/payload.js';
import { runRecords } from '../../../../lib/protocol/payload-jobs.js';
import { LogshipError } from '../../../../lib/errors.js';

const MiB = 1 << 20;
const limits = { maxBatchRawBytes: MiB, maxRequestRawBytes: 4 * MiB };

const lineArb = fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, ' '));
/** A raw payload in either layout, with its true record count. */
const rawArb = fc.oneof(
  fc.array(lineArb, { minLength: 1, maxLength: 30 }).map((ls) => ({ raw: Buffer.from(ls.map((l) => l + '\n').join('')), lines: ls.length, flags: 0 })),
  fc
    .array(fc.record({ message: fc.uint8Array({ maxLength: 40 }), sourceBytes: fc.nat(1000), flags: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 30 })
    .map((rs) => ({ raw: encodeFramed(rs.map((r) => ({ ...r, message: Buffer.from(r.message) }))), lines: rs.length, flags: FLAG_FRAMED })),
);

function expectOnlyLogshipError(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LogshipError);
    expect(['LSH_ERR_BAD_BATCH', 'LSH_ERR_TOO_LARGE']).toContain((err as LogshipError).code);
  }
}

function batch(p: { raw: Buffer; lines: number; flags: number }, zstd: boolean): WireBatch {
  return {
    topic: 't',
    source: '/s',
    seq: 1,
    sourceOffset: 0,
    lines: p.lines,
    timestamp: 1_700_000_000_000,
    codec: zstd ? CODEC_ZSTD : CODEC_NONE,
    flags: p.flags,
    rawLength: p.raw.length,
    payload: zstd ? compressSync(p.raw) : p.raw,
  };
}

describe('batch decoder over hostile bytes', () => {
  it('arbitrary bodies: only LSH_ERR_BAD_BATCH / LSH_ERR_TOO_LARGE', () => {
    // Time per input is bounded by construction (no loop runs longer than the body), not asserted.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expectOnlyLogshipError(() => decodeRequest(Buffer.from(bytes), limits));
      }),
      { numRuns: 500 },
    );
  });

  it('valid bodies with bytes flipped, cut or a huge batch count: only documented errors', () => {
    fc.assert(
      fc.property(fc.array(rawArb, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (payloads, flips, cut) => {
        const body = Buffer.concat(encodeRequest({ producer: 'p/1', epoch: 1, host: 'h', batches: payloads.map((p) => batch(p, false)) }));
        for (const [at, v] of flips) body[at % body.length] = v;
        expectOnlyLogshipError(() => decodeRequest(body, limits));
        expectOnlyLogshipError(() => decodeRequest(body.subarray(0, cut % (body.length + 1)), limits));
      }),
      { numRuns: 300 },
    );
    // A count of 2^32-1 batches in a small body is refused at once, not looped over.
    const body = Buffer.concat(encodeRequest({ producer: 'p/1', epoch: 1, host: 'h', batches: [] }));
    body.writeUInt32BE(0xffffffff, body.length - 4);
    expect(() => decodeRequest(body, limits)).toThrow(/count says 4294967295 batches/);
  });

  it('refuses header fields that would poison readers: timestamp, codec, flags, lines (finding 2)', () => {
    const ok = batch({ raw: Buffer.from('a\nb\n'), lines: 2, flags: 0 }, false);
    const cases: Array<[Partial<WireBatch>, RegExp]> = [
      [{ timestamp: MAX_TIMESTAMP + 1 }, /timestamp .* outside/],
      [{ timestamp: 2 ** 53 - 1 }, /timestamp .* outside/],
      [{ codec: 9 }, /unknown codec 9/],
      [{ flags: 0x10 }, /unknown flag bits 0x10/],
      [{ lines: 2 ** 32 - 1 }, /record count 4294967295 is more than the raw length/],
      [{ rawLength: 2 * MiB }, /exceeds the limit/],
    ];
    for (const [patch, msg] of cases) {
      const body = Buffer.concat(encodeRequest({ producer: 'p/1', epoch: 1, host: 'h', batches: [ok, { ...ok, ...patch }] }));
      expect(() => decodeRequest(body, limits)).toThrow(msg);
      expect(() => decodeRequest(body, limits)).toThrow(/batch 1 /);
    }
  });
});

describe('payload checks (ingest) and stored-batch decoding (readers)', () => {
  it('accept exactly what iterateRecords splits into `lines` records, in both codecs', () => {
    fc.assert(
      fc.property(rawArb, fc.boolean(), (p, zstd) => {
        const b = batch(p, zstd);
        expect(payloadProblem(b.payload, b, MiB)).toBeUndefined();
        const raw = inflateChecked(b.payload, b, MiB);
        expect(Buffer.isBuffer(raw) && raw.equals(p.raw)).toBe(true);
        expect([...iterateRecords(p.raw, p.flags, 0)].length).toBe(p.lines);
      }),
      { numRuns: 300 },
    );
  });

  it('refuse a header that disagrees: line count, raw length, truncation, trailing bytes', () => {
    fc.assert(
      fc.property(rawArb, fc.boolean(), fc.integer({ min: 1, max: 50 }), (p, zstd, d) => {
        const b = batch(p, zstd);
        expect(payloadProblem(b.payload, { ...b, lines: p.lines + d }, MiB)).toBeDefined();
        expect(payloadProblem(b.payload, { ...b, rawLength: p.raw.length + d }, MiB)).toBeDefined();
        if (p.raw.length > d) expect(payloadProblem(b.payload, { ...b, rawLength: p.raw.length - d }, MiB)).toBeDefined();
        const extra = Buffer.concat([b.payload, Buffer.alloc(d, 7)]);
        expect(payloadProblem(extra, b, MiB)).toBeDefined();
      }),
      { numRuns: 200 },
    );
  });

  it('never inflate past the declared raw length: a 64 MiB bomb declared as 100 bytes or at the limit', () => {
    const bomb = compressSync(Buffer.alloc(64 * MiB, 0x0a));
    const before = process.memoryUsage().arrayBuffers;
    expect(payloadProblem(bomb, { codec: CODEC_ZSTD, flags: 0, rawLength: 100, lines: 100 }, MiB)).toMatch(/inflates beyond its declared raw length of 100 bytes/);
    expect(payloadProblem(bomb, { codec: CODEC_ZSTD, flags: 0, rawLength: MiB, lines: MiB }, MiB)).toMatch(/inflates beyond/);
    expect(inflateChecked(bomb, { codec: CODEC_ZSTD, flags: FLAG_FRAMED, rawLength: MiB, lines: 1 }, MiB)).toMatch(/inflates beyond/);
    expect(payloadProblem(bomb, { codec: CODEC_ZSTD, flags: 0, rawLength: 2 * MiB, lines: 1 }, MiB)).toMatch(/exceeds the limit/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * MiB);
    expect(payloadProblem(Buffer.from('a\nb\n'), { codec: CODEC_ZSTD, flags: 0, rawLength: 4, lines: 2 }, MiB)).toMatch(/not a valid zstd payload/);
  });

  it('record decoder over arbitrary stored bytes: no throw, bounded output, max_bytes honoured inside a batch', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 1 }),
        fc.nat(400),
        fc.integer({ min: 1, max: 400 }),
        fc.nat(5),
        fc.integer({ min: 1, max: 200 }),
        (bytes, flags, codec, rawLength, lines, from, maxBytes) => {
          const r = runRecords({ batches: [{ payload: bytes, codec, flags, rawLength, lines, baseOffset: 0, sourceOffset: 0 }], from, maxBytes, maxRaw: 512 });
          expect(r.data.length).toBeLessThanOrEqual(rawLength);
          expect(r.meta.length / 4).toBeLessThanOrEqual(lines);
          expect(r.next).toBeGreaterThanOrEqual(from);
          if (r.skipped.length) expect(r.meta.length).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
    // Finding 6: 1 MiB of newlines in one batch, max_bytes 1: one record per read, from anywhere.
    const raw = Buffer.alloc(MiB, 0x0a);
    const b = { payload: compressSync(raw), codec: CODEC_ZSTD, flags: 0, rawLength: MiB, lines: MiB, baseOffset: 10, sourceOffset: 0 };
    for (const from of [10, 500_000, 10 + MiB - 1]) {
      const r = runRecords({ batches: [b], from, maxBytes: 1, maxRaw: MiB });
      expect(r.meta.length).toBe(4);
      expect(r.meta[0]).toBe(from);
      expect(r.next).toBe(from + 1);
    }
    const page = runRecords({ batches: [b], from: 10, maxBytes: 64 * 1024, maxRaw: MiB });
    expect(page.meta.length / 4).toBe(1024);
  });
});
