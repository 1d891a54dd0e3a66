/**
 * Incremental parser of journalctl's export format (systemd's "Journal Export
 * Format"), fed the child's stdout chunk by chunk.
 *
 * Layout, per entry, one field after another, then an empty line:
 *
 *   NAME=value\n                      text field (journalctl uses it for printable UTF-8 without newlines)
 *   NAME\n  u64 LE length  bytes  \n   binary field (any bytes: newlines, NULs, invalid UTF-8)
 *   \n                                end of the entry
 *
 * Only the fields in WANTED are kept (journalctl is also asked for just these
 * with --output-fields); others are stepped over. Memory is bounded: a field
 * value longer than maxFieldBytes keeps its first maxFieldBytes bytes and the
 * rest is skipped as it streams by (the entry says how long the value was), so
 * the carry between chunks never exceeds maxFieldBytes plus a field name.
 * A stream that breaks the format throws ExportFormatError; the caller restarts
 * the reader at the last checkpointed cursor.
 */

/** Journal fields a record is built from. */
export const WANTED = [
  '__CURSOR',
  '__REALTIME_TIMESTAMP',
  '_BOOT_ID',
  '_HOSTNAME',
  '_SYSTEMD_UNIT',
  'SYSLOG_IDENTIFIER',
  'PRIORITY',
  '_PID',
  '_TRANSPORT',
  'MESSAGE',
] as const;

export interface JournalEntry {
  cursor: string;
  realtime: string;
  bootId: string;
  hostname: string;
  unit: string;
  identifier: string;
  priority: string;
  pid: string;
  transport: string;
  /** MESSAGE's bytes (up to maxFieldBytes); undefined when the entry has none */
  message: Buffer | undefined;
  /** MESSAGE came as a binary field (it may hold newlines or bytes that are not UTF-8) */
  messageBinary: boolean;
  /** MESSAGE's full length when it was longer than maxFieldBytes and cut, else 0 */
  messageTruncatedFrom: number;
}

export class ExportFormatError extends Error {}

const enum F {
  OTHER,
  MESSAGE,
  CURSOR,
  REALTIME,
  BOOT_ID,
  HOSTNAME,
  UNIT,
  IDENTIFIER,
  PRIORITY,
  PID,
  TRANSPORT,
}

const NAMES: Array<[F, Buffer]> = [
  [F.MESSAGE, Buffer.from('MESSAGE')],
  [F.CURSOR, Buffer.from('__CURSOR')],
  [F.REALTIME, Buffer.from('__REALTIME_TIMESTAMP')],
  [F.BOOT_ID, Buffer.from('_BOOT_ID')],
  [F.HOSTNAME, Buffer.from('_HOSTNAME')],
  [F.UNIT, Buffer.from('_SYSTEMD_UNIT')],
  [F.IDENTIFIER, Buffer.from('SYSLOG_IDENTIFIER')],
  [F.PRIORITY, Buffer.from('PRIORITY')],
  [F.PID, Buffer.from('_PID')],
  [F.TRANSPORT, Buffer.from('_TRANSPORT')],
];
/** wanted names by length, so a field name is matched with a few byte compares and no string */
const BY_LENGTH: Array<Array<[F, Buffer]>> = [];
for (const n of NAMES) (BY_LENGTH[n[1].length] ??= []).push(n);

function fieldOf(buf: Buffer, start: number, end: number): F {
  const cands = BY_LENGTH[end - start];
  if (cands === undefined) return F.OTHER;
  for (const [f, name] of cands) {
    let i = 0;
    while (i < name.length && buf[start + i] === name[i]) i++;
    if (i === name.length) return f;
  }
  return F.OTHER;
}

/** Longest field name accepted (journald allows 64). */
const MAX_NAME = 256;
/** A binary field's length above this is not a length journalctl can produce: the stream is broken. */
const MAX_DECLARED = 2 ** 40;

export function emptyEntry(): JournalEntry {
  return { cursor: '', realtime: '', bootId: '', hostname: '', unit: '', identifier: '', priority: '', pid: '', transport: '', message: undefined, messageBinary: false, messageTruncatedFrom: 0 };
}

export class ExportParser {
  readonly #max: number;
  readonly #onEntry: (e: JournalEntry) => void;
  #carry: Buffer | undefined;
  #entry = emptyEntry();
  #fieldsInEntry = 0;
  /** bytes of the current field still to step over (a cut value), and whether its end is a known length */
  #skip = 0;
  #skipToNewline = false;
  /** the text value being skipped is MESSAGE: its full length grows as it streams by */
  #skippingMessage = false;
  /** field values cut at maxFieldBytes so far */
  truncatedFields = 0;

  constructor(opts: { maxFieldBytes: number; onEntry: (e: JournalEntry) => void }) {
    this.#max = opts.maxFieldBytes;
    this.#onEntry = opts.onEntry;
  }

  /** True between entries: nothing of a started entry is held. */
  get atBoundary(): boolean {
    return this.#fieldsInEntry === 0 && !this.#carry && this.#skip === 0 && !this.#skipToNewline;
  }

  reset(): void {
    this.#carry = undefined;
    this.#entry = emptyEntry();
    this.#fieldsInEntry = 0;
    this.#skip = 0;
    this.#skipToNewline = false;
    this.#skippingMessage = false;
  }

