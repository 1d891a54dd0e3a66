// Child process for test/unit/lib/log/crash.test.ts: appends to a segment log with fsync on, a
// few appends in flight at once, and prints one "ACK <offset> <key>" line per batch only after
// its append resolved. The parent SIGKILLs it at a random moment and checks every ACK survived.
// Usage: node log-crash-child.mjs <compiled lib/log/index.js> <dir> <runId>
import { pathToFileURL } from 'node:url';

const [modulePath, dir, runId] = process.argv.slice(2);
const { SegmentLog } = await import(pathToFileURL(modulePath).href);

/** Same content rule as makeBatch() in log-fixtures.ts: the key repeated, cut to length. */
function payloadFor(key, n) {
  const unit = Buffer.from(`${key}|`);
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i += unit.length) unit.copy(buf, i, 0, Math.min(unit.length, n - i));
  return buf;
}

const log = await SegmentLog.open({ dir, fsync: true, segmentBytes: 256 * 1024, indexIntervalBytes: 4096 });
process.stdout.write(`READY ${log.nextOffset}\n`);

let seq = 0;
async function worker() {
  for (;;) {
    const batches = [];
    const n = 1 + Math.floor(Math.random() * 3);
    for (let i = 0; i < n; i++) {
      const len = Math.floor(Math.random() * 20000);
      const key = `${runId}:${seq++}:${len}`;
      batches.push({ count: 1 + Math.floor(Math.random() * 5), timestamp: Date.now(), attributes: seq & 7, meta: Buffer.from(key), payload: payloadFor(key, len) });
    }
    const offsets = await log.append(batches);
    // Pipes are synchronous on Linux: a printed line is in the parent's pipe before the next append.
    process.stdout.write(offsets.map((o, i) => `ACK ${o} ${batches[i].meta.toString()}\n`).join(''));
  }
}
await Promise.all([worker(), worker(), worker(), worker()]);
