/**
 * The export-format parser and the record line, on bytes as journalctl writes them: every way a
 * stream can be cut into chunks, binary values (newlines, NULs, invalid UTF-8), values over the
 * field limit cut while streaming, malformed streams refused with a clear error. Plus buffered meta
 * version 2 round trips and version-1 metas still read.
 */
import { describe, expect, it } from 'vitest';
import { ExportFormatError, ExportParser, type JournalEntry } from '../../../../../agent/inputs/journald/export-parser.js';
import { accepts, recordLine } from '../../../../../agent/inputs/journald/record.js';
import { cursorSeq } from '../../../../../agent/inputs/journald/reader.js';
import { bufferedMetaLength, decodeBufferedMeta, encodeBufferedMeta, type BufferedMeta } from '../../../../../agent/buffer/buffered-meta.js';

function binaryField(name: string, value: Buffer): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(value.length));
  return Buffer.concat([Buffer.from(`${name}\n`), len, value, Buffer.from('\n')]);
}

function entry(i: number, message: Buffer | string): Buffer {
  const head = Buffer.from(`__CURSOR=s=abc;i=${i.toString(16)};b=00;m=1;t=2;x=3\n__REALTIME_TIMESTAMP=${1_700_000_000_000_000 + i * 1000}\n_SYSTEMD_UNIT=u${i}.service\nSYSLOG_IDENTIFIER=id\nPRIORITY=${i % 8}\n_PID=7\n_UNKNOWN_FIELD=ignored\n`);
  const msg = typeof message === 'string' ? Buffer.from(`MESSAGE=${message}\n`) : binaryField('MESSAGE', message);
  return Buffer.concat([head, msg, Buffer.from('\n')]);
}

