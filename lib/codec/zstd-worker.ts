// Runs in a worker thread: one zstd call per message, so compression never blocks the event loop.
//
// Memory: this isolate allocates almost no JS objects, so its garbage collections are rare, and
// any ArrayBuffer left here as garbage stays resident until one happens (tens of MiB at full
// speed). So nothing big is left behind: compression writes into one reused scratch buffer and
// copies the result out to an exact-size buffer that moves to the caller, and an input that was
// moved here moves back with the answer (the caller may reuse it; its garbage is collected there).
import { parentPort } from 'node:worker_threads';
import { Decompressor } from 'zstd-napi';
import binding from 'zstd-napi/binding.js';

interface Job {
  id: number;
  op: 'compress' | 'decompress';
  level: number;
  data: Uint8Array;
}

const contexts = new Map<number, InstanceType<typeof binding.CCtx>>();
const decompressor = new Decompressor();
let scratch = Buffer.alloc(0);

function compress(input: Buffer, level: number): Buffer {
  let cctx = contexts.get(level);
  if (!cctx) {
    cctx = new binding.CCtx();
    cctx.setParameter(binding.CParameter.compressionLevel, level);
    contexts.set(level, cctx);
  }
  const bound = binding.compressBound(input.length);
  if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(bound);
  const n = cctx.compress2(scratch, input);
  const out = Buffer.allocUnsafeSlow(n);
  scratch.copy(out, 0, 0, n);
  return out;
}

parentPort!.on('message', (job: Job) => {
  const inputAb = job.data.buffer as ArrayBuffer;
  // The pool always moves the input's whole ArrayBuffer here (its own copy, or one the caller gave up): move it back.
  const back = [inputAb];
  try {
    const input = Buffer.from(inputAb, job.data.byteOffset, job.data.byteLength);
    const out = job.op === 'compress' ? compress(input, job.level) : decompressor.decompress(input);
    const ab = out.buffer as ArrayBuffer;
    // A result that owns its whole ArrayBuffer can be moved instead of copied.
    const transferable = out.byteOffset === 0 && out.byteLength === ab.byteLength && ab !== inputAb;
    parentPort!.postMessage({ id: job.id, data: out, input: job.data }, transferable ? [ab, ...back] : back);
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message });
  }
});
