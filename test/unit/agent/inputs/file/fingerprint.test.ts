/** Fingerprints of real files: content identity from byte one, growing to 1 KiB, independent of inode and name. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINGERPRINT_MAX, fingerprintOf, matchesFingerprint } from '../../../../../agent/inputs/file/fingerprint.js';
import { crc32c } from '../../../../../lib/log/index.js';

let dir: string;
const fds: number[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'logship-fp-'));
});
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

function open(name: string): { fd: number; size: number } {
  const fd = openSync(join(dir, name), 'r');
  fds.push(fd);
  return { fd, size: statSync(join(dir, name)).size };
}

describe('fingerprint', () => {
  it('an empty file has no fingerprint and matches nothing', async () => {
    writeFileSync(join(dir, 'e.log'), '');
    const { fd, size } = open('e.log');
    expect(await fingerprintOf(fd, size)).toEqual({ fpLen: 0, fpCrc: 0 });
    expect(await matchesFingerprint(fd, size, { fpLen: 0, fpCrc: 0 })).toBe(false);
  });

  it('covers a small file from byte one, and grows with the file up to 1 KiB', async () => {
    const p = join(dir, 'a.log');
    writeFileSync(p, 'hello\n');
    let f = open('a.log');
    const small = await fingerprintOf(f.fd, f.size);
    expect(small).toEqual({ fpLen: 6, fpCrc: crc32c(Buffer.from('hello\n')) });
    appendFileSync(p, 'x'.repeat(3000));
    f = open('a.log');
    const big = await fingerprintOf(f.fd, f.size);
    expect(big.fpLen).toBe(FINGERPRINT_MAX);
    expect(big.fpCrc).toBe(crc32c(Buffer.from('hello\n' + 'x'.repeat(FINGERPRINT_MAX - 6))));
    // the grown file still starts with what the small fingerprint describes: same stream
    expect(await matchesFingerprint(f.fd, f.size, small)).toBe(true);
    expect(await matchesFingerprint(f.fd, f.size, big)).toBe(true);
  });

  it('a file with other first bytes does not match, even with the same name and length', async () => {
    writeFileSync(join(dir, 'a.log'), 'first line A\n');
    const a = open('a.log');
    const fp = await fingerprintOf(a.fd, a.size);
    rmSync(join(dir, 'a.log'));
    writeFileSync(join(dir, 'a.log'), 'first line B\n');
    const b = open('a.log');
    expect(await matchesFingerprint(b.fd, b.size, fp)).toBe(false);
  });

  it('a file shorter than the fingerprint (truncated) does not match', async () => {
    writeFileSync(join(dir, 'a.log'), 'abcdefgh\n');
    const a = open('a.log');
    const fp = await fingerprintOf(a.fd, a.size);
    writeFileSync(join(dir, 'a.log'), 'abc');
    const t = open('a.log');
    expect(await matchesFingerprint(t.fd, t.size, fp)).toBe(false);
  });

  it('the same content under another name (a rename, a copy) matches: identity is content, not path or inode', async () => {
    writeFileSync(join(dir, 'a.log'), 'same start\nmore\n');
    writeFileSync(join(dir, 'b.log'), 'same start\nmore\nand more\n');
    const a = open('a.log');
    const b = open('b.log');
    const fp = await fingerprintOf(a.fd, a.size);
    expect(statSync(join(dir, 'a.log')).ino).not.toBe(statSync(join(dir, 'b.log')).ino);
    expect(await matchesFingerprint(b.fd, b.size, fp)).toBe(true);
  });
});
