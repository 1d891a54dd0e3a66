import { writeFully, type FsSeam } from './io.js';

/**
 * A growable array of fixed-size index entries mirrored in an index file. It remembers how
 * much of itself the file already holds, so persisting is an append of the new entries (or a
 * truncate after a rollback) and never a rewrite. Index files are derived data: a failed write
 * just leaves a file that the next open finds inconsistent and rebuilds.
 */
export class IndexBuffer {
  protected buf: Buffer;
  #count = 0;
  /** Entries known to be in the file, in order, unchanged. */
  #persisted = 0;
  /** The file may hold entries past #persisted that must be cut. */
  #fileLonger = false;

  constructor(
    readonly entryBytes: number,
    initial?: Buffer,
  ) {
    const n = initial ? Math.floor(initial.length / entryBytes) : 0;
    this.buf = Buffer.allocUnsafe(Math.max(64, n) * entryBytes);
    if (initial) initial.copy(this.buf, 0, 0, n * entryBytes);
    this.#count = n;
    this.#persisted = n;
    this.#fileLonger = initial !== undefined && initial.length !== n * entryBytes;
  }

  get count(): number {
    return this.#count;
  }

  /** Byte view of the live entries (shares memory). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.#count * this.entryBytes);
  }

  protected reserve(): number {
    const at = this.#count * this.entryBytes;
    if (at + this.entryBytes > this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, at);
      this.buf = bigger;
    }
    this.#count++;
    return at;
  }

  /** Keeps the first `count` entries. */
  truncate(count: number): void {
    if (count >= this.#count) return;
    this.#count = count;
    if (this.#persisted > count) {
      this.#persisted = count;
      this.#fileLonger = true;
    }
  }

  /** Marks the file as holding nothing useful: the next persist rewrites it whole. */
  invalidateFile(): void {
    this.#persisted = 0;
    this.#fileLonger = true;
  }

  /** Declares the file identical to memory (after a rebuild found the same entries). */
  markPersisted(): void {
    this.#persisted = this.#count;
    this.#fileLonger = false;
  }

  get dirty(): boolean {
    return this.#fileLonger || this.#persisted < this.#count;
  }

  /** Brings the file at `fd` in line with memory: append new entries, cut stale ones. */
  async persist(io: FsSeam, fd: number): Promise<void> {
    if (this.#fileLonger) {
      await io.ftruncate(fd, this.#persisted * this.entryBytes);
      this.#fileLonger = false;
    }
    if (this.#persisted < this.#count) {
      const from = this.#persisted * this.entryBytes;
      const to = this.#count * this.entryBytes;
      // Copy: the live buffer may grow (and be replaced) while the write is in flight.
      await writeFully(io, fd, [Buffer.from(this.buf.subarray(from, to))], from);
      this.#persisted = Math.max(this.#persisted, Math.min(this.#count, to / this.entryBytes));
    }
  }
}
