import * as path from 'node:path';
import { IoError } from '../errors.js';
import { realFs, writeFully, type FsSeam } from './io.js';

let seq = 0;

/**
 * Replaces a small state file (checkpoint, cursor) so a crash leaves either the old or the new
 * content, never a mix: write a temp file beside it, fsync it, rename over, fsync the directory.
 */
export async function writeFileAtomic(file: string, data: Buffer | string, io: FsSeam = realFs): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${++seq}`);
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  try {
    const fd = await io.open(tmp, 'w');
    try {
      await writeFully(io, fd, [buf], 0);
      await io.fsync(fd);
    } finally {
      await io.close(fd);
    }
    await io.rename(tmp, file);
    await io.fsyncDir(dir);
  } catch (err) {
    await io.unlink(tmp).catch(() => {});
    throw new IoError(`cannot write ${file}: ${(err as Error).message}`, err);
  }
}

/** The file's bytes, or undefined when it does not exist. */
export async function readFileIfExists(file: string, io: FsSeam = realFs): Promise<Buffer | undefined> {
  try {
    return await io.readFile(file);
  } catch (err) {
    throw new IoError(`cannot read ${file}: ${(err as Error).message}`, err);
  }
}
