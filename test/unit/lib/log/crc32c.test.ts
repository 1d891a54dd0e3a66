import { describe, expect, it } from 'vitest';
import { crc32cBytewise, crc32cCombine } from '../../../../lib/log/crc32c.js';
import { crc32c } from '../../../../lib/log/index.js';

describe('crc32c', () => {
  it('matches the Castagnoli check value and RFC 3720 vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(crc32c(inc)).toBe(0x46dd794e);
    const dec = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
    expect(crc32c(dec)).toBe(0x113fdb5c);
  });

  it('combines the CRCs of two pieces into the CRC of both, for any lengths', () => {
    const whole = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 197 + (i >> 5)) & 0xff));
    for (const cut of [0, 1, 3, 8, 36, 66, 4096, 65_537, 299_999, 300_000]) {
      for (const end of [cut, cut + 1, cut + 255, 300_000]) {
        if (end > whole.length) continue;
        const a = whole.subarray(0, cut);
        const b = whole.subarray(cut, end);
        expect(crc32cCombine(crc32c(a), crc32c(b), b.length), `cut ${cut} end ${end}`).toBe(crc32c(whole.subarray(0, end)));
      }
    }
    // an empty second piece leaves the first CRC as it is
    expect(crc32cCombine(0x12345678, 0, 0)).toBe(0x12345678);
    expect(() => crc32cCombine(1, 2, -1)).toThrow(RangeError);
  });

  it('chains over pieces through the seed', () => {
    const whole = Buffer.from('The quick brown fox jumps over the lazy dog, twice over.');
    for (const cut of [0, 1, 7, 8, 9, 30, whole.length]) {
      expect(crc32c(whole.subarray(cut), crc32c(whole.subarray(0, cut)))).toBe(crc32c(whole));
    }
  });

  it('agrees with the bytewise reference at every alignment and length', () => {
    const b = Buffer.from(Array.from({ length: 1100 }, (_, i) => (i * 131 + (i >> 3)) & 0xff));
    for (let start = 0; start < 8; start++) {
      for (const len of [0, 1, 3, 7, 8, 9, 15, 16, 17, 100, 1000]) {
        const piece = b.subarray(start, start + len);
        expect(crc32c(piece, 0x1234)).toBe(crc32cBytewise(piece, 0x1234));
      }
    }
  });
});

describe('crc32c implementations', () => {
  it('the native path and the JS fallback agree, chained or not', async () => {
    const { crc32cJs, crc32cImpl } = await import('../../../../lib/log/crc32c.js');
    expect(crc32cImpl).toBe('native');
    const b = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7 + (i >> 5)) & 0xff));
    for (const [s, e] of [[0, 64], [3, 1000], [0, 70_000], [17, 65_553]] as const) {
      expect(crc32c(b.subarray(s, e), 0xabcdef)).toBe(crc32cJs(b.subarray(s, e), 0xabcdef));
    }
    expect(crc32c(new Uint8Array(b.buffer, b.byteOffset + 5, 500))).toBe(crc32cJs(b.subarray(5, 505)));
  });
});
