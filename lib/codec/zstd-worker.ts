// Runs in a worker thread: one zstd call per message, so compression never blocks the event loop.
import { parentPort } from 'node:worker_threads';
import { Compressor, Decompressor } from 'zstd-napi';

interface Job {
  id: number;
  op: 'compress' | 'decompress';
  level: number;
  data: Uint8Array;
}

const compressors = new Map<number, Compressor>();
const decompressor = new Decompressor();

function compressor(level: number): Compressor {
  let c = compressors.get(level);
  if (!c) {
    c = new Compressor();
    c.setParameters({ compressionLevel: level });
    compressors.set(level, c);
  }
  return c;
}

parentPort!.on('message', (job: Job) => {
  try {
    const input = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
    const out = job.op === 'compress' ? compressor(job.level).compress(input) : decompressor.decompress(input);
    const ab = out.buffer as ArrayBuffer;
    // A result that owns its whole ArrayBuffer can be moved instead of copied.
    const transferable = out.byteOffset === 0 && out.byteLength === ab.byteLength;
    parentPort!.postMessage({ id: job.id, data: out }, transferable ? [ab] : []);
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message });
  }
});
