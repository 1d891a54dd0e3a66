import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DiskBuffer } from '../../../../../agent/buffer/disk-buffer.js';
import { crc32c } from '../../../../../lib/log/index.js';
import { resumeOffset, StreamRegistry, type StreamState } from '../../../../../agent/inputs/file/streams.js';

const stream = (key: string, content: string, offset = 0): StreamState => {
  const b = Buffer.from(content);
  return { key, topic: 't', path: `/x/${key}`, dev: 1, ino: 1, fpLen: b.length, fpCrc: crc32c(b), offset, lastSeen: 0 };
};

describe('StreamRegistry fingerprint index', () => {
  it('finds streams whose fingerprint is a prefix of the file head', () => {
    const r = new StreamRegistry('/nonexistent');
    r.add(stream('a', 'hello'));
    r.add(stream('b', 'hello world'));
    r.add(stream('c', 'other'));
    expect(r.candidates(Buffer.from('hello world and more')).map((s) => s.key).sort()).toEqual(['a', 'b']);
    expect(r.candidates(Buffer.from('hell')).map((s) => s.key)).toEqual([]);
    expect(r.candidates(Buffer.from('other')).map((s) => s.key)).toEqual(['c']);
  });

  it('follows fingerprint changes', () => {
    const r = new StreamRegistry('/nonexistent');
    const s = stream('a', 'ab');
    r.add(s);
    const b = Buffer.from('abcd');
    r.setFingerprint(s, 4, crc32c(b));
    expect(r.candidates(Buffer.from('ab')).length).toBe(0);
    expect(r.candidates(b)[0]).toBe(s);
  });

  it('resumes after what was read, durable or in flight', () => {
    const s = stream('a', 'x', 10);
    expect(resumeOffset(s)).toBe(10);
    s.read = 25;
    expect(resumeOffset(s)).toBe(25);
  });
});

/** A buffer holding no batch: restore takes everything from files.json. */
const emptyBuffer = { log: { firstOffset: 0, nextOffset: 0, scanMeta: async function* () {} } } as unknown as DiskBuffer;

describe('StreamRegistry checkpoint: which inputs had their first start', () => {
  it('a new data dir: no input has started; after markStarted the checkpoint names it, and a restore knows it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-streams-'));
    try {
      const r = new StreamRegistry(dir);
      await r.restore(emptyBuffer);
      expect(r.hasStarted('file-0')).toBe(false);
      await r.checkpoint(0, 1e9);
      expect(r.changed).toBe(false);
      r.markStarted('file-0');
      expect(r.changed).toBe(true);
      await r.checkpoint(0, 1e9);
      expect(JSON.parse(await readFile(join(dir, 'files.json'), 'utf8')).inputs).toEqual(['file-0']);
      const again = new StreamRegistry(dir);
      await again.restore(emptyBuffer);
      expect(again.hasStarted('file-0')).toBe(true);
      expect(again.hasStarted('added-later')).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a checkpoint of an agent before the key existed: the inputs configured now have started, one added later has not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-streams-'));
    try {
      await writeFile(join(dir, 'files.json'), JSON.stringify({ version: 1, buffer_offset: 0, streams: [] }));
      const r = new StreamRegistry(dir);
      await r.restore(emptyBuffer, ['file-0']);
      expect(r.changed).toBe(true);
      expect(r.hasStarted('file-0')).toBe(true);
      expect(r.hasStarted('added-later')).toBe(false);
      await r.checkpoint(0, 1e9);
      expect(JSON.parse(await readFile(join(dir, 'files.json'), 'utf8')).inputs).toEqual(['file-0']);
      // with the list in the checkpoint, the inputs configured now change nothing
      const again = new StreamRegistry(dir);
      await again.restore(emptyBuffer, ['file-0', 'added-later']);
      expect(again.hasStarted('added-later')).toBe(false);
      await writeFile(join(dir, 'files.json'), JSON.stringify({ version: 1, buffer_offset: 0, streams: [], inputs: [7] }));
      await expect(new StreamRegistry(dir).restore(emptyBuffer)).rejects.toThrow(/inputs\[0\]/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a fingerprint change or a new stream asks for a checkpoint; an unchanged fingerprint does not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-streams-'));
    try {
      const r = new StreamRegistry(dir);
      const s = stream('a', 'ab');
      r.add(s);
      expect(r.changed).toBe(true);
      await r.checkpoint(0, 1e9);
      expect(r.changed).toBe(false);
      r.setFingerprint(s, 2, crc32c(Buffer.from('ab')));
      expect(r.changed).toBe(false);
      r.setFingerprint(s, 3, crc32c(Buffer.from('abc')));
      expect(r.changed).toBe(true);
      await r.checkpoint(0, 1e9);
      expect(JSON.parse(await readFile(join(dir, 'files.json'), 'utf8')).streams[0].fpLen).toBe(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
