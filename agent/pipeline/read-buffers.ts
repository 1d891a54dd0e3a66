/**
 * Memory for file reads, reused. A full-size read (batch.max_bytes) goes into
 * an ArrayBuffer that is handed to compression and given back as soon as zstd
 * holds its own copy (lib/codec/zstd-mt.ts) or the batch is compressed; here it
 * waits for the next read instead of becoming garbage. At full speed that spares a fresh mapping of batch.max_bytes (and
 * its page faults) per batch, and memory that only a garbage collection would
 * return. At most `keep` buffers wait; small reads are plain allocations.
 */
export class ReadBuffers {
  readonly size: number;
  #keep: number;
  #free: ArrayBuffer[] = [];

  constructor(size: number, keep = 4) {
    this.size = size;
    this.#keep = keep;
  }

  /** A Buffer of `n` bytes that the caller owns entirely (it may be moved to a worker). */
  take(n: number): Buffer {
    // Below half the size a whole buffer would be mostly waste (and a small file's read should stay small).
    if (n > this.size || n < this.size / 2) return Buffer.allocUnsafeSlow(n);
    const ab = this.#free.pop();
    return ab ? Buffer.from(ab, 0, n) : Buffer.from(Buffer.allocUnsafeSlow(this.size).buffer, 0, n);
  }

  /** Gives back memory nobody uses any more (a read buffer returned by the worker). */
  give(ab: ArrayBuffer): void {
    if (ab.byteLength === this.size && this.#free.length < this.#keep) this.#free.push(ab);
  }

  /** buffers waiting for reuse */
  get waiting(): number {
    return this.#free.length;
  }
}