function parseInChunks(data: Buffer, cut: number[], max = 1 << 20): JournalEntry[] {
  const out: JournalEntry[] = [];
  const p = new ExportParser({ maxFieldBytes: max, onEntry: (e) => out.push(e) });
  let prev = 0;
  for (const c of [...cut, data.length]) {
    p.feed(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe('journald export parser', () => {
  const stream = Buffer.concat([entry(1, 'hello'), entry(2, Buffer.from('two\nlines\x00\xff', 'latin1')), entry(3, 'third = with equals')]);

  it('parses text and binary fields, whatever the chunking', () => {
    for (let c1 = 0; c1 <= stream.length; c1 += 7) {
      const c2 = Math.min(stream.length, c1 + 13);
      const got = parseInChunks(stream, [c1, c2]);
      expect(got.map((e) => e.message!.toString('latin1'))).toEqual(['hello', 'two\nlines\x00\xff', 'third = with equals']);
      expect(got[1]!.messageBinary).toBe(true);
      expect(got[0]!.cursor).toBe('s=abc;i=1;b=00;m=1;t=2;x=3');
      expect(got[2]!.unit).toBe('u3.service');
    }
    // byte by byte
    const one = parseInChunks(stream, Array.from({ length: stream.length }, (_, i) => i));
    expect(one).toHaveLength(3);
  });

  it('cuts a value over maxFieldBytes while it streams by, keeping its head and full length', () => {
    const big = Buffer.alloc(100_000, 0x61);
    big[0] = 0x0a; // binary
    const data = Buffer.concat([entry(1, big), entry(2, 'after'), entry(3, 'x'.repeat(50_000))]);
    const got = parseInChunks(data, [10, 5000, 60_000, 90_000, 150_000], 4096);
    expect(got).toHaveLength(3);
    expect(got[0]!.message!.length).toBe(4096);
    expect(got[0]!.messageTruncatedFrom).toBe(100_000);
    expect(got[1]!.message!.toString()).toBe('after');
    expect(got[1]!.messageTruncatedFrom).toBe(0);
    expect(got[2]!.message!.length).toBe(4096);
    expect(got[2]!.messageTruncatedFrom).toBe(50_000);
  });

  it('refuses a malformed stream with a clear error', () => {
    const p = new ExportParser({ maxFieldBytes: 1024, onEntry: () => undefined });
    expect(() => p.feed(Buffer.concat([Buffer.from('MESSAGE\n'), Buffer.alloc(8, 0xff)]))).toThrow(ExportFormatError);
    const q = new ExportParser({ maxFieldBytes: 1024, onEntry: () => undefined });
    const bad = binaryField('MESSAGE', Buffer.from('abc'));
    bad[bad.length - 1] = 0x41; // no newline after the value
    expect(() => q.feed(bad)).toThrow(/not followed by a newline/);
    const r = new ExportParser({ maxFieldBytes: 1024, onEntry: () => undefined });
    expect(() => r.feed(Buffer.from('x'.repeat(300) + '\n'))).toThrow(/field name longer/);
  });
});

describe('journald record line', () => {
  const parse = (m: Buffer | string, i = 3) => {
    const got = parseInChunks(entry(i, m), []);
    return JSON.parse(recordLine(got[0]!)) as Record<string, unknown> & { journald: Record<string, string> };
  };

  it('carries the documented fields, one line even for a multi-line message', () => {
    const line = recordLine(parseInChunks(entry(3, Buffer.from('a\nb')), [])[0]!);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const r = JSON.parse(line);
    expect(r).toEqual({
      message: 'a\nb',
      timestamp: new Date(1_700_000_000_003).toISOString(),
      log: { level: 'err', syslog: { severity: { code: 3, name: 'err' } } },
      journald: {
        _SYSTEMD_UNIT: 'u3.service',
        SYSLOG_IDENTIFIER: 'id',
        PRIORITY: '3',
        _PID: '7',
        __REALTIME_TIMESTAMP: '1700000000003000',
        __CURSOR: 's=abc;i=3;b=00;m=1;t=2;x=3',
      },
    });
  });

  it('escapes what JSON must escape, in every field, and keeps timestamps exact', () => {
    for (const m of ['quote " here', 'back\\slash', 'tab\tand\u0001ctl', 'emoji 😀 and \u2028 sep', 'plain']) {
      const e = parseInChunks(entry(5, Buffer.from(m)), [])[0]!;
      e.unit = `u"${m}`;
      e.hostname = m;
      const r = JSON.parse(recordLine(e));
      expect(r.message).toBe(m);
      expect(r.journald._SYSTEMD_UNIT).toBe(`u"${m}`);
      expect(r.journald._HOSTNAME).toBe(m);
    }
    for (const us of ['1700000000000000', '1700000000999999', '1700000001000001', '1700000000012345', '0']) {
      const e = parseInChunks(entry(1, 'x'), [])[0]!;
      e.realtime = us;
      expect(JSON.parse(recordLine(e)).timestamp).toBe(new Date(Math.floor(Number(us) / 1000)).toISOString());
    }
  });

  it('keeps the exact bytes of a MESSAGE that is not UTF-8', () => {
    const bytes = Buffer.from([0x66, 0xff, 0x00, 0x0a]);
    const r = parse(bytes);
    expect(Buffer.from(r.message_base64 as string, 'base64')).toEqual(bytes);
  });

  it('filters by unit, exclude_units, identifier, priority and kernel', () => {
    const e = parseInChunks(entry(3, 'm'), [])[0]!;
    const base = { maxPriority: 7, includeKernel: true };
    expect(accepts(base, e)).toBe(true);
    expect(accepts({ ...base, units: new Set(['u3.service']) }, e)).toBe(true);
    expect(accepts({ ...base, units: new Set(['other.service']) }, e)).toBe(false);
    expect(accepts({ ...base, excludeUnits: new Set(['u3.service']) }, e)).toBe(false);
    expect(accepts({ ...base, identifiers: new Set(['nope']) }, e)).toBe(false);
    expect(accepts({ ...base, maxPriority: 2 }, e)).toBe(false);
    expect(accepts({ ...base, maxPriority: 3 }, e)).toBe(true);
    const k = { ...e, transport: 'kernel' };
    expect(accepts({ ...base, units: new Set(['x']), includeKernel: true }, k)).toBe(true);
    expect(accepts({ ...base, includeKernel: false }, k)).toBe(false);
  });

  it('reads seqnum id and seqnum from a cursor', () => {
    expect(cursorSeq('s=ab12;i=1f;b=00;m=1;t=2;x=3')).toEqual({ id: 'ab12', seq: 31 });
    expect(cursorSeq('garbage')).toBeUndefined();
  });
});

describe('buffered meta version 2', () => {
  const base: BufferedMeta = { codec: 1, flags: 4, topic: 't', source: 'journald-0', key: 'journald:journald-0', start: 10, end: 99, lines: 3, rawLength: 89, dev: 0, ino: 0, fpLen: 0, fpCrc: 0 };

  it('round-trips a cursor, and a meta without one is written as version 1, byte for byte as before', () => {
    const withCursor = { ...base, cursor: 's=abc;i=3;b=00;m=1;t=2;x=3' };
    const enc = encodeBufferedMeta(withCursor);
    expect(enc[0]).toBe(2);
    expect(enc.length).toBe(bufferedMetaLength(withCursor));
    expect(decodeBufferedMeta(enc)).toEqual(withCursor);
    const v1 = encodeBufferedMeta(base);
    expect(v1[0]).toBe(1);
    expect(v1.length).toBe(bufferedMetaLength(base));
    expect(decodeBufferedMeta(v1)).toEqual(base);
    // the exact version-1 layout today's agents write (file batch)
    const file: BufferedMeta = { codec: 1, flags: 0, topic: 'a', source: '/x', key: 'k', start: 1, end: 2, lines: 1, rawLength: 1, dev: 3, ino: 4, fpLen: 5, fpCrc: 6 };
    expect(encodeBufferedMeta(file).toString('hex')).toBe(
      '01' + '01' + '00' + '01' + '61' + '0002' + '2f78' + '0001' + '6b' + '0000000000000001' + '0000000000000002' + '00000001' + '00000001' + '0000000000000003' + '0000000000000004' + '0005' + '00000006',
    );
  });

  it('refuses an unknown version', () => {
    const enc = encodeBufferedMeta(base);
    enc[0] = 3;
    expect(() => decodeBufferedMeta(enc)).toThrow(/version 3/);
  });
});
