/**
 * Memory for file reads, reused. A full-size read (batch.max_bytes) goes into
 * a slot: a SharedArrayBuffer that the compression worker reads in place, so
 * a batch's bytes are neither copied nor moved between threads, and when the
 * worker is done the same slot takes the next read.
 *
 * Why shared memory and not an ArrayBuffer moved to the worker and back: V8
 * counts every new ArrayBuffer object (one moved in from another thread too)
 * against the old generation's limit until the next full collection, so a
 * buffer moved back and forth per batch made the agent run a major garbage
 * collection every few tens of MiB shipped, ~10 % of its CPU at full speed.
 * The slots are created once and stay the same objects.
 *
 * At most `keep` free slots wait; a slot returned beyond that is forgotten
 * (`onForget` tells the compression pool, whose worker holds it too).
 * Small reads (below half the size) are plain allocations.
 */
export class ReadBuffers {
  readonly size: number;
  #keep: number;
  #free: SharedArrayBuffer[] = [];
  /** slots handed out and not yet returned: a slot is returned once, never twice */
  #out = new WeakSet<SharedArrayBuffer>();
  #onForget: ((slot: SharedArrayBuffer) => void) | undefined;

  constructor(size: number, keep = 4, onForget?: (slot: SharedArrayBuffer) => void) {
    this.size = size;
    this.#keep = keep;
    this.#onForget = onForget;
  }

  /** A Buffer of `n` bytes that the caller owns entirely until it gives it back (or, for a plain allocation, moves it). */
  take(n: number): Buffer {
    // Below half the size a whole slot would be mostly waste (and a small file's read should stay small).
    if (n > this.size || n < this.size / 2) return Buffer.allocUnsafeSlow(n);
    const slot = this.#free.pop() ?? new SharedArrayBuffer(this.size);
    this.#out.add(slot);
    return Buffer.from(slot, 0, n);
  }

  /** Gives back a slot nobody uses any more (its batch is compressed, or the read was not shipped). Anything else is ignored. */
  give(mem: ArrayBufferLike): void {
    if (!(mem instanceof SharedArrayBuffer) || !this.#out.has(mem)) return;
    this.#out.delete(mem);
    if (this.#free.length < this.#keep) this.#free.push(mem);
    else this.#onForget?.(mem);
  }

  /** slots waiting for reuse */
  get waiting(): number {
    return this.#free.length;
  }
}
