/**
 * Memory for the agent's compressed batch payloads, reused explicitly instead
 * of left to the garbage collector (issue 17).
 *
 * A payload is carved from a slab: a fixed block of SLAB_BYTES outside the V8
 * heap, cut front to back. Each slab counts its references: a payload has one
 * per holder (the pipeline until it is appended, the disk buffer's recent
 * cache, every forwarder request that includes it until node can no longer
 * write its bytes). A slab whose count falls to 0 is reused from its start.
 * Nothing in a slab is ever freed by a collection, so the agent no longer
 * forces a full garbage collection every few MiB of payload.
 *
 * The count is per slab, not per payload: a slab is reused only when none of
 * its payloads has a holder left. Releasing too early is silent corruption (a
 * request would send bytes overwritten by a newer batch), releasing too late
 * or never only keeps a slab from reuse. So every holder releases exactly once,
 * and where a path cannot know, it keeps its reference (a shutdown).
 *
 * Bounded: at most `maxSlabs` slabs exist, and at most `keepFree` of them
 * unused (one freed beyond that is given up to the collector). A payload larger than half a slab,
 * or one that finds every slab in use, gets a plain allocation of its own
 * (`plainTaken` counts them); the disk buffer reports those to the payload
 * collector (agent/heap.ts), which frees them as before.
 *
 * Test mode (`poison`): a slab whose count falls to 0 is filled with POISON at
 * once, so any later use of a payload released too early sends bytes the
 * aggregator refuses (CRC), and the exactly-once tests lose lines.
 */

/**
 * Bytes per slab: about seven payloads of 1 MiB batches at zstd level 1 (~140 KiB each). Measured
 * on 260 MiB of nginx lines (2026-12-02): 1 MiB slabs peaked at 4 in use, 2 MiB slabs at 3 (6 MiB).
 */
export const SLAB_BYTES = 1 << 20;
/** The byte a released slab is filled with in test mode. */
export const POISON = 0xa5;

interface Slab {
  mem: Buffer;
  /** next free byte */
  pos: number;
  /** references held on payloads cut from it */
  refs: number;
}

export interface PayloadSlabsOptions {
  /** most slabs ever allocated at once (memory bound: maxSlabs * slabBytes) */
  maxSlabs: number;
  slabBytes?: number;
  /** fill a slab with POISON as soon as it is free (tests) */
  poison?: boolean;
  /** free slabs kept for reuse (default KEEP_FREE); one freed beyond them is given up */
  keepFree?: number;
  /** bytes of a slab given up: garbage outside the heap until the next full collection (the payload collector counts it) */
  onGiveUp?: (bytes: number) => void;
}

/**
 * Free slabs kept beyond those in use. At full speed the agent cycles through about four, so a
 * slab rarely waits; more are kept only while they are in use (an outage holds a request's and
 * the recent cache's slabs), and given up as they come free instead of staying for the drain.
 */
export const KEEP_FREE = 2;

/**
 * Slabs enough for every reference the agent can hold at once, plus two for slabs kept by a few
 * payloads each: the recent cache (`recentBytes`), a request being written (`requestBytes`) and the
 * pipeline's batches compressed but not yet appended (at most `inFlightBytes`, counted uncompressed).
 */
export function slabsFor(o: { recentBytes: number; requestBytes: number; inFlightBytes: number }, slabBytes = SLAB_BYTES): number {
  return Math.ceil((o.recentBytes + o.requestBytes + o.inFlightBytes) / slabBytes) + 2;
}

/** LOGSHIP_TEST_POISON_SLABS=1, honoured only with LOGSHIP_TEST_HOOKS=1. */
export function poisonFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LOGSHIP_TEST_HOOKS === '1' && env.LOGSHIP_TEST_POISON_SLABS === '1';
}

