/**
 * Random version-4 UUIDs from the kernel's random source, without node:crypto.
 *
 * Why not `crypto.randomUUID()`: importing node:crypto loads its ~25 internal modules and
 * initialises OpenSSL, ~0.8 MiB more resident in the agent for good (measured on node 20.20 beside
 * the modules the agent loads anyway), and the agent needs only random ids: its producer
 * incarnation and one key per tailed file. /dev/urandom is the kernel's CSPRNG, the same
 * source OpenSSL seeds from; 16 ids' worth is read at a time.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const POOL = 256;
const pool = Buffer.allocUnsafeSlow(POOL);
let at = POOL;

function refill(): void {
  const fd = openSync('/dev/urandom', 'r');
  try {
    let got = 0;
    while (got < POOL) {
      const n = readSync(fd, pool, got, POOL - got, null);
      if (n <= 0) throw new Error('/dev/urandom returned no bytes');
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  at = 0;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` (RFC 9562 version 4), as `crypto.randomUUID()` */
export function randomUuid(): string {
  if (at + 16 > POOL) refill();
  const b = pool;
  const o = at;
  at += 16;
  b[o + 6] = (b[o + 6]! & 0x0f) | 0x40;
  b[o + 8] = (b[o + 8]! & 0x3f) | 0x80;
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[b[o + i]!];
  }
  return s;
}
