import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Reads small pseudo-files (/proc, /sys) into one reused buffer. procfs
 * files report size 0, so we read until EOF, growing the buffer as needed.
 * latin1 decoding is a byte copy (the files are ASCII).
 *
 * `readKeepOpen` keeps the descriptor and re-reads from offset 0 with
 * pread(2) on the next call: seq_file (procfs) and kernfs (sysfs) regenerate
 * the content when read from offset 0, and skipping open+close halves the
 * syscalls of a scrape. A descriptor that went stale (ENODEV: the network
 * device was removed; ESRCH: the process is gone) is reopened once.
 */
export class FileReader {
  #buf: Buffer;
  readonly #fds = new Map<string, number>();
  #closed = false;

  constructor(initialSize = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(initialSize);
  }

  /** open, read all, close. */
  read(path: string): string {
    const fd = openSync(path, 'r');
    try {
      return this.#readAll(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Like read(), but keeps the descriptor open for the next call (procfs/sysfs only). */
  readKeepOpen(path: string): string {
    if (this.#closed) return this.read(path);
    let fd = this.#fds.get(path);
    if (fd !== undefined) {
      try {
        return this.#readAll(fd);
      } catch {
        this.#drop(path);
      }
    }
    fd = openSync(path, 'r');
    try {
      const text = this.#readAll(fd);
      this.#fds.set(path, fd);
      return text;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Close kept descriptors whose path is not in `keep` (or all). */
  release(keep?: (path: string) => boolean): void {
    for (const path of [...this.#fds.keys()]) if (!keep?.(path)) this.#drop(path);
  }

  close(): void {
    this.#closed = true;
    this.release();
  }

  #drop(path: string): void {
    const fd = this.#fds.get(path);
    this.#fds.delete(path);
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already invalid
      }
    }
  }

  #readAll(fd: number): string {
    let len = 0;
    for (;;) {
      if (len === this.#buf.length) {
        const bigger = Buffer.allocUnsafe(this.#buf.length * 2);
        this.#buf.copy(bigger, 0, 0, len);
        this.#buf = bigger;
      }
      const n = readSync(fd, this.#buf, len, this.#buf.length - len, len);
      if (n === 0) break;
      len += n;
    }
    return this.#buf.toString('latin1', 0, len);
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
