import { describe, expect, it } from 'vitest';
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
