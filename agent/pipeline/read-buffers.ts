/**
 * Memory for file reads, reused. A full-size read (batch.max_bytes, or at
 * least half of it) is handed to compression and given back as soon as zstd
 * holds its own copy (lib/codec/zstd-mt.ts) or the batch is compressed; here
 * it waits for the next read instead of becoming garbage.
 *
 * Those reads land in slots of one block of WebAssembly memory
 * (countableMemory in lib/protocol/newlines.ts), where the line counter
 * counts them in place: the tailer's cut no longer copies each batch into
 * the counter's memory first (one memcpy of every byte read, on the main
 * thread). The block is made on the first full-size read (an agent that
 * never reads a whole batch at once never makes it) and never grows, so a
 * slot's view stays valid. When every slot is out (or WebAssembly SIMD is
 * missing), a read gets a plain ArrayBuffer as before: at most `keep` of
 * those wait for reuse. Small reads are plain allocations.
 *
 * Every buffer take() returns must come back through give() once nobody
 * reads it (the pipeline after compression, the tailer when it does not
 * hand the read on): a slot that is never given back is lost to the pool
 * (reads then fall back to allocations), never handed out twice.
 */
import { countableMemory, releaseCountableMemory } from '../../lib/protocol/newlines.js';

/** Slots in the block: the pipeline holds about 3 batches in flight, zstd copies each at once, plus reads in progress. */
const SLOTS = 6;
/** A slot given back is filled with this byte under LOGSHIP_TEST_POISON_SLABS=1: a read used after its release shows. */
const POISON = 0xa5;

export class ReadBuffers {
  readonly size: number;
  #keep: number;
  #free: ArrayBuffer[] = [];
  #slots: number;
  #block: Buffer | undefined | null;
  /** free[i]: slot i may be handed out */
  #slotFree: boolean[] = [];
  #poison: boolean;
  /** gives of a slot that was free already (a caller's bug; ignored) */
  doubleGives = 0;

  constructor(size: number, keep = 4, opts: { slots?: number; poison?: boolean } = {}) {
    this.size = size;
    this.#keep = keep;
    this.#slots = opts.slots ?? SLOTS;
    this.#poison = opts.poison ?? process.env.LOGSHIP_TEST_POISON_SLABS === '1';
  }

  /** A Buffer of `n` bytes that the caller owns until it gives it back. */
  take(n: number): Buffer {
    // Below half the size a whole buffer would be mostly waste (and a small file's read should stay small).
    if (n > this.size || n < this.size / 2) return Buffer.allocUnsafeSlow(n);
    const slot = this.#takeSlot();
    if (slot >= 0) return this.#block!.subarray(slot * this.size, slot * this.size + n);
    const ab = this.#free.pop();
    return ab ? Buffer.from(ab, 0, n) : Buffer.from(Buffer.allocUnsafeSlow(this.size).buffer, 0, n);
  }

  #takeSlot(): number {
    if (this.#block === undefined) {
      // null: no WebAssembly SIMD, or no memory for the block; plain buffers from then on.
      let block: Buffer | undefined;
      try {
        block = this.#slots > 0 ? countableMemory(this.#slots * this.size) : undefined;
      } catch {
        block = undefined;
      }
      this.#block = block ?? null;
      if (block) this.#slotFree = new Array<boolean>(this.#slots).fill(true);
    }
    if (!this.#block) return -1;
    const i = this.#slotFree.indexOf(true);
    if (i >= 0) this.#slotFree[i] = false;
    return i;
  }

  /**
   * Gives back a buffer take() returned (or a view of it from its start, as the cut is) once
   * nobody reads it any more; other memory is kept for reuse only when it is a whole plain read buffer.
   */
  give(b: Uint8Array): void {
    if (this.#block && b.buffer === this.#block.buffer) {
      const i = Math.floor((b.byteOffset - this.#block.byteOffset) / this.size);
      if (i < 0 || i >= this.#slots) return;
      if (this.#slotFree[i]) {
        this.doubleGives++;
        return;
      }
      if (this.#poison) this.#block.fill(POISON, i * this.size, (i + 1) * this.size);
      this.#slotFree[i] = true;
      return;
    }
    const ab = b.buffer as ArrayBuffer;
    if (ab.byteLength === this.size && this.#free.length < this.#keep) this.#free.push(ab);
  }

  /**
   * The owner is done (the agent stops, or restarts in this process on SIGHUP, which makes a new
   * ReadBuffers): the block goes back (releaseCountableMemory) so it can be collected; without this
   * every reload kept another slots x batch.max_bytes for good. Reads after this are plain allocations.
   */
  close(): void {
    if (this.#block) releaseCountableMemory(this.#block);
    this.#block = null;
    this.#slotFree = [];
    this.#free = [];
  }

  /** plain buffers waiting for reuse */
  get waiting(): number {
    return this.#free.length;
  }

  /** slots handed out and not given back */
  get slotsOut(): number {
    return this.#slotFree.filter((f) => !f).length;
  }
}
