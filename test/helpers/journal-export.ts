/**
 * Real journal files for journald tests and the bench: entries are written in
 * systemd's export format and turned into journal files by Debian's
 * systemd-journal-remote (package systemd-journal-remote), then read back by
 * the agent through journalctl. Entry i is deterministic, so a reader can
 * check every field of what arrived.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';
const BOOT_ID = '0123456789abcdef0123456789abcdef';
/** __REALTIME_TIMESTAMP of entry 0, µs: 2026-01-01T00:00:00Z */
export const BASE_US = 1_767_225_600_000_000;

/** Throws (never skips) with what to install when a binary the journald tests need is missing. */
export function requireJournalTools(): void {
  for (const [bin, pkg] of [
    [JOURNAL_REMOTE, 'systemd-journal-remote'],
    ['/usr/bin/journalctl', 'systemd'],
  ] as const) {
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      throw new Error(`${bin} is missing: install it with \`apt-get install -y ${pkg}\` (bash deploy/test-deps.sh installs every test dependency)`);
    }
  }
}

export function unitOf(i: number): string {
  return `svc${i % 5}.service`;
}
export function identifierOf(i: number): string {
  return `ident${i % 3}`;
}
export function priorityOf(i: number): number {
  return i % 8;
}
/** Entry i's MESSAGE bytes: mostly text; every 97th multi-line; every 101st not UTF-8 (binary in export format). */
export function messageOf(i: number, pad = 0): Buffer {
  if (i % 101 === 50) return Buffer.concat([Buffer.from(`entry ${i} binary `), Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x0a, 0x80])]);
  if (i % 97 === 10) return Buffer.from(`entry ${i} multi-line\n  at frame one\n  at frame two`);
  return Buffer.from(`entry ${i} GET /api/v1/items/${(i * 7919) % 100003} 200${pad > 0 ? ' ' + 'x'.repeat(pad) : ''}`);
}

/** Export-format bytes of entries [from, to). */
export function exportEntries(from: number, to: number, pad = 0): Buffer {
  const parts: Buffer[] = [];
  for (let i = from; i < to; i++) {
    const head =
      `__REALTIME_TIMESTAMP=${BASE_US + i * 1000}\n__MONOTONIC_TIMESTAMP=${1_000_000 + i}\n_BOOT_ID=${BOOT_ID}\n_HOSTNAME=journal-host\n` +
      `_SYSTEMD_UNIT=${unitOf(i)}\nSYSLOG_IDENTIFIER=${identifierOf(i)}\nPRIORITY=${priorityOf(i)}\n_PID=${1000 + (i % 50)}\n_TRANSPORT=stdout\n`;
    parts.push(Buffer.from(head));
    const m = messageOf(i, pad);
    if (m.includes(0x0a) || !isPrintableUtf8(m)) {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(m.length));
      parts.push(Buffer.from('MESSAGE\n'), len, m, Buffer.from('\n\n'));
    } else {
      parts.push(Buffer.from('MESSAGE='), m, Buffer.from('\n\n'));
    }
  }
  return Buffer.concat(parts);
}

function isPrintableUtf8(b: Buffer): boolean {
  for (const c of b) if (c < 0x20 || c >= 0x80) return false;
  return true;
}

/** Appends entries to a journal file (created if missing) with systemd-journal-remote; resolves when they are written. */
export function writeJournal(file: string, data: Buffer, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(JOURNAL_REMOTE, [`--output=${file}`, '--compress=no', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve();
      else reject(new Error(`${JOURNAL_REMOTE} --output=${file} exited ${code}: ${err}`));
    });
    child.stdin!.end(data);
  });
}
