import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../../helpers/procs.js';

// The worker threads run compiled code (dist/lib/codec/zstd-worker.js): test the compiled pool.
const { decompressSync, ZstdPool } = (await import(pathToFileURL(join(ROOT, 'dist/lib/codec/zstd-pool.js')).href)) as typeof import('../../../../lib/codec/zstd-pool.js');
type ZstdPool = import('../../../../lib/codec/zstd-pool.js').ZstdPool;

/** ~1 MiB of access-log-like lines: compressible, but not trivially. */
function sample(): Buffer {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const paths = ['/', '/api/v1/items', '/static/app.js', '/login', '/search?q=', '/img/logo.png'];
  const parts: string[] = [];
  let size = 0;
  while (size < 1 << 20) {
    const line = `10.${rnd(256)}.${rnd(256)}.${rnd(256)} - - [02/Dec/2026:06:${rnd(60)}:${rnd(60)} +0000] "GET ${paths[rnd(paths.length)]}${rnd(100000)} HTTP/1.1" ${[200, 304, 404, 500][rnd(4)]} ${rnd(50000)} "-" "agent/${rnd(1000)}"\n`;
    parts.push(line);
    size += line.length;
  }
  return Buffer.from(parts.join(''));
}

describe('zstd levels (compression.level, fast levels included)', () => {
  let pool: ZstdPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('every allowed kind of level round-trips on the worker and on the calling thread, and the level reaches zstd', async () => {
    const data = sample();
    const sizes = new Map<number, number>();
    for (const threads of [1, 0]) {
      pool = new ZstdPool(threads);
      for (const level of [3, 1, -1, -3, -7]) {
        const out = await pool.compress(data, level);
        expect(decompressSync(out).equals(data), `level ${level}, threads ${threads}`).toBe(true);
        if (threads === 1) sizes.set(level, out.length);
        else expect(out.length, `same bytes on the calling thread at level ${level}`).toBe(sizes.get(level));
      }
      if (threads === 1) expect(pool.threads).toBe(1);
      await pool.close();
      pool = undefined;
    }
    // A faster level gives more bytes: the level is really applied (not clamped to 1 or ignored).
    expect(sizes.get(3)!).toBeLessThan(sizes.get(1)!);
    expect(sizes.get(1)!).toBeLessThan(sizes.get(-1)!);
    expect(sizes.get(-1)!).toBeLessThan(sizes.get(-3)!);
    expect(sizes.get(-3)!).toBeLessThan(sizes.get(-7)!);
  });
});
