import { describe, expect, it } from 'vitest';
import { randomUuid } from '../../../../lib/util/random-id.js';

describe('random ids without node:crypto (lib/util/random-id.ts)', () => {
  it('version-4 UUIDs in the form crypto.randomUUID gives, distinct, with their random bits spread', () => {
    const n = 5_000; // more than one refill of the pool (16 ids a read)
    const ids = Array.from({ length: n }, () => randomUuid());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(n);
    // Each of the 30 random hex digits takes every value: a fixed or zeroed byte would show.
    const positions = ids[0]!.replace(/-/g, '').length;
    for (let i = 0; i < positions; i++) {
      if (i === 12 || i === 16) continue; // the version digit and the variant digit
      const seen = new Set(ids.map((id) => id.replace(/-/g, '')[i]));
      expect(seen.size, `hex digit ${i}`).toBe(16);
    }
  });
});
