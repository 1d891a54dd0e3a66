/**
 * PayloadPool.check with real worker threads, as POST /v1/batches uses it: a
 * request body that owns its memory is split over the workers (the first
 * part moves the body there and back, the others copy their payloads), and
 * the first bad batch in request order is named, wherever it falls.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compressSync } from '../../../../lib/codec/zstd-pool.js';
import { PayloadPool } from '../../../../lib/protocol/payload-pool.js';
import { CODEC_ZSTD } from '../../../../lib/protocol/codes.js';

interface Spec {
  raw: Buffer;
  lines: number;
}

function spec(i: number, lines: number): Spec {
  const raw = Buffer.from(Array.from({ length: lines }, (_, k) => `batch ${i} line ${k} ${'x'.repeat((i * 7 + k) % 40)}\n`).join(''));
  return { raw, lines };
}

/** The batches back to back in one body of the given kind; the checker's view of each. */
function request(specs: Spec[], kind: 'shared' | 'own', lie?: { index: number; lines: number }) {
  const payloads = specs.map((s) => compressSync(s.raw, 1));
  const size = payloads.reduce((a, p) => a + p.length, 0);
  const body = kind === 'shared' ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size);
  let at = 0;
  const batches = specs.map((s, i) => {
    const payload = body.subarray(at, at + payloads[i]!.length);
    at += payloads[i]!.copy(body, at);
    return { payload, codec: CODEC_ZSTD, flags: 0, rawLength: s.raw.length, lines: lie?.index === i ? lie.lines : s.lines };
  });
  return { body, batches, payloads };
}

const pool = new PayloadPool(2, (reason) => {
  throw new Error(`payload workers unavailable: ${reason}`);
});
afterAll(() => pool.close());

describe('PayloadPool.check', () => {
  const specs = Array.from({ length: 6 }, (_, i) => spec(i, 200 + i * 50));

  it('a good request: index -1, the body comes back and its payloads read as sent', async () => {
    const { body, batches, payloads } = request(specs, 'own');
    const at = batches.map((b) => [b.payload.byteOffset, b.payload.byteLength] as const);
    const r = await pool.check({ batches, maxRaw: 1 << 20 }, body);
    expect(r.index).toBe(-1);
    expect(r.body).toBeInstanceOf(ArrayBuffer);
    at.forEach(([o, n], i) => expect(Buffer.compare(Buffer.from(r.body!, o, n), payloads[i]!)).toBe(0));
  });

  it('names the first bad batch wherever it falls among the workers', async () => {
    for (const index of [0, 2, 3, 5]) {
      const { body, batches } = request(specs, 'own', { index, lines: specs[index]!.lines + 1 });
      const r = await pool.check({ batches, maxRaw: 1 << 20 }, body);
      expect(r.index, `bad batch ${index}`).toBe(index);
      expect(r.reason).toMatch(/holds \d+ lines, header says/);
    }
    // Two bad batches, one in each worker's share: the first in request order wins.
    const { body, batches } = request(specs, 'own', { index: 4, lines: 1 });
    batches[1]!.rawLength += 3;
    expect((await pool.check({ batches, maxRaw: 1 << 20 }, body)).index).toBe(1);
  });

  it('the copied shares travel in a reused buffer: one kept, not one per request', async () => {
    expect(pool.spareBuffers).toBeLessThanOrEqual(1);
    for (let round = 0; round < 8; round++) {
      const lie = round % 2 === 1 ? { index: 5, lines: 3 } : undefined;
      const { body, batches } = request(specs, 'own', lie);
      const r = await pool.check({ batches, maxRaw: 1 << 20 }, body);
      expect(r.index).toBe(lie ? 5 : -1);
      expect(pool.spareBuffers).toBe(1);
    }
  });

  it('a body in a SharedArrayBuffer (not movable) is checked on copies, same verdicts', async () => {
    const good = request(specs, 'shared');
    expect(await pool.check({ batches: good.batches, maxRaw: 1 << 20 }, good.body)).toEqual({ index: -1 });
    const bad = request(specs, 'shared', { index: 3, lines: 2 });
    expect((await pool.check({ batches: bad.batches, maxRaw: 1 << 20 }, bad.body)).index).toBe(3);
  });
});
