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
 * A header-only step after a frame at least half a chunk long reads this much instead of a
 * chunk: the next header is all such a read can use (issue 17: scans of the agent's ~140 KiB
 * frames read 64 KiB each for a 36-byte header and a small meta).
 */
export const HEADER_READ_BYTES = 4096;

/**
 * Sequential frame reader over [start, end) of one segment file, with a read-ahead chunk so
 * small frames cost no syscall each. Each refill allocates a fresh chunk, so the meta/payload
 * views it hands out stay valid after the cursor moves on (no copy per batch); a caller that
 * keeps only a few views of many frames should copy them, or the chunks stay alive with them.
 *
 * A refill reads `chunkBytes`, or less when the caller says how much more it will want
 * (`readAhead` of next()): a reader that stops after a byte budget then allocates no chunk
 * for frames it will never take (issue 17: an agent read-back of 4 MiB allocated a second
 * 4 MiB chunk for the one frame that crossed the first chunk's end).
 */
export class FrameCursor {
  #chunk: Buffer = Buffer.alloc(0);
  #chunkStart = 0;
  #pos: number;
  /** Size of the last frame returned (0 before the first). */
  #lastSize = 0;

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
   * payload: no read and no crc check. `readAhead`: at most how many bytes from this frame's
   * start the caller may still want (a hint bounding a refill; it never cuts a frame short).
   */
  async next(wantBody: boolean | ((h: FrameHeader) => boolean), readAhead?: number): Promise<CursorStep> {
    const pos = this.#pos;
    if (pos >= this.end) return undefined;
    if (pos + FRAME_HEADER_BYTES > this.end) return { fault: 'torn', position: pos };
    let ahead = readAhead ?? this.chunkBytes;
    if (wantBody === false && this.#lastSize * 2 >= this.chunkBytes) ahead = Math.min(ahead, HEADER_READ_BYTES);
    let at = await this.#ensure(pos, FRAME_HEADER_BYTES, ahead);
    if (at < 0) return { fault: 'torn', position: pos };
    const h = decodeHeader(this.#chunk, at);
    if (typeof h === 'string') return { fault: h, position: pos };
    if (pos + h.size > this.end) return { fault: 'torn', position: pos };
    const body = typeof wantBody === 'function' ? wantBody(h) : wantBody;
    const want = body ? h.size : FRAME_HEADER_BYTES + h.metaLength;
    at = await this.#ensure(pos, want, ahead);
    if (at < 0) return { fault: 'torn', position: pos };
    const frameBytes = this.#chunk.subarray(at, at + want);
    if (body && !frameCrcOk(frameBytes)) return { fault: 'crc', position: pos };
    this.#pos = pos + h.size;
    this.#lastSize = h.size;
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

  /**
   * Makes [pos, pos+n) resident, reading `ahead` bytes (at most a chunk, at least n) when it
   * must read; returns its index in the chunk, -1 if the file is shorter.
   */
  async #ensure(pos: number, n: number, ahead: number): Promise<number> {
    const rel = pos - this.#chunkStart;
    if (rel >= 0 && rel + n <= this.#chunk.length) return rel;
    const len = Math.min(Math.max(n, Math.min(ahead, this.chunkBytes)), this.end - pos);
    const chunk = Buffer.allocUnsafe(len);
    const got = await readFully(this.io, this.fd, chunk, 0, len, pos);
    // A file shorter than `end` (cut underneath us) reads as a torn frame upstream.
    this.#chunk = got < len ? chunk.subarray(0, got) : chunk;
    this.#chunkStart = pos;
    return got < n ? -1 : 0;
  }
}
