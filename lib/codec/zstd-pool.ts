/**
 * A small pool of worker threads doing zstd (de)compression, one call per
 * whole batch. Jobs are spread round-robin; results come back as Promises.
 */
import { Worker } from 'node:worker_threads';
import { Compressor, Decompressor } from 'zstd-napi';
import { LogshipError } from '../errors.js';

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

export class ZstdPool {
  #workers: Worker[] = [];
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #rr = 0;
  #closed = false;

  constructor(size = 1) {
    const url = new URL('./zstd-worker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      // A small young generation: the worker only holds one batch at a time, and a big nursery is pure RSS.
      const w = new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      w.unref();
      w.on('message', (m: { id: number; data?: Uint8Array; error?: string }) => {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#pending.delete(m.id);
        if (m.error !== undefined) p.reject(new LogshipError('LSH_ERR_CORRUPT', `zstd: ${m.error}`));
        else p.resolve(Buffer.from(m.data!.buffer, m.data!.byteOffset, m.data!.byteLength));
      });
      w.on('error', (err) => this.#failAll(err));
      this.#workers.push(w);
    }
  }

  /**
   * @param transfer the caller gives up `data`'s memory (an ArrayBuffer nobody else uses, e.g. from
   *   Buffer.allocUnsafeSlow): it is moved to the worker instead of copied, and is empty here afterwards.
   */
  compress(data: Buffer, level: number, transfer = false): Promise<Buffer> {
    return this.#submit('compress', data, level, transfer);
  }

  decompress(data: Buffer): Promise<Buffer> {
    return this.#submit('decompress', data, 0, false);
  }

  #submit(op: 'compress' | 'decompress', data: Buffer, level: number, transfer: boolean): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new LogshipError('LSH_ERR_CLOSED', 'zstd pool closed'));
    const id = this.#nextId++;
    const w = this.#workers[this.#rr++ % this.#workers.length]!;
    return new Promise<Buffer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) w.ref();
      // Copy (the caller keeps its bytes, e.g. to retry), into memory that is not zero-filled first,
      // then move the copy to the worker without a second copy.
      if (transfer) {
        w.postMessage({ id, op, level, data }, [data.buffer as ArrayBuffer]);
        return;
      }
      const copy = Buffer.allocUnsafeSlow(data.byteLength);
      data.copy(copy);
      w.postMessage({ id, op, level, data: copy }, [copy.buffer]);
    }).finally(() => {
      if (this.#pending.size === 0) for (const x of this.#workers) x.unref();
    });
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new LogshipError('LSH_ERR_CLOSED', 'zstd pool closed'));
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
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