export class PayloadSlabs {
  readonly slabBytes: number;
  readonly maxSlabs: number;
  #poison: boolean;
  #keepFree: number;
  #onGiveUp: ((bytes: number) => void) | undefined;
  #of = new Map<ArrayBuffer, Slab>();
  /** the slab being cut */
  #current: Slab | undefined;
  /** slabs with no reference left, not current */
  #free: Slab[] = [];
  /** payloads given plain allocations (diagnostics, tests) */
  plainTaken = 0;
  /** slabs reused from their start */
  reuses = 0;

  constructor(o: PayloadSlabsOptions) {
    this.slabBytes = o.slabBytes ?? SLAB_BYTES;
    this.maxSlabs = Math.max(0, Math.floor(o.maxSlabs));
    this.#poison = o.poison === true;
    this.#keepFree = o.keepFree ?? KEEP_FREE;
    this.#onGiveUp = o.onGiveUp;
  }

  /** slabs allocated now */
  get slabs(): number {
    return this.#of.size;
  }

  /** references held now, over all slabs */
  get references(): number {
    let n = 0;
    for (const s of this.#of.values()) n += s.refs;
    return n;
  }

  /**
   * `n` bytes for one payload, with one reference for the caller (who must release it once). Never
   * waits: when no slab has room it is a plain allocation, which release() ignores.
   */
  take(n: number): Buffer {
    if (n > 0 && n <= this.slabBytes / 2) {
      const s = this.#room(n);
      if (s) {
        const b = s.mem.subarray(s.pos, s.pos + n);
        s.pos += n;
        s.refs++;
        return b;
      }
    }
    this.plainTaken++;
    return Buffer.allocUnsafeSlow(n); // its own memory, never a slice of node's shared pool
  }

  /** A slab with `n` bytes left: the current one, else a free one, else a new one while under the bound. */
  #room(n: number): Slab | undefined {
    const c = this.#current;
    if (c && c.pos + n <= c.mem.byteLength) return c;
    // The current slab is left to its holders; it is freed when its last reference goes.
    this.#current = undefined;
    let s = this.#free.pop();
    if (s) {
      this.reuses++;
    } else if (this.#of.size < this.maxSlabs) {
      const mem = Buffer.allocUnsafeSlow(this.slabBytes);
      s = { mem, pos: 0, refs: 0 };
      this.#of.set(mem.buffer as ArrayBuffer, s);
    } else {
      return undefined;
    }
    s.pos = 0;
    this.#current = s;
    return s;
  }

  /** Is `b` cut from one of these slabs (not a plain allocation)? */
  holds(b: Buffer): boolean {
    return this.#of.has(b.buffer as ArrayBuffer);
  }

  /** One more reference on a payload that take() returned (a no-op for a plain allocation). */
  retain(b: Buffer): void {
    const s = this.#of.get(b.buffer as ArrayBuffer);
    if (s) s.refs++;
  }

  /** Gives back one reference (a no-op for a plain allocation); the slab is reused once none is left. */
  release(b: Buffer): void {
    const s = this.#of.get(b.buffer as ArrayBuffer);
    if (!s) return;
    if (s.refs <= 0) throw new Error('payload slab released more often than referenced (a bug: report it)');
    if (--s.refs > 0) return;
    if (this.#poison) s.mem.fill(POISON);
    if (s === this.#current) s.pos = 0;
    else if (this.#free.length < this.#keepFree) this.#free.push(s);
    else this.#giveUp(s);
  }

  #giveUp(s: Slab): void {
    this.#of.delete(s.mem.buffer as ArrayBuffer);
    this.#onGiveUp?.(s.mem.byteLength);
  }

  /** Forgets the slabs nobody references (an agent gone quiet): their memory goes with the next collection. Bytes given up. */
  shrink(): number {
    let bytes = 0;
    const drop = [...this.#free];
    if (this.#current && this.#current.refs === 0) drop.push(this.#current);
    for (const s of drop) {
      this.#of.delete(s.mem.buffer as ArrayBuffer);
      bytes += s.mem.byteLength;
    }
    this.#free = [];
    if (this.#current && this.#current.refs === 0) this.#current = undefined;
    return bytes;
  }
}
