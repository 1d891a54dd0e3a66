// Runs in a worker thread: one zstd call per message, so compression never blocks the event loop.
//
// Memory: the thread is kept to what compression needs. It loads only zstd's native binding (the
// zstd-napi classes, and node:stream with them, only if a decompression is ever asked for), and it
// allocates nothing per batch: the pool moves in the input and an output buffer it owns, the
// compressed bytes are written into that buffer, and both move back with the answer. So no batch
// memory is allocated on this thread (where only this isolate's rare collections would free it,
// in this thread's own malloc arena); the pool copies the exact-size result out and reuses both.
import { parentPort } from 'node:worker_threads';
import binding from 'zstd-napi/binding.js';

export interface CompressJob {
  id: number;
  op: 'compress';
  level: number;
  data: Uint8Array;
  /** the pool's output buffer, at least compressBound(data) bytes */
  out: ArrayBuffer;
}
export interface DecompressJob {
  id: number;
  op: 'decompress';
  level: number;
  data: Uint8Array;
}

const contexts = new Map<number, InstanceType<typeof binding.CCtx>>();
let decompressor: Promise<{ decompress(b: Buffer): Buffer }> | undefined;

function context(level: number): InstanceType<typeof binding.CCtx> {
  let cctx = contexts.get(level);
  if (!cctx) {
    cctx = new binding.CCtx();
    cctx.setParameter(binding.CParameter.compressionLevel, level);
    contexts.set(level, cctx);
  }
  return cctx;
}

parentPort!.on('message', (job: CompressJob | DecompressJob) => {
  const inputAb = job.data.buffer as ArrayBuffer;
  const input = new Uint8Array(inputAb, job.data.byteOffset, job.data.byteLength);
  if (job.op === 'compress') {
    // The input and the output buffer are the pool's: both move back, whatever happens.
    const back = [inputAb, job.out];
    try {
      const n = context(job.level).compress2(new Uint8Array(job.out), input);
      parentPort!.postMessage({ id: job.id, n, out: job.out, input: job.data }, back);
    } catch (err) {
      parentPort!.postMessage({ id: job.id, error: (err as Error).message, out: job.out, input: job.data }, back);
    }
    return;
  }
  // Decompression (not on the agent's path): the result's size is not known ahead, so it is allocated here.
  decompressor ??= import('zstd-napi').then((z) => new z.Decompressor());
  decompressor
    .then((d) => {
      const out = d.decompress(Buffer.from(inputAb, job.data.byteOffset, job.data.byteLength));
      const ab = out.buffer as ArrayBuffer;
      const transferable = out.byteOffset === 0 && out.byteLength === ab.byteLength && ab !== inputAb;
      parentPort!.postMessage({ id: job.id, data: out, input: job.data }, transferable ? [ab, inputAb] : [inputAb]);
    })
    .catch((err: unknown) => parentPort!.postMessage({ id: job.id, error: (err as Error).message, input: job.data }, [inputAb]));
});
