/**
 * A small pool of worker threads doing zstd (de)compression, one call per
 * whole batch; results come back as Promises. Each worker is a whole V8
 * isolate (~10 MiB resident), so workers start only when needed: the first
 * at the first job, another only when every running one is busy, up to
 * `size`; one beyond the first that has been idle for IDLE_STOP_MS stops.
 *
 * With `inlineBelow`, a compression of at most that many bytes runs here on
 * the calling thread instead (level 1 does 64 KiB in well under a
 * millisecond, less than the round trip to a worker costs), and then the
 * first worker too stops once idle for IDLE_STOP_MS: an agent that ships a few
 * lines a second sends only small batches and runs no worker at all.
 *
 * Memory per batch in a worker's hands: its input moves there (no copy when
 * handed over), and so does an output buffer of compressBound(input) bytes
 * from this side's small free list; the worker writes into it and both move
 * back. The exact-size result is copied out here (into memory from `alloc`:
 * the agent's payload slabs, agent/buffer/payload-slabs.ts) and the output
 * buffer waits for the next job. So all per-batch memory is allocated on this thread, as
 * with no worker, and the worker isolate holds nothing between jobs.
 *
 * With `zstdThreads` (the agent), compression never starts a worker: inputs
 * over 512 KiB go to threads libzstd runs itself (zstd-mt.ts: no V8 isolate,
 * ~6 MiB less resident in the agent at full speed), smaller ones run here.
 *
 * A pool of size 0 runs no thread: every job runs on the calling thread (the
 * agent's `compression.threads: 0`). An input handed over (`transfer`) then
 * goes to `recycle` as soon as it is compressed, as a worker would move it back.
 */
import { Worker } from 'node:worker_threads';
import { Compressor, Decompressor } from 'zstd-napi';
import binding from 'zstd-napi/binding.js';
import { LogshipError } from '../errors.js';
import { countsInPlace } from '../protocol/newlines.js';
import { THREAD_MIN_BYTES, ZstdThreads } from './zstd-mt.js';

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  w: Worker;
  /** jobs sent and not yet answered */
  busy: number;
  idleTimer?: NodeJS.Timeout;
}

const IDLE_STOP_MS = 10_000;
/**
 * Output buffers kept for reuse: one per job a worker may hold. The agent's pipeline admits batches
 * while less than its in-flight bound (3 x batch.max_bytes) is pending, so it can hold 4 at once.
 * With 3 kept, the fourth job allocated a new 1 MiB buffer and one was dropped when they came back:
 * 35 new buffers per 512 MiB of nginx lines, each counted by V8 as external memory, which starts
 * full collections. With 4: 4 buffers in all, and the agent's full collections fell from 12-14 to 10
 * and V8's helper threads from 0.26-0.34 to 0.14 CPU s/GiB (2026-12-03, one run each, quiet).
 */
const OUT_KEEP = 4;
/**
 * Output buffers are sized in steps of this many bytes: batches cut at a newline differ by a few
 * bytes, and so do their compressBound()s, so an exactly sized kept buffer could be a few bytes too
 * small for the next batch. In steps, batches of about batch.max_bytes all take the same size.
 */
