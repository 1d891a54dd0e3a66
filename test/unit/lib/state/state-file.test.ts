/**
 * Versioned state files: a damaged, foreign or future file gives a CorruptError that names the
 * file, the bad field and what to do; files written by logship 0.1 (no version) still read.
 * Checked for the agent's three files (ack cursor, producer identity, file positions).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import fc from 'fast-check';
import { CorruptError } from '../../../../lib/errors.js';
import { readStateFile, writeStateFile } from '../../../../lib/state/state-file.js';
import { FILES_STATE, StreamRegistry } from '../../../../agent/inputs/file/streams.js';
import { ACK_STATE, DiskBuffer } from '../../../../agent/buffer/disk-buffer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function corruptError(p: Promise<unknown>): Promise<CorruptError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptError);
  return err as CorruptError;
}

const stream = { key: 'k1', topic: 'app', path: '/var/log/a.log', dev: 2049, ino: 1234, fpLen: 1024, fpCrc: 4294967295, offset: 99, lastSeen: 1_700_000_000_000 };

describe('state files', () => {
  it('round-trips with a version, and reads a 0.1 file without one', async () => {
    const f = join(dir, 'files.json');
    await writeStateFile(f, FILES_STATE, { buffer_offset: 7, streams: [stream] });
    expect(JSON.parse(await readFile(f, 'utf8')).version).toBe(1);
    expect(await readStateFile(f, FILES_STATE)).toEqual({ buffer_offset: 7, streams: [stream] });
    await writeFile(f, JSON.stringify({ buffer_offset: 7, streams: [stream] }));
    expect(await readStateFile(f, FILES_STATE)).toEqual({ buffer_offset: 7, streams: [stream] });
    expect(await readStateFile(join(dir, 'missing.json'), FILES_STATE)).toBeUndefined();
  });

  it('names the file, the field and what to do', async () => {
    const f = join(dir, 'files.json');
    const cases: Array<[string, RegExp]> = [
      ['{"buffer_offset": 1, "streams": [', /not JSON/],
      ['[]', /\(root\): expected an object/],
      ['null', /\(root\): expected an object/],
      ['{"version": 2, "buffer_offset": 1, "streams": []}', /version 2, this logship reads version 1/],
      ['{"buffer_offset": -1, "streams": []}', /buffer_offset: expected an integer/],
      ['{"buffer_offset": 1, "streams": {}}', /streams: expected an array/],
      [JSON.stringify({ buffer_offset: 1, streams: [{ ...stream, offset: '12' }] }), /streams\[0\]\.offset: expected an integer/],
      [JSON.stringify({ buffer_offset: 1, streams: [{ ...stream, key: 5 }] }), /streams\[0\]\.key: expected a string/],
      ['{"__proto__": {"buffer_offset": 1}, "streams": []}', /buffer_offset: expected an integer/],
    ];
    for (const [body, why] of cases) {
      await writeFile(f, body);
      const e = await corruptError(readStateFile(f, FILES_STATE));
      expect(e.message).toContain(f);
      expect(e.message).toMatch(why);
      expect(e.message).toContain('What to do: move it aside');
    }
  });

  it('StreamRegistry.restore refuses a damaged checkpoint with that error (no bare SyntaxError at start)', async () => {
    await writeFile(join(dir, 'files.json'), '{"buffer_offset": 3, "streams": [{"key": ');
    const buffer = await DiskBuffer.open({ dir: join(dir, 'buffer'), maxBytes: 1 << 20, whenFull: 'block', logger: pino({ level: 'silent' }) });
    try {
      const e = await corruptError(new StreamRegistry(dir).restore(buffer));
      expect(e.message).toMatch(/files\.json: the file positions checkpoint is not valid/);
    } finally {
      await buffer.close();
    }
  });

  it('a damaged ack cursor is recovered from (resend, deduplicated), with a warning', async () => {
    const logs: string[] = [];
    await writeFile(join(dir, 'ack.json'), '{"next": "x"}');
    const b = await DiskBuffer.open({ dir, maxBytes: 1 << 20, whenFull: 'block', logger: pino({ level: 'warn' }, { write: (l: string) => void logs.push(l) }) });
    try {
      expect(b.ackedOffset).toBe(0);
      expect(logs.join('')).toMatch(/damaged ack cursor ignored/);
      expect(logs.join('')).toContain('ack.json');
    } finally {
      await b.close();
    }
    expect(ACK_STATE.version).toBe(1);
  });

  it('never throws anything but CorruptError on arbitrary bytes, and never accepts a wrongly typed field', async () => {
    const f = join(dir, 'x.json');
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.string(), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1'))), async (body) => {
        await writeFile(f, body);
        try {
          const v = await readStateFile(f, FILES_STATE);
          // accepted: then it has the right shape
          expect(Number.isSafeInteger(v!.buffer_offset)).toBe(true);
          for (const s of v!.streams) expect(typeof s.key).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(CorruptError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
