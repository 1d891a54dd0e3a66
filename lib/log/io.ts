/**
 * The fs seam: every byte of log-file I/O goes through an FsSeam, so there is
 * one I/O error policy and one place for fault injection. Tests wrap
 * `realFs` (e.g. `{ ...realFs, writev: failingWritev }`) to inject ENOSPC or
 * count fdatasync calls.
 *
 * Descriptor-based (numbers, not FileHandle): positional reads and writes on
 * raw fds are the cheapest path Node offers, and the seam stays a plain object.
 */
import * as fs from 'node:fs';

export interface FsStat {
  size: number;
  mtimeMs: number;
}

export interface FsSeam {
  /** Flags as for fs.open: 'r', 'r+', 'w+', 'wx', ... */
  open(path: string, flags: string, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  /** Positional read; returns bytes read (0 at end of file). */
  read(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Positional gather write; may write fewer bytes than asked (callers loop). */
  writev(fd: number, buffers: Buffer[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  fstat(fd: number): Promise<FsStat>;
  /** Resolves undefined when the path does not exist. */
  stat(path: string): Promise<FsStat | undefined>;
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Missing files are not an error. */
  unlink(path: string): Promise<void>;
  /** Makes directory entries (create, rename) durable. */
  fsyncDir(dir: string): Promise<void>;
  /** Whole-file read; resolves undefined when the file does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
}

function cb<T>(fn: (done: (err: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export const realFs: FsSeam = {
  open: (p, flags, mode = 0o640) => cb<number>((d) => fs.open(p, flags, mode, d)),
  close: (fd) => cb<void>((d) => fs.close(fd, (e) => d(e, undefined))),
  read: (fd, buf, offset, length, position) => cb<number>((d) => fs.read(fd, buf, offset, length, position, d)),
  writev: (fd, buffers, position) => cb<number>((d) => fs.writev(fd, buffers, position, d)),
  fdatasync: (fd) => cb<void>((d) => fs.fdatasync(fd, (e) => d(e, undefined))),
  fsync: (fd) => cb<void>((d) => fs.fsync(fd, (e) => d(e, undefined))),
  ftruncate: (fd, length) => cb<void>((d) => fs.ftruncate(fd, length, (e) => d(e, undefined))),
  fstat: async (fd) => {
    const st = await cb<fs.Stats>((d) => fs.fstat(fd, d));
    return { size: st.size, mtimeMs: st.mtimeMs };
  },
  stat: async (p) => {
    try {
      const st = await fs.promises.stat(p);
      return { size: st.size, mtimeMs: st.mtimeMs };
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  },
  readdir: (dir) => fs.promises.readdir(dir),
  mkdir: async (dir) => {
    // Owner only: log data is private whatever the umask (0o700 is never widened by umask 000).
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  },
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: async (p) => {
    try {
      await fs.promises.unlink(p);
    } catch (err) {
      if (!isEnoent(err)) throw err;
    }
  },
  fsyncDir: async (dir) => {
    const fd = await cb<number>((d) => fs.open(dir, 'r', d));
    try {
      await cb<void>((d) => fs.fsync(fd, (e) => d(e, undefined)));
    } finally {
      fs.close(fd, () => {});
    }
  },
  readFile: async (p) => {
    try {
      return await fs.promises.readFile(p);
    } catch (err) {
      if (isEnoent(err)) return undefined;
      throw err;
    }
  },
};

/** Writes every byte of `buffers` at `position`, looping over short writes. */
export async function writeFully(io: FsSeam, fd: number, buffers: Buffer[], position: number): Promise<number> {
  let bufs = buffers.filter((b) => b.length > 0);
  let pos = position;
  while (bufs.length > 0) {
    // IOV_MAX is 1024 on Linux; libuv does not split for us.
    const n = await io.writev(fd, bufs.length > 1024 ? bufs.slice(0, 1024) : bufs, pos);
    pos += n;
    let skip = n;
    let i = 0;
    while (i < bufs.length && skip >= bufs[i]!.length) skip -= bufs[i++]!.length;
    bufs = bufs.slice(i);
    if (skip > 0) bufs[0] = bufs[0]!.subarray(skip);
    if (n === 0 && bufs.length > 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
  }
  return pos - position;
}

/** Reads exactly `length` bytes unless the file ends first; returns bytes read. */
export async function readFully(io: FsSeam, fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await io.read(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
