import { describe, expect, it } from 'vitest';
import { decodeRequest, encodeRequest, CODEC_NONE, FLAG_FRAMED, type WireRequest } from '../../../../lib/protocol/batches.js';
import { encodeFramed, iterateRecords, RECORD_PART } from '../../../../lib/protocol/records.js';
import { LogshipError } from '../../../../lib/errors.js';
import { crc32c } from '../../../../lib/log/crc32c.js';

const limits = { maxBatchRawBytes: 1 << 20 };

function sample(): WireRequest {
  return {
    producer: 'web-01/abc',
    epoch: 7,
    host: 'web-01',
    batches: [
      { topic: 'app', source: '/var/log/a.log', seq: 2 ** 40 + 5, sourceOffset: 2 ** 33 + 1, lines: 2, timestamp: 1_700_000_000_123, codec: CODEC_NONE, flags: 0, rawLength: 8, payload: Buffer.from('one\ntwo\n') },
      { topic: 'b.x-y_z', source: 'ünïcode', seq: 9, sourceOffset: 0, lines: 1, timestamp: 1, codec: CODEC_NONE, flags: 0, rawLength: 4, payload: Buffer.from('abc\n') },
    ],
  };
}

describe('batches wire format', () => {
  it('round-trips every field, including offsets above 2^32; each decoded batch carries its verified CRC', () => {
    const req = sample();
    const back = decodeRequest(Buffer.concat(encodeRequest(req)), limits);
    expect(back).toEqual({ ...req, batches: req.batches.map((b) => ({ ...b, crc: crc32c(b.payload) })) });
  });

  it('rejects a flipped payload byte with the batch index and position', () => {
    const body = Buffer.concat(encodeRequest(sample()));
    body[body.length - 2] ^= 0xff;
    expect(() => decodeRequest(body, limits)).toThrow(/batch 1 \(byte \d+\): payload CRC32C mismatch/);
  });

  it('encodeRequest sends a CRC it is given instead of computing one (a wrong one is refused by the receiver)', () => {
    const given = sample();
    given.batches = given.batches.map((b) => ({ ...b, crc: crc32c(b.payload) }));
    expect(Buffer.concat(encodeRequest(given)).equals(Buffer.concat(encodeRequest(sample())))).toBe(true);
    const wrong = sample();
    wrong.batches[1] = { ...wrong.batches[1]!, crc: (crc32c(wrong.batches[1]!.payload) ^ 1) >>> 0 };
    expect(() => decodeRequest(Buffer.concat(encodeRequest(wrong)), limits)).toThrow(/batch 1 \(byte \d+\): payload CRC32C mismatch/);
  });

  it('rejects truncation, trailing bytes and bad magic as LSH_ERR_BAD_BATCH', () => {
    const body = Buffer.concat(encodeRequest(sample()));
    for (const bad of [body.subarray(0, body.length - 3), Buffer.concat([body, Buffer.from('x')]), Buffer.from('nope')]) {
      let err: unknown;
      try {
        decodeRequest(bad, limits);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LogshipError);
      expect((err as LogshipError).code).toBe('LSH_ERR_BAD_BATCH');
    }
  });

  it('enforces the decompressed size limit', () => {
    const req = sample();
    req.batches[0]!.rawLength = 2 << 20;
    expect(() => decodeRequest(Buffer.concat(encodeRequest(req)), limits)).toThrow(/exceeds the limit/);
  });
});

describe('records in a payload', () => {
  it('derives source offsets of plain lines', () => {
    const recs = [...iterateRecords(Buffer.from('a\nbb\n\nccc\n'), 0, 100)].map((r) => [r.message.toString(), r.sourceOffset]);
    expect(recs).toEqual([['a', 100], ['bb', 102], ['', 105], ['ccc', 106]]);
  });

  it('round-trips framed records with flags and source sizes', () => {
    const raw = encodeFramed([
      { message: Buffer.from('xxxx'), sourceBytes: 4, flags: RECORD_PART },
      { message: Buffer.from('yy'), sourceBytes: 3, flags: RECORD_PART },
      { message: Buffer.from('z'), sourceBytes: 2, flags: 0 },
    ]);
    const recs = [...iterateRecords(raw, FLAG_FRAMED, 10)].map((r) => [r.message.toString(), r.sourceOffset, r.flags]);
    expect(recs).toEqual([['xxxx', 10, 1], ['yy', 14, 1], ['z', 17, 0]]);
  });
});