const OUT_STEP = 64 * 1024;
/**
 * A worker needs little heap: its code, a compression context and the messages (the batches are
 * outside the heap). A 1 MiB young generation and a small stack keep the isolate from growing
 * space it does not need; the old generation keeps V8's default limit, so a worker never dies of it.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1, stackSizeMb: 1 };

export class ZstdPool {
  #size: number;
  #workers: PoolWorker[] = [];
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  #recycle: ((input: Uint8Array) => void) | undefined;
  #inlineBelow: number;
  #outFree: ArrayBuffer[] = [];
  #alloc: (n: number) => Buffer;
  #zt: ZstdThreads | undefined;

  /**
   * @param opts.recycle receives each input the worker is done with (moved back whole), for reuse
   * @param opts.inlineBelow compress inputs of at most this many bytes on the calling thread (0: never; with zstdThreads,
   *   every input of 512 KiB or less is)
   * @param opts.alloc memory for each compression result (the agent's payload slabs, agent/buffer/payload-slabs.ts);
   *   by default a Buffer of its own. Decompression results are never taken from it.
   * @param opts.zstdThreads compress inputs over 512 KiB on zstd's own threads (zstd-mt.ts), `size` + 1 frames at
   *   once (one more, so that a thread is not idle while this thread collects the result before), and everything
   *   smaller on the calling thread: no worker isolate is ever started for compression. Decompression still uses workers.
   */
  constructor(size = 1, opts: { recycle?: (input: Uint8Array) => void; inlineBelow?: number; alloc?: (n: number) => Buffer; zstdThreads?: boolean } = {}) {
    this.#size = Math.max(0, size);
    this.#recycle = opts.recycle;
    this.#alloc = opts.alloc ?? ownBuffer;
    if (opts.zstdThreads && this.#size > 0) this.#zt = new ZstdThreads({ contexts: this.#size + 1, alloc: this.#alloc });
    this.#inlineBelow = this.#size === 0 ? Infinity : (opts.inlineBelow ?? 0);
  }

  /** threads running now: workers (they start on demand, up to the pool's size) and zstd's own (zstdThreads) */
  get threads(): number {
    return this.#workers.length + (this.#zt?.threads ?? 0);
  }

  #spawn(): PoolWorker {
    const w = new Worker(new URL('./zstd-worker.js', import.meta.url), { resourceLimits: WORKER_LIMITS });
    w.unref();
    const pw: PoolWorker = { w, busy: 0 };
    w.on('message', (m: { id: number; n?: number; out?: ArrayBuffer; data?: Uint8Array; input?: Uint8Array; error?: string }) => {
      if (m.input && this.#recycle) this.#recycle(m.input);
      const p = this.#pending.get(m.id);
      let result: Buffer | undefined;
      if (m.out) {
        if (p && m.error === undefined) {
          result = this.#alloc(m.n!);
          result.set(new Uint8Array(m.out, 0, m.n!));
        }
        this.#giveOut(m.out);
      } else if (m.data) result = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      if (!p) return;
      this.#pending.delete(m.id);
      pw.busy--;
      if (pw.busy === 0) this.#idle(pw);
      if (m.error !== undefined) p.reject(new LogshipError('LSH_ERR_CORRUPT', `zstd: ${m.error}`));
      else p.resolve(result!);
    });
    w.on('error', (err) => this.#failAll(err));
    this.#workers.push(pw);
    return pw;
  }

  /** An output buffer of at least `bound` bytes: a free one, else a new one. */
  #takeOut(bound: number): ArrayBuffer {
    for (let i = this.#outFree.length - 1; i >= 0; i--) {
      const ab = this.#outFree[i]!;
      if (ab.byteLength >= bound) {
        this.#outFree.splice(i, 1);
        return ab;
      }
    }
    return Buffer.allocUnsafeSlow(bound).buffer as ArrayBuffer;
  }

  /** Keeps the OUT_KEEP largest output buffers for reuse; a smaller one becomes garbage. */
  #giveOut(ab: ArrayBuffer): void {
    if (this.#closed || ab.byteLength === 0) return;
    this.#outFree.push(ab);
    if (this.#outFree.length > OUT_KEEP) {
      let min = 0;
      for (let i = 1; i < this.#outFree.length; i++) if (this.#outFree[i]!.byteLength < this.#outFree[min]!.byteLength) min = i;
      this.#outFree.splice(min, 1);
    }
  }

  /** No work left: the worker no longer keeps the process alive, and an extra one stops after a while. */
  #idle(pw: PoolWorker): void {
    pw.w.unref();
    if ((this.#workers[0] === pw && this.#inlineBelow === 0) || this.#closed) return;
    clearTimeout(pw.idleTimer);
    pw.idleTimer = setTimeout(() => {
      if (pw.busy > 0 || this.#closed) return;
      this.#workers = this.#workers.filter((x) => x !== pw);
      void pw.w.terminate();
    }, IDLE_STOP_MS);
    pw.idleTimer.unref();
  }

  /** An idle worker, else a new one while below size, else the least busy. */
  #pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const pw of this.#workers) if (!best || pw.busy < best.busy) best = pw;
    if (best && (best.busy === 0 || this.#workers.length >= this.#size)) return best;
    return this.#spawn();
  }

  /**
   * @param transfer the caller gives up `data`'s memory (an ArrayBuffer nobody else uses, e.g. from
   *   Buffer.allocUnsafeSlow, or a read slot of WebAssembly memory): it goes to `recycle` as soon as
   *   compression no longer reads it; an ArrayBuffer is moved to a worker instead of copied (and is
   *   empty here afterwards), WebAssembly memory is copied for a worker and recycled at once.
   */
  compress(data: Buffer, level: number, transfer = false): Promise<Buffer> {
    const zt = this.#zt;
    if (zt && data.byteLength >= THREAD_MIN_BYTES && !this.#closed) {
      const given = transfer && this.#recycle ? () => this.#recycle!(data) : undefined;
      return zt.compress(data, level, given).catch((err: Error) => {
        throw new LogshipError('LSH_ERR_CORRUPT', `zstd: ${err.message}`);
      });
    }
    if ((data.byteLength <= this.#inlineBelow || zt) && !this.#closed) {
      try {
        const out = compressHere(data, level, this.#alloc);
        if (transfer && this.#recycle) this.#recycle(data);
        return Promise.resolve(out);
      } catch (err) {
        return Promise.reject(new LogshipError('LSH_ERR_CORRUPT', `zstd: ${(err as Error).message}`));
      }
    }
    return this.#submit('compress', data, level, transfer);
  }

  decompress(data: Buffer): Promise<Buffer> {
    if (this.#size === 0 && !this.#closed) {
      try {
        return Promise.resolve(decompressSync(data));
      } catch (err) {
        return Promise.reject(new LogshipError('LSH_ERR_CORRUPT', `zstd: ${(err as Error).message}`));
      }
    }
    return this.#submit('decompress', data, 0, false);
  }

  #submit(op: 'compress' | 'decompress', data: Buffer, level: number, transfer: boolean): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new LogshipError('LSH_ERR_CLOSED', 'zstd pool closed'));
    const id = this.#nextId++;
    const pw = this.#pick();
    return new Promise<Buffer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Referenced only while it has work, so an idle pool never keeps the process alive.
      if (pw.busy++ === 0) {
        clearTimeout(pw.idleTimer);
        pw.w.ref();
      }
      // Copy (the caller keeps its bytes, e.g. to retry), into memory that is not zero-filled first,
      // then move the copy to the worker without a second copy.
      let input = data;
      // WebAssembly memory (a read slot, agent/pipeline/read-buffers.ts) cannot be moved: copy it and give it back now.
      const movable = transfer && !countsInPlace(data);
      if (!movable) {
        input = Buffer.allocUnsafeSlow(data.byteLength);
        data.copy(input);
        if (transfer && this.#recycle) this.#recycle(data);
      }
      const inputAb = input.buffer as ArrayBuffer;
      if (op === 'decompress') {
        pw.w.postMessage({ id, op, level, data: input }, [inputAb]);
        return;
      }
      const out = this.#takeOut(Math.ceil(binding.compressBound(data.byteLength) / OUT_STEP) * OUT_STEP);
      pw.w.postMessage({ id, op, level, data: input, out }, [inputAb, out]);
    });
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const pw of this.#workers) {
      pw.busy = 0;
      clearTimeout(pw.idleTimer);
      pw.w.unref();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#zt?.close();
    this.#failAll(new LogshipError('LSH_ERR_CLOSED', 'zstd pool closed'));
    this.#outFree = [];
    await Promise.all(this.#workers.map((pw) => pw.w.terminate()));
  }
}

/** A result's default memory: its own, never a slice of node's shared pool. */
function ownBuffer(n: number): Buffer {
  return Buffer.allocUnsafeSlow(n);
}

const hereContexts = new Map<number, InstanceType<typeof binding.CCtx>>();
let hereScratch = Buffer.alloc(0);
/** Compresses into one reused scratch buffer and returns an exact-size copy (nothing big left as garbage). */
function compressHere(data: Buffer, level: number, alloc: (n: number) => Buffer): Buffer {
  let cctx = hereContexts.get(level);
  if (!cctx) {
    cctx = new binding.CCtx();
    cctx.setParameter(binding.CParameter.compressionLevel, level);
    hereContexts.set(level, cctx);
  }
  const bound = binding.compressBound(data.byteLength);
  if (hereScratch.byteLength < bound) hereScratch = Buffer.allocUnsafeSlow(bound);
  const n = cctx.compress2(hereScratch, data);
  const out = alloc(n);
  hereScratch.copy(out, 0, 0, n);
  return out;
}

let syncDecompressor: Decompressor | undefined;
/** Synchronous decompression for consumers reading small amounts (records API, CLI). */
export function decompressSync(data: Buffer): Buffer {
  syncDecompressor ??= new Decompressor();
  return syncDecompressor.decompress(data);
}

const syncCompressors = new Map<number, Compressor>();
export function compressSync(data: Buffer, level = 1): Buffer {
  let c = syncCompressors.get(level);
  if (!c) {
    c = new Compressor();
    c.setParameters({ compressionLevel: level });
    syncCompressors.set(level, c);
  }
  return c.compress(data);
}
