/**
 * Secrets from config: bearer tokens (inline or in a file) and the files that
 * hold tokens or private keys. A token is bytes, compared as bytes; it is
 * refused when blank, shorter than MIN_TOKEN_BYTES or holding a byte that
 * cannot travel in an HTTP header. Messages never quote the secret.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

/** Shorter tokens are refused: 16 random bytes is the least that cannot be guessed online. */
export const MIN_TOKEN_BYTES = 16;
/** A token file larger than this is not a token file. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** Surrounding ASCII whitespace (space, tab, CR, LF) only: a trailing newline is not part of a token. */
export function trimAsciiSpace(b: Buffer): Buffer {
  let start = 0;
  let end = b.length;
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  while (start < end && ws(b[start]!)) start += 1;
  while (end > start && ws(b[end - 1]!)) end -= 1;
  return b.subarray(start, end);
}

/** Why these token bytes (already trimmed) are not acceptable, or undefined. */
export function tokenProblem(token: Buffer): string | undefined {
  if (token.length === 0) return 'the token is empty or only whitespace';
  for (let i = 0; i < token.length; i += 1) {
    const c = token[i]!;
    if (c < 0x20 || c > 0x7e) {
      return `the token holds byte 0x${c.toString(16).padStart(2, '0')} at position ${i}: a token is one line of visible ASCII characters`;
    }
  }
  if (token.length < MIN_TOKEN_BYTES) return `the token is ${token.length} bytes; at least ${MIN_TOKEN_BYTES} are required (e.g. openssl rand -hex 32)`;
  return undefined;
}

export class SecretFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'SecretFileError';
  }
}

/** Reads a secret file, at most MAX_SECRET_FILE_BYTES; throws SecretFileError with a message naming no content. */
export function readSecretFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new SecretFileError(path, `cannot read it: ${why}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SecretFileError(path, 'is not a regular file');
    const buf = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_SECRET_FILE_BYTES) throw new SecretFileError(path, `is larger than ${MAX_SECRET_FILE_BYTES} bytes: not a token file`);
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** A warning when a secret file can be read by its group or by everyone, or undefined. */
export function loosePermissions(path: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return undefined;
  }
  if ((mode & 0o044) === 0) return undefined;
  const who = mode & 0o004 ? 'everyone' : 'its group';
  return `${path} is readable by ${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${path}`;
}
