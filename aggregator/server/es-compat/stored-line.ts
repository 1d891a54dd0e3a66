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

export class StoredLineWriter {
  #chunk: Buffer = Buffer.alloc(0);
  #pos = 0;
  #lastMs = NaN;
  #lastIso = Buffer.alloc(0);

  write(src: Buffer, start: number, end: number, timestamp: number, id?: string): Buffer {
    const idText = id === undefined ? undefined : JSON.stringify(id);
    const worst = PREFIX.length + 6 * (end - start) + MIDDLE.length + 40 + (idText === undefined ? 0 : 3 * idText.length + 8);
    if (this.#chunk.length - this.#pos < worst) {
      this.#chunk = Buffer.allocUnsafe(Math.max(CHUNK, worst));
      this.#pos = 0;
    }
    const c = this.#chunk;
    const from = this.#pos;
    let o = from + PREFIX.copy(c, from);
    // A byte loop: measured faster here than JSON.stringify over a latin1 view of the bytes.
    for (let i = start; i < end; i++) {
      const x = src[i]!;
      if (x === 0x22 || x === 0x5c) {
        c[o++] = 0x5c;
        c[o++] = x;
      } else if (x < 0x20) {
        c[o++] = 0x5c;
        c[o++] = 0x75;
        c[o++] = 0x30;
        c[o++] = 0x30;
        c[o++] = HEX.charCodeAt(x >> 4);
        c[o++] = HEX.charCodeAt(x & 15);
      } else c[o++] = x;
    }
    o += MIDDLE.copy(c, o);
    if (timestamp !== this.#lastMs) {
      this.#lastMs = timestamp;
      this.#lastIso = Buffer.from(new Date(timestamp).toISOString(), 'latin1');
    }
    o += this.#lastIso.copy(c, o);
    c[o++] = 0x22;
    if (idText !== undefined) o += c.write(`,"bulk_id":${idText}`, o, 'utf8');
    c[o++] = 0x7d;
    this.#pos = o;
    return c.subarray(from, o);
  }
}
