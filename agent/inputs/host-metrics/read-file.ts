import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Reads small pseudo-files (/proc, /sys) with one reused buffer: procfs files
 * report size 0, so we read until EOF, growing the buffer when needed. latin1
 * decoding is a byte copy (the files are ASCII), cheaper than utf8.
 */
export class FileReader {
  #buf: Buffer;

  constructor(initialSize = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialSize);
  }

  read(path: string): string {
    const fd = openSync(path, 'r');
    try {
      let len = 0;
      for (;;) {
        if (len === this.#buf.length) {
          const bigger = Buffer.allocUnsafe(this.#buf.length * 2);
          this.#buf.copy(bigger, 0, 0, len);
          this.#buf = bigger;
        }
        const n = readSync(fd, this.#buf, len, this.#buf.length - len, null);
        if (n === 0) break;
        len += n;
      }
      return this.#buf.toString('latin1', 0, len);
    } finally {
      closeSync(fd);
    }
  }

  /** True if `path` is a directory (no throw). */
  static isDir(path: string): boolean {
    try {
      const fd = openSync(path, 'r');
      try {
        return fstatSync(fd).isDirectory();
      } finally {
        closeSync(fd);
      }
    } catch {
      return false;
    }
  }
}

/**
 * Split on runs of spaces/tabs without a regex (hot path: every /proc line).
 */
export function fields(line: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9) {
      if (start >= 0) {
        out.push(line.slice(start, i));
        start = -1;
      }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) out.push(line.slice(start));
  return out;
}
