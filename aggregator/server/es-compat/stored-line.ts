/**
 * Writes _bulk documents as the stored structured line
 *   {"message":"<the document, JSON-escaped>","timestamp":"<ISO 8601>"[,"bulk_id":"<_id>"]}
 * (readers show `bulk_id` beside message: not `_id`, which Elasticsearch
 * refuses inside a document; the idempotence window's recovery scan finds
 * ids there)
 * straight from the request's bytes into shared chunks (1 MiB, or one
 * document's worst case), so a document costs no buffer of its own.
 * Escaping: `"` and `\` get a backslash, control bytes (only blanks can occur
 * between the tokens of valid JSON) become escapes, everything else (UTF-8
 * included) is copied as it is.
 */

const CHUNK = 1 << 20;
const PREFIX = Buffer.from('{"message":"');
const MIDDLE = Buffer.from('","timestamp":"');
const HEX = '0123456789abcdef';
/** per byte: 0 copied as it is, 1 after a backslash (" and \\), 2 as \u00XX (control bytes) */
const ESCAPE = new Uint8Array(256);
for (let x = 0; x < 0x20; x++) ESCAPE[x] = 2;
ESCAPE[0x22] = 1;
ESCAPE[0x5c] = 1;

/** Most bytes the stored line of a document of `docBytes` can take (every byte escaped as \u00XX), with an _id of `idBytes`. */
export function storedLineWorst(docBytes: number, idBytes: number): number {
  return PREFIX.length + 6 * docBytes + MIDDLE.length + 40 + (idBytes > 0 ? 6 * idBytes + 16 : 0);
}

/**
 * Writes the stored line of src[start, end) at dst[o] (room for
 * storedLineWorst() bytes needed); `iso` is the timestamp's ISO 8601 bytes,
 * `idText` the _id as a JSON string (quoted) or undefined. Returns the end.
 */
export function encodeStoredLine(dst: Buffer, o: number, src: Buffer, start: number, end: number, iso: Buffer, idText: string | undefined): number {
  o += PREFIX.copy(dst, o);
  // A byte loop: measured faster here than JSON.stringify over a latin1 view of the bytes.
  for (let i = start; i < end; i++) {
    const x = src[i]!;
    const k = ESCAPE[x]!;
    if (k === 0) dst[o++] = x;
    else if (k === 1) {
      dst[o++] = 0x5c;
      dst[o++] = x;
    } else {
      dst[o++] = 0x5c;
      dst[o++] = 0x75;
      dst[o++] = 0x30;
      dst[o++] = 0x30;
      dst[o++] = HEX.charCodeAt(x >> 4);
      dst[o++] = HEX.charCodeAt(x & 15);
    }
  }
  o += MIDDLE.copy(dst, o);
  o += iso.copy(dst, o);
  dst[o++] = 0x22;
  if (idText !== undefined) o += dst.write(`,"bulk_id":${idText}`, o, 'utf8');
  dst[o++] = 0x7d;
  return o;
}

/** Stored lines into shared 1 MiB chunks (or one document's worst case), each returned as a view. */
export class StoredLineWriter {
  #chunk: Buffer = Buffer.alloc(0);
  #pos = 0;
  #lastMs = NaN;
  #lastIso = Buffer.alloc(0);

  write(src: Buffer, start: number, end: number, timestamp: number, id?: string): Buffer {
    const idText = id === undefined ? undefined : JSON.stringify(id);
    const worst = storedLineWorst(end - start, idText === undefined ? 0 : Buffer.byteLength(idText));
    if (this.#chunk.length - this.#pos < worst) {
      this.#chunk = Buffer.allocUnsafe(Math.max(CHUNK, worst));
      this.#pos = 0;
    }
    if (timestamp !== this.#lastMs) {
      this.#lastMs = timestamp;
      this.#lastIso = Buffer.from(new Date(timestamp).toISOString(), 'latin1');
    }
    const from = this.#pos;
    this.#pos = encodeStoredLine(this.#chunk, from, src, start, end, this.#lastIso, idText);
    return this.#chunk.subarray(from, this.#pos);
  }
}
