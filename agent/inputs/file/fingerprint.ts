/**
 * File identity by content: CRC32C of the first bytes, up to 1 KiB, taken from
 * byte one so small files are tracked too. The fingerprint grows with the file
 * until it covers 1 KiB. Device+inode are only a hint (inodes are reused).
 */
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { crc32c } from '../../../lib/log/index.js';

export const FINGERPRINT_MAX = 1024;
const preadAsync = promisify(read);

export interface Fingerprint {
  fpLen: number;
  fpCrc: number;
}

/** Fingerprint of the first min(size, 1 KiB) bytes of an open file. */
export async function fingerprintOf(fd: number, size: number): Promise<Fingerprint> {
  const len = Math.min(size, FINGERPRINT_MAX);
  if (len === 0) return { fpLen: 0, fpCrc: 0 };
  const buf = Buffer.allocUnsafe(len);
  const { bytesRead } = await preadAsync(fd, buf, 0, len, 0);
  return { fpLen: bytesRead, fpCrc: crc32c(buf.subarray(0, bytesRead)) };
}

/** Does the open file start with the bytes the fingerprint describes? */
export async function matchesFingerprint(fd: number, size: number, fp: Fingerprint): Promise<boolean> {
  if (fp.fpLen === 0 || fp.fpLen > size) return false;
  const buf = Buffer.allocUnsafe(fp.fpLen);
  const { bytesRead } = await preadAsync(fd, buf, 0, fp.fpLen, 0);
  return bytesRead === fp.fpLen && crc32c(buf) === fp.fpCrc;
}
