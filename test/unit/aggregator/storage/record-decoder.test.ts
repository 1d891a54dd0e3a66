/**
 * The storage's record decoder: stored batches -> records; a poisoned batch
 * (a zstd payload that inflates far beyond its declared raw length, as an
 * older version could store) is skipped and reported once, and the read goes
 * on past it. The hostile suite (test/integration/aggregator-hostile.test.ts)
 * drives the same through a real aggregator and checks its RSS stays under
 * 300 MiB while readers pass over such batches.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../../../aggregator/storage/local.js';
import { RecordDecoder, type SkippedBatch } from '../../../../aggregator/storage/record-decoder.js';
import { PayloadPool } from '../../../../lib/protocol/payload-pool.js';
import { compressSync } from '../../../../lib/codec/zstd-pool.js';
import { CODEC_NONE, CODEC_ZSTD } from '../../../../lib/protocol/batches.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir } from '../../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('RecordDecoder', () => {
  it('skips a zstd bomb stored with a small declared length, reports it once, and reads on', async () => {
    const t = await tempDir('logship-decoder-');
    cleanups.push(t.cleanup);
    const storage = new LocalStorage({ dataDir: t.dir, logger: silentLogger(), fsync: false, settingsFor: () => ({ partitions: 1, retention: 86_400_000, retention_bytes: 2 ** 40, segment_bytes: 1 << 26, segment_ms: 86_400_000 }) });
    await storage.open();
    cleanups.push(() => storage.close());
    const pool = new PayloadPool(1, () => undefined);
    cleanups.push(() => pool.close());
    const skipped: SkippedBatch[] = [];
    const decoder = new RecordDecoder({ payloads: pool, maxRawBytes: 1 << 20, onSkipped: (s) => skipped.push(s) });
    const meta = (codec: number, rawLength: number, sourceOffset = 0) => ({ flags: 0, codec, host: 'old', source: '/old.log', sourceOffset, rawLength });
    const first = Buffer.from('before\n');
    const good = Buffer.from('one\ntwo\n');
    const bomb = compressSync(Buffer.alloc(64 << 20, 0x0a));
    await storage.withTopic('legacy', true, async (topic) => {
      const p = topic!.partitions[0]!;
      await p.appendPlain([
        { meta: meta(CODEC_NONE, first.length), payload: first, lines: 1, timestamp: 1_700_000_000_000 },
        { meta: meta(CODEC_ZSTD, 100), payload: bomb, lines: 100, timestamp: 1_700_000_000_000 },
        { meta: meta(CODEC_ZSTD, good.length, 40), payload: compressSync(good), lines: 2, timestamp: 1_700_000_000_001 },
      ]);
      const a = await decoder.read(p, 0, 1 << 20);
      expect(a.records.map((r) => [r.offset, r.message])).toEqual([
        [0, 'before'],
        [101, 'one'],
        [102, 'two'],
      ]);
      expect(a.next).toBe(103);
      expect(a.records[2]).toMatchObject({ host: 'old', source: '/old.log', source_offset: 44, timestamp: '2023-11-14T22:13:20.001Z' });
      expect(skipped).toEqual([expect.objectContaining({ topic: 'legacy', partition: 0, baseOffset: 1, lines: 100 })]);
      // Starting at the bomb: stepped over, the next batch is served.
      const b = await decoder.read(p, 1, 1 << 20);
      expect(b.records.map((r) => r.offset)).toEqual([101, 102]);
      expect(skipped).toHaveLength(2);
    });
  });
});
