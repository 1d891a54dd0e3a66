/**
 * Hot path: SegmentLog.append with fsync on. Appends TOTAL_MIB of BATCH_KIB batches (default
 * 1 GiB of 1 MiB batches) from CONCURRENCY appenders and prints MB/s and fdatasync count.
 *   node dist/test/bench/log-append.js [totalMiB=1024] [batchKiB=1024] [concurrency=1] [dir=os.tmpdir()]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { realFs, SegmentLog, type FsSeam } from '../../lib/log/index.js';

async function main(): Promise<void> {
  const [totalMiB = 1024, batchKiB = 1024, concurrency = 1] = process.argv.slice(2, 5).map(Number);
  const base = process.argv[5] ?? os.tmpdir();
  const dir = await mkdtemp(path.join(base, 'logship-bench-'));
  let syncs = 0;
  const io: FsSeam = { ...realFs, fdatasync: (fd) => (syncs++, realFs.fdatasync(fd)) };
  const log = await SegmentLog.open({ dir, fsync: true, io });
  const payload = randomBytes(batchKiB * 1024);
  const meta = Buffer.from('{"source":"bench","offset":0}');
  const batches = Math.round((totalMiB * 1024) / batchKiB);
  let issued = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < batches) {
        issued++;
        await log.append([{ count: 1000, timestamp: Date.now(), attributes: 1, meta, payload }]);
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  const mb = (log.sizeBytes / 1e6).toFixed(0);
  console.log(
    `log-append: ${mb} MB in ${batches} x ${batchKiB} KiB batches, concurrency ${concurrency}, fsync on: ` +
      `${(log.sizeBytes / 1e6 / secs).toFixed(1)} MB/s, ${(batches / secs).toFixed(0)} appends/s, ${syncs} fdatasyncs, ${secs.toFixed(2)} s`,
  );
  await log.close();
  await rm(dir, { recursive: true, force: true });
}

await main();
