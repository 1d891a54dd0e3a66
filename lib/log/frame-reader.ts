import { decodeHeader, FRAME_HEADER_BYTES, frameCrcOk, type FrameHeader } from './format.js';
import { readFully, type FsSeam } from './io.js';

export interface Frame extends FrameHeader {
  /** File position of the frame's first byte. */
  position: number;
  meta: Buffer;
  /** Empty when the cursor was asked for headers only. */
  payload: Buffer;
}

/** Why a cursor stopped before `end`: not a frame start, a frame past `end`, or a crc mismatch. */
export type FrameFault = 'magic' | 'length' | 'torn' | 'crc';

export type CursorStep = { frame: Frame } | { fault: FrameFault; position: number } | undefined;

/**
 * Sequential frame reader over [start, end) of one segment file, with a read-ahead chunk so
 * small frames cost no syscall each. Each refill allocates a fresh chunk, so the meta/payload
 * views it hands out stay valid after the cursor moves on (no copy per batch).
 */
export class FrameCursor {
  #chunk: Buffer = Buffer.alloc(0);
  #chunkStart = 0;
  #pos: number;

  constructor(
    readonly io: FsSeam,
    readonly fd: number,
    start: number,
    readonly end: number,
    readonly chunkBytes: number,
  ) {
    this.#pos = start;
  }

  get position(): number {
    return this.#pos;
  }

  /**
   * The next frame, a fault at the current position (the cursor does not advance past it), or
   * undefined at `end`. `body` false (or a predicate on the header returning false) skips the
   * payload: no read and no crc check.
   */
  async next(wantBody: boolean | ((h: FrameHeader) => boolean)): Promise<CursorStep> {
    const pos = this.#pos;
    if (pos >= this.end) return undefined;
    if (pos + FRAME_HEADER_BYTES > this.end) return { fault: 'torn', position: pos };
    let at = await this.#ensure(pos, FRAME_HEADER_BYTES);
    if (at < 0) return { fault: 'torn', position: pos };
    const h = decodeHeader(this.#chunk, at);
    if (typeof h === 'string') return { fault: h, position: pos };
    if (pos + h.size > this.end) return { fault: 'torn', position: pos };
    const body = typeof wantBody === 'function' ? wantBody(h) : wantBody;
    const want = body ? h.size : FRAME_HEADER_BYTES + h.metaLength;
    at = await this.#ensure(pos, want);
    if (at < 0) return { fault: 'torn', position: pos };
    const frameBytes = this.#chunk.subarray(at, at + want);
    if (body && !frameCrcOk(frameBytes)) return { fault: 'crc', position: pos };
    this.#pos = pos + h.size;
    const metaEnd = FRAME_HEADER_BYTES + h.metaLength;
    return {
      frame: {
        ...h,
        position: pos,
        meta: frameBytes.subarray(FRAME_HEADER_BYTES, metaEnd),
        payload: body ? frameBytes.subarray(metaEnd) : frameBytes.subarray(0, 0),
      },
    };
  }

  /** Makes [pos, pos+n) resident; returns its index in the chunk, -1 if the file is shorter. */
  async #ensure(pos: number, n: number): Promise<number> {
    const rel = pos - this.#chunkStart;
    if (rel >= 0 && rel + n <= this.#chunk.length) return rel;
    const len = Math.min(Math.max(n, this.chunkBytes), this.end - pos);
    const chunk = Buffer.allocUnsafe(len);
    const got = await readFully(this.io, this.fd, chunk, 0, len, pos);
    // A file shorter than `end` (cut underneath us) reads as a torn frame upstream.
    this.#chunk = got < len ? chunk.subarray(0, got) : chunk;
    this.#chunkStart = pos;
    return got < n ? -1 : 0;
  }
}
