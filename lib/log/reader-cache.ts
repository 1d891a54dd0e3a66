import type { Segment } from './segment.js';

/**
 * Bounds the descriptors held for sealed segments: least recently read closes first. A
 * descriptor still in use by a read closes when that read releases it (Segment.refs).
 */
export class ReaderCache {
  #open = new Set<Segment>();

  constructor(readonly max: number) {}

  /** A read descriptor for `seg`; pair with seg.release(). */
  async acquire(seg: Segment): Promise<number> {
    const fd = await seg.acquire();
    if (!seg.writable) {
      this.#open.delete(seg);
      this.#open.add(seg);
      for (const s of this.#open) {
        if (this.#open.size <= this.max) break;
        this.#open.delete(s);
        void s.closeFd().catch(() => {});
      }
    }
    return fd;
  }

  forget(seg: Segment): void {
    this.#open.delete(seg);
  }

  get size(): number {
    return this.#open.size;
  }
}
