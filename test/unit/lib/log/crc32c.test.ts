import { describe, expect, it } from 'vitest';
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

  it('chains over pieces through the seed', () => {
    const whole = Buffer.from('The quick brown fox jumps over the lazy dog, twice over.');
    for (const cut of [0, 1, 7, 8, 9, 30, whole.length]) {
      expect(crc32c(whole.subarray(cut), crc32c(whole.subarray(0, cut)))).toBe(crc32c(whole));
    }
  });

  it('agrees between the slice-by-8 path and the byte path on unaligned lengths', () => {
    const b = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 131) & 0xff));
    let byByte = 0;
    for (let i = 0; i < b.length; i++) byByte = crc32c(b.subarray(i, i + 1), byByte);
    expect(crc32c(b)).toBe(byByte);
  });
});
