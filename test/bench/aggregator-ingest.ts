/**
 * Aggregator ingest hot path (issue 4): N producers, each with one request in
 * flight at a time (as an agent does), POST /v1/batches to an in-process
 * aggregator on a real disk with fsync on. Prints ingest MiB/s, acked
 * batches/s and requests/s, and fdatasyncs/s (counted through the fs seam), so
 * the group commit is visible: with many producers, fsyncs/s << acks/s.
 *
 *   npm run build && node dist/test/bench/aggregator-ingest.js [producers ...]
 *   env: BENCH_SECONDS (default 5), BENCH_BATCH_KIB (default 64), BENCH_DIR (default the OS temp dir)
 *
 * Standalone: not one of the scenarios of test/bench/run.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { Aggregator } from '../../aggregator/index.js';
import { parseAggregatorConfig } from '../../aggregator/config.js';
import { realFs, type FsSeam } from '../../lib/log/index.js';
import { silentLogger } from '../../lib/obs/logger.js';
import { BATCHES_CONTENT_TYPE, CODEC_NONE, encodeRequest } from '../../lib/protocol/batches.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const BATCH_BYTES = Number(process.env.BENCH_BATCH_KIB ?? 64) * 1024;

interface Result {
  producers: number;
  seconds: number;
  mibPerSec: number;
  batchesPerSec: number;
  fsyncsPerSec: number;
  p50ms: number;
  p99ms: number;
}

function payload(producer: number): { buf: Buffer; lines: number } {
  let s = '';
  let lines = 0;
  while (s.length < BATCH_BYTES - 200) {
    s += `2024-05-01T12:00:00.000Z host-${producer} app[${lines}]: GET /api/v1/items/${(lines * 7919) % 100003} 200 ${lines % 997}ms ua="bench"\n`;
    lines++;
  }
  return { buf: Buffer.from(s), lines };
}

async function run(producers: number): Promise<Result> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'logship-bench-agg-'));
  let fsyncs = 0;
  const io: FsSeam = {
    ...realFs,
    fdatasync: (fd) => {
      fsyncs++;
      return realFs.fdatasync(fd);
    },
  };
  const config = parseAggregatorConfig(`listen: 127.0.0.1:0\ndata_dir: ${dir}\ntopics:\n  default: {partitions: 4}\n`, 'bench.yaml', {});
  const agg = new Aggregator({ config, logger: silentLogger(), io });
  const addr = await agg.start();
  const pool = new Pool(`http://127.0.0.1:${addr.port}`, { connections: producers, pipelining: 1 });
  let bytes = 0;
  let batches = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  fsyncs = 0;
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      const { buf, lines } = payload(p);
      for (let seq = 0; performance.now() < deadline; seq++) {
        const body = Buffer.concat(
          encodeRequest({
            producer: `bench-${p}/1`,
            epoch: 1,
            host: `host-${p}`,
            batches: [{ topic: 'bench', source: `/var/log/app-${p}.log`, seq, sourceOffset: seq * buf.length, lines, timestamp: Date.now(), codec: CODEC_NONE, flags: 0, rawLength: buf.length, payload: buf }],
          }),
        );
        const s = performance.now();
        const res = await pool.request({ path: '/v1/batches', method: 'POST', body, headers: { 'content-type': BATCHES_CONTENT_TYPE } });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
        lat.push(performance.now() - s);
        bytes += buf.length;
        batches++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const syncs = fsyncs;
  await pool.close();
  await agg.close();
  await rm(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  return {
    producers,
    seconds,
    mibPerSec: bytes / 1048576 / seconds,
    batchesPerSec: batches / seconds,
    fsyncsPerSec: syncs / seconds,
    p50ms: lat[Math.floor(lat.length * 0.5)] ?? 0,
    p99ms: lat[Math.floor(lat.length * 0.99)] ?? 0,
  };
}

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
console.log(`aggregator ingest: ${BATCH_BYTES / 1024} KiB batches (uncompressed), 4 partitions, fsync on, ${SECONDS} s per run`);
console.log('producers  MiB/s   batches/s  fsyncs/s  ack p50 ms  ack p99 ms');
for (const n of counts.length ? counts : [1, 50]) {
  const r = await run(n);
  console.log(
    `${String(r.producers).padStart(9)}  ${r.mibPerSec.toFixed(1).padStart(6)}  ${r.batchesPerSec.toFixed(0).padStart(9)}  ${r.fsyncsPerSec.toFixed(0).padStart(8)}  ${r.p50ms.toFixed(2).padStart(10)}  ${r.p99ms.toFixed(2).padStart(10)}`,
  );
}
