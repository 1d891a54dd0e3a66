import { describe, expect, it } from 'vitest';
import { CODEC_NONE, CODEC_ZSTD, type WireRequest } from '../../../../lib/protocol/batches.js';
import { FrameReader, KIND_ACKS, KIND_ERROR, KIND_STORE, decodeAcks, decodeError, decodeStore, encodeAcks, encodeError, encodeStore } from '../../../../aggregator/ingest/frames.js';
import { defaultProcesses } from '../../../../aggregator/ingest/hub.js';
import { crc32c } from '../../../../lib/log/crc32c.js';

const wire: WireRequest = {
  producer: 'agent-ü/7',
  epoch: 3,
  host: 'web-1',
  batches: [
    { topic: 'nginx', source: '/var/log/nginx/access.log', seq: 2 ** 40 + 1, sourceOffset: 2 ** 45, lines: 2, timestamp: 1_764_000_000_123, codec: CODEC_NONE, flags: 0, rawLength: 8, payload: Buffer.from('one\ntwo\n') },
    { topic: 'app', source: 's', seq: 0, sourceOffset: 0, lines: 1, timestamp: 1, codec: CODEC_ZSTD, flags: 1, rawLength: 4, payload: Buffer.from([1, 2, 3]) },
  ],
};

function frames(bufs: Buffer[]): Array<{ kind: number; id: number; body: unknown }> {
  const got: Array<{ kind: number; id: number; body: unknown }> = [];
  const r = new FrameReader((kind, id, c) => got.push({ kind, id, body: kind === KIND_STORE ? decodeStore(c) : kind === KIND_ACKS ? decodeAcks(c) : decodeError(c) }));
  for (const b of bufs) r.push(b);
  return got;
}

describe('ingest frames', () => {
  it('a STORE frame round-trips every field, payload bytes included, and the payload CRC (given, or computed)', () => {
    const withCrc = { ...wire, batches: wire.batches.map((b) => ({ ...b, crc: crc32c(b.payload) })) };
    const [f] = frames([Buffer.concat(encodeStore(9, wire, 'buffer=12'))]);
    expect(f).toEqual({ kind: KIND_STORE, id: 9, body: { wire: withCrc, agentStatus: 'buffer=12' } });
    // the CRC the ingest process verified travels as it is (the writer trusts it)
    const given = { ...wire, batches: [{ ...wire.batches[0]!, crc: 0x1234_5678 }] };
    expect((frames([Buffer.concat(encodeStore(2, given, ''))])[0]!.body as { wire: WireRequest }).wire.batches[0]!.crc).toBe(0x1234_5678);
    expect(frames([Buffer.concat(encodeStore(1, { ...wire, batches: [] }, ''))])[0]!.body).toEqual({ wire: { ...wire, batches: [] }, agentStatus: undefined });
  });

  it('frames cut at every byte, and several in one chunk, come out whole and in order', () => {
    const stream = Buffer.concat([
      ...encodeStore(1, wire, ''),
      encodeAcks(2, [
        { partition: 3, offset: 2 ** 50, duplicate: true },
        { partition: 0, offset: 0, duplicate: false },
      ]),
      encodeError(3, 409, 'producer_fenced', 'epoch 2 < 3'),
    ]);
    const whole = frames([stream]);
    expect(whole.map((f) => [f.kind, f.id])).toEqual([
      [KIND_STORE, 1],
      [KIND_ACKS, 2],
      [KIND_ERROR, 3],
    ]);
    expect(whole[1]!.body).toEqual([
      { partition: 3, offset: 2 ** 50, duplicate: true },
      { partition: 0, offset: 0, duplicate: false },
    ]);
    expect(whole[2]!.body).toEqual({ status: 409, type: 'producer_fenced', reason: 'epoch 2 < 3' });
    for (let cut = 1; cut < stream.length; cut++) {
      expect(frames([stream.subarray(0, cut), stream.subarray(cut)]), `cut at ${cut}`).toEqual(whole);
    }
    expect(frames([...stream].map((b) => Buffer.from([b])))).toEqual(whole);
  });

  it('a broken length or a short frame throws instead of reading past it', () => {
    expect(() => frames([Buffer.from([0xff, 0xff, 0xff, 0xff, 1])])).toThrow(/broken ingest stream/);
    const f = encodeAcks(1, [{ partition: 1, offset: 1, duplicate: false }]);
    f.writeUInt32LE(5 + 4 + 13, 5 + 4); // says 22 acks, holds one
    f.writeUInt32LE(f.length - 4, 0);
    expect(() => frames([f])).toThrow(RangeError);
  });

  it('a frame longer than the reader allows is refused from its length alone', () => {
    const big = Buffer.concat(encodeStore(1, wire, ''));
    const r = new FrameReader(() => undefined, big.length - 5);
    expect(() => r.push(big.subarray(0, 4))).toThrow(/frame length/);
    expect(() => new FrameReader(() => undefined, big.length - 4).push(big)).not.toThrow();
  });

  it('default ingest processes: one process up to 3 cores, then cores - 1 up to 4', () => {
    expect([1, 2, 3, 4, 5, 8, 64].map(defaultProcesses)).toEqual([1, 1, 1, 3, 4, 4, 4]);
  });
});