  feed(chunk: Buffer): void {
    let buf = chunk;
    let p = 0;
    if (this.#skip > 0 || this.#skipToNewline) {
      p = this.#skipping(buf, 0);
      if (p < 0) return;
    }
    if (this.#carry) {
      buf = Buffer.concat([this.#carry, buf.subarray(p)]);
      this.#carry = undefined;
      p = 0;
    }
    const n = buf.length;
    while (p < n) {
      const nl = buf.indexOf(10, p);
      if (nl === p) {
        this.#endEntry();
        p++;
        continue;
      }
      // Find '=' before the newline (text field) or take the line as a binary field's name.
      const lineEnd = nl < 0 ? n : nl;
      let eq = -1;
      const nameLimit = Math.min(lineEnd, p + MAX_NAME + 1);
      for (let i = p; i < nameLimit; i++) {
        if (buf[i] === 61) {
          eq = i;
          break;
        }
      }
      if (eq < 0 && lineEnd - p > MAX_NAME) throw new ExportFormatError(`field name longer than ${MAX_NAME} bytes (or a line without '=') at entry field ${this.#fieldsInEntry}`);
      if (eq >= 0) {
        if (nl < 0) {
          // A text value still coming: keep at most maxFieldBytes of it.
          if (n - eq - 1 > this.#max) {
            const f = fieldOf(buf, p, eq);
            this.#text(f, buf, eq + 1, eq + 1 + this.#max, n - eq - 1, true);
            this.#skipToNewline = true;
            this.#skippingMessage = f === F.MESSAGE;
            return;
          }
          this.#carry = Buffer.from(buf.subarray(p));
          return;
        }
        this.#text(fieldOf(buf, p, eq), buf, eq + 1, nl, nl - eq - 1, false);
        p = nl + 1;
        continue;
      }
      // Binary field: NAME\n, u64 LE length, bytes, \n
      if (nl < 0 || nl + 9 > n) {
        this.#carry = Buffer.from(buf.subarray(p));
        return;
      }
      const lo = buf.readUInt32LE(nl + 1);
      const hi = buf.readUInt32LE(nl + 5);
      const len = hi * 2 ** 32 + lo;
      if (len > MAX_DECLARED) throw new ExportFormatError(`binary field ${buf.toString('latin1', p, nl)} declares ${len} bytes`);
      const start = nl + 9;
      const f = fieldOf(buf, p, nl);
      if (len <= this.#max) {
        if (start + len + 1 > n) {
          this.#carry = Buffer.from(buf.subarray(p));
          return;
        }
        if (buf[start + len] !== 10) throw new ExportFormatError(`binary field ${buf.toString('latin1', p, nl)} of ${len} bytes is not followed by a newline`);
        this.#binary(f, buf, start, start + len, len);
        p = start + len + 1;
        continue;
      }
      // Longer than we keep: wait for the head, take it, skip the rest as it streams by.
      if (start + this.#max > n) {
        this.#carry = Buffer.from(buf.subarray(p));
        return;
      }
      this.#binary(f, buf, start, start + this.#max, len);
      this.#skip = len - this.#max + 1; // the rest and its newline
      p = this.#skipping(buf, start + this.#max);
      if (p < 0) return;
    }
  }

  /** Steps over a cut value from p; returns where parsing continues, or -1 when the chunk is used up. */
  #skipping(buf: Buffer, p: number): number {
    if (this.#skipToNewline) {
      const nl = buf.indexOf(10, p);
      if (this.#skippingMessage) this.#entry.messageTruncatedFrom += (nl < 0 ? buf.length : nl) - p;
      if (nl < 0) return -1;
      this.#skipToNewline = false;
      this.#skippingMessage = false;
      return nl + 1;
    }
    const avail = buf.length - p;
    if (avail < this.#skip) {
      this.#skip -= avail;
      return -1;
    }
    const end = p + this.#skip;
    this.#skip = 0;
    if (buf[end - 1] !== 10) throw new ExportFormatError('a cut binary field is not followed by a newline');
    return end;
  }

  #text(f: F, buf: Buffer, from: number, to: number, fullLength: number, cut: boolean): void {
    this.#fieldsInEntry++;
    if (cut) this.truncatedFields++;
    this.#set(f, buf, from, to, fullLength, cut, false);
  }

  #binary(f: F, buf: Buffer, from: number, to: number, fullLength: number): void {
    this.#fieldsInEntry++;
    const cut = fullLength > to - from;
    if (cut) this.truncatedFields++;
    this.#set(f, buf, from, to, fullLength, cut, true);
  }

  #set(f: F, buf: Buffer, from: number, to: number, fullLength: number, cut: boolean, binary: boolean): void {
    const e = this.#entry;
    switch (f) {
      case F.MESSAGE:
        // Copied: the chunk it points into is not kept.
        e.message = Buffer.from(buf.subarray(from, to));
        e.messageBinary = binary;
        e.messageTruncatedFrom = cut ? fullLength : 0;
        return;
      case F.CURSOR:
        e.cursor = buf.toString('latin1', from, to);
        return;
      case F.REALTIME:
        e.realtime = buf.toString('latin1', from, to);
        return;
      case F.BOOT_ID:
        e.bootId = buf.toString('latin1', from, to);
        return;
      case F.HOSTNAME:
        e.hostname = buf.toString('utf8', from, to);
        return;
      case F.UNIT:
        e.unit = buf.toString('utf8', from, to);
        return;
      case F.IDENTIFIER:
        e.identifier = buf.toString('utf8', from, to);
        return;
      case F.PRIORITY:
        e.priority = buf.toString('latin1', from, to);
        return;
      case F.PID:
        e.pid = buf.toString('latin1', from, to);
        return;
      case F.TRANSPORT:
        e.transport = buf.toString('latin1', from, to);
        return;
      default:
        return;
    }
  }

  #endEntry(): void {
    if (this.#fieldsInEntry === 0) return; // stray empty line between entries
    const e = this.#entry;
    this.#entry = emptyEntry();
    this.#fieldsInEntry = 0;
    this.#onEntry(e);
  }
}
