/** The stored batch meta (aggregator/storage/stored-meta.ts): its exact byte layout, and a round trip of awkward strings. */
import { describe, expect, it } from 'vitest';
import { decodeStoredMeta, encodeStoredMeta, type StoredMeta } from '../../../../aggregator/storage/stored-meta.js';

const base: StoredMeta = { flags: 3, codec: 1, host: 'h', source: 's', sourceOffset: 2 ** 40 + 7, producer: 'p', epoch: 0xffff_ffff, seq: 2 ** 50 + 3, rawLength: 123_456 };

describe('stored meta', () => {
  it('lays out version, flags, codec, length-prefixed UTF-8 strings and big-endian numbers', () => {
    const b = encodeStoredMeta({ ...base, host: 'hé', source: '/v', producer: 'pr' });
    expect(b.toString('hex')).toBe(
      [
        '01', '03', '01', // version, flags, codec
        '0003', '68c3a9', // host "hé": 3 UTF-8 bytes
        '0002', '2f76', // source
        '0000010000000007', // source offset 2^40 + 7
        '0002', '7072', // producer
        'ffffffff', // epoch
        '0004000000000003', // seq 2^50 + 3
        '0001e240', // raw length 123456
      ].join(''),
    );
  });

  it('round-trips multi-byte, empty and long strings; a lone surrogate is stored as U+FFFD, with its length counted right', () => {
    const strings = ['', 'plain', 'héllo wörld', '日本語/ログ', '🙂', 'x'.repeat(1000), 'a\ud800b'];
    for (const host of strings) {
      for (const source of strings) {
        const m = { ...base, host, source, producer: source + host };
        const back = decodeStoredMeta(encodeStoredMeta(m));
        const wtf = (s: string) => Buffer.from(s).toString('utf8');
        expect(back).toEqual({ ...m, host: wtf(host), source: wtf(source), producer: wtf(source + host) });
      }
    }
  });
});
