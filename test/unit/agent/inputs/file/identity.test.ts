import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../../../lib/log/index.js';
import { createLogger } from '../../../../../lib/obs/logger.js';
import { resolveStream, type ResolveEffects } from '../../../../../agent/inputs/file/identity.js';
import { StreamRegistry, type StreamState } from '../../../../../agent/inputs/file/streams.js';
import type { Tailer } from '../../../../../agent/inputs/file/tailer.js';
import { UnattachedFiles, SETTLE_MAX_MS, SETTLE_MS } from '../../../../../agent/inputs/file/unattached.js';

const HEAD = Buffer.from('2026-12-01 first line of the file\n');

function known(key: string, o: Partial<StreamState> = {}): StreamState {
  return { key, topic: 'app', path: `/logs/${key}.log`, dev: 1, ino: 10, fpLen: HEAD.length, fpCrc: crc32c(HEAD), offset: 0, lastSeen: 0, ...o };
}

function effects() {
  const counts = { rotation: 0, truncation: 0, created: [] as number[] };
  const fx: ResolveEffects = {
    logger: createLogger({ level: 'silent' }),
    onRotation: () => counts.rotation++,
    onTruncation: () => counts.truncation++,
    newStream: (offset) => {
      counts.created.push(offset);
      return known('new', { offset, fpLen: 0, fpCrc: 0 });
    },
    startAtEnd: false,
  };
  return { fx, counts };
}

const tailerOf = (stream: StreamState, dev: number, ino: number): Tailer => ({ stream, dev, ino, path: stream.path }) as unknown as Tailer;

describe('file identity (resolveStream)', () => {
  it('a renamed file continues its stream where it stopped and counts a rotation', () => {
    const reg = new StreamRegistry('/nonexistent');
    const s = known('a', { offset: 500 });
    reg.add(s);
    const { fx, counts } = effects();
    const r = resolveStream({ path: '/logs/a.log.1', st: { dev: 1, ino: 10, size: 800 }, head: HEAD, topic: 'app', registry: reg, open: [] }, fx);
    expect(r).toEqual({ kind: 'stream', stream: s });
    expect(s.path).toBe('/logs/a.log.1');
    expect(s.offset).toBe(500);
    expect(counts).toEqual({ rotation: 1, truncation: 0, created: [] });
  });

  it('unknown content is a new stream: from 0, or from its end for start_at: end at start', () => {
    const reg = new StreamRegistry('/nonexistent');
    const { fx, counts } = effects();
    resolveStream({ path: '/logs/b.log', st: { dev: 1, ino: 11, size: 300 }, head: Buffer.from('other'), topic: 'app', registry: reg, open: [] }, fx);
    resolveStream({ path: '/logs/c.log', st: { dev: 1, ino: 12, size: 300 }, head: Buffer.from('other'), topic: 'app', registry: reg, open: [] }, { ...fx, startAtEnd: true });
    expect(counts.created).toEqual([0, 300]);
  });

  it('a stream without a fingerprint (left so by earlier agents) is found by its inode while it does not reach past the end; a fingerprint match comes first', () => {
    const reg = new StreamRegistry('/nonexistent');
    const bare = known('bare', { offset: 5_000, fpLen: 0, fpCrc: 0, dev: 1, ino: 20 });
    reg.add(bare);
    const { fx, counts } = effects();
    // same inode, position within the file: continued there, nothing created
    const r = resolveStream({ path: '/logs/bare.log', st: { dev: 1, ino: 20, size: 6_000 }, head: Buffer.from('anything'), topic: 'app', registry: reg, open: [] }, fx);
    expect(r).toEqual({ kind: 'stream', stream: bare });
    expect(bare.offset).toBe(5_000);
    // owned by an open tailer, another inode, another topic, or shorter than the position: not this stream
    const owner = tailerOf(bare, 1, 20);
    resolveStream({ path: '/logs/x.log', st: { dev: 1, ino: 20, size: 6_000 }, head: Buffer.from('anything'), topic: 'app', registry: reg, open: [owner] }, fx);
    resolveStream({ path: '/logs/y.log', st: { dev: 1, ino: 21, size: 6_000 }, head: Buffer.from('anything'), topic: 'app', registry: reg, open: [] }, fx);
    resolveStream({ path: '/logs/z.log', st: { dev: 1, ino: 20, size: 6_000 }, head: Buffer.from('anything'), topic: 'other', registry: reg, open: [] }, fx);
    resolveStream({ path: '/logs/w.log', st: { dev: 1, ino: 20, size: 4_000 }, head: Buffer.from('anything'), topic: 'app', registry: reg, open: [] }, fx);
    expect(counts.created).toEqual([0, 0, 0, 0]);
    // once it has a fingerprint it is found by content only
    reg.setFingerprint(bare, HEAD.length, crc32c(HEAD));
    expect(reg.unidentified(1, 20)).toEqual([]);
    const fp = known('fp', { offset: 100, dev: 1, ino: 30 });
    reg.add(fp);
    const bare2 = known('bare2', { offset: 50, fpLen: 0, fpCrc: 0, dev: 1, ino: 40 });
    reg.add(bare2);
    const r2 = resolveStream({ path: '/logs/fp.log', st: { dev: 1, ino: 40, size: 6_000 }, head: HEAD, topic: 'app', registry: reg, open: [] }, fx);
    expect(r2.kind === 'stream' && r2.stream.key).not.toBe('bare2');
  });

  it('two streams with the same head and inode: the one seen last is the file (whichever was known first)', () => {
    for (const order of [0, 1]) {
      const reg = new StreamRegistry('/nonexistent');
      const old = known('old', { offset: 9_000, lastSeen: 1_000 });
      const recent = known('recent', { offset: 4_000, lastSeen: 2_000 });
      for (const s of order ? [recent, old] : [old, recent]) reg.add(s);
      const { fx, counts } = effects();
      const r = resolveStream({ path: '/logs/a.log', st: { dev: 1, ino: 10, size: 5_000 }, head: HEAD, topic: 'app', registry: reg, open: [] }, fx);
      expect(r).toEqual({ kind: 'stream', stream: recent });
      expect(recent.offset).toBe(4_000);
      expect(counts.truncation).toBe(0);
    }
  });

  it('same content under another topic is not the same stream', () => {
    const reg = new StreamRegistry('/nonexistent');
    reg.add(known('a', { offset: 100 }));
    const { fx, counts } = effects();
    const r = resolveStream({ path: '/logs/a.log', st: { dev: 1, ino: 10, size: 300 }, head: HEAD, topic: 'other', registry: reg, open: [] }, fx);
    expect(r.kind).toBe('stream');
    expect(counts.created).toEqual([0]);
  });

  it('a copy of a stream that another open file is reading waits (copytruncate in progress)', () => {
    const reg = new StreamRegistry('/nonexistent');
    const s = known('a', { offset: 100 });
    reg.add(s);
    const owner = tailerOf(s, 1, 10);
    const { fx, counts } = effects();
    const r = resolveStream({ path: '/logs/a.log.1', st: { dev: 1, ino: 99, size: 300 }, head: HEAD, topic: 'app', registry: reg, open: [owner] }, fx);
    expect(r).toEqual({ kind: 'copy', of: owner });
    expect(counts).toEqual({ rotation: 0, truncation: 0, created: [] });
  });

  it('another file ending before the position reached is a consumed copy; the stream is untouched', () => {
    const reg = new StreamRegistry('/nonexistent');
    const s = known('a', { offset: 1000 });
    reg.add(s);
    const { fx, counts } = effects();
    const r = resolveStream({ path: '/logs/a.log.1', st: { dev: 1, ino: 99, size: 600 }, head: HEAD, topic: 'app', registry: reg, open: [] }, fx);
    expect(r).toEqual({ kind: 'consumed', original: s });
    expect(s).toMatchObject({ path: '/logs/a.log', ino: 10, offset: 1000 });
    expect(counts).toEqual({ rotation: 0, truncation: 0, created: [] });
  });

  it('the same file now shorter than what was read from it was truncated while closed: read from 0', () => {
    const reg = new StreamRegistry('/nonexistent');
    const s = known('a', { offset: 1000, read: 1200 });
    reg.add(s);
    const { fx, counts } = effects();
    const r = resolveStream({ path: '/logs/a.log', st: { dev: 1, ino: 10, size: 600 }, head: HEAD, topic: 'app', registry: reg, open: [] }, fx);
    expect(r).toEqual({ kind: 'stream', stream: s });
    expect(s.offset).toBe(0);
    expect(s.read).toBe(0);
    expect(counts).toEqual({ rotation: 0, truncation: 1, created: [] });
  });

  it('prefers the stream on the same inode, and the parked hint over all', () => {
    const reg = new StreamRegistry('/nonexistent');
    const other = known('other', { ino: 20 });
    const same = known('same', { ino: 10 });
    const hint = known('hint', { ino: 30 });
    reg.add(other);
    reg.add(same);
    reg.add(hint);
    const { fx } = effects();
    const input = { path: '/logs/x.log', st: { dev: 1, ino: 10, size: 300 }, head: HEAD, topic: 'app', registry: reg, open: [] };
    expect(resolveStream(input, fx)).toEqual({ kind: 'stream', stream: same });
    expect(resolveStream({ ...input, hint }, fx)).toEqual({ kind: 'stream', stream: hint });
  });
});

describe('unattached files: settling of short new files', () => {
  it('waits until the size holds SETTLE_MS, and never longer than SETTLE_MAX_MS in all', () => {
    const f = new UnattachedFiles();
    expect(f.settled('/a', 10, 0)).toBe(false);
    expect(f.settled('/a', 10, SETTLE_MS - 1)).toBe(false);
    expect(f.settled('/a', 10, SETTLE_MS)).toBe(true);
    const g = new UnattachedFiles();
    let now = 0;
    expect(g.settled('/b', 1, now)).toBe(false);
    let settled = false;
    for (let size = 2; !settled && now <= SETTLE_MAX_MS; size++) {
      now += SETTLE_MS - 1;
      settled = g.settled('/b', size, now);
    }
    expect(settled).toBe(true);
    expect(now).toBeGreaterThanOrEqual(SETTLE_MAX_MS);
  });

  it('a path is in one state at a time, and a changed consumed copy is looked at afresh', () => {
    const f = new UnattachedFiles();
    f.waitAsCopy('/c', 100, 0);
    expect(f.copies()).toEqual(['/c']);
    f.markConsumed('/c', { dev: 1, ino: 2, size: 100 });
    expect(f.copies()).toEqual([]);
    expect(f.consumedUnchanged('/c', { dev: 1, ino: 2, size: 100 })).toBe(true);
    expect(f.consumedUnchanged('/c', { dev: 1, ino: 2, size: 150 })).toBe(false);
    expect(f.consumed.size).toBe(0);
    f.waitEmpty('/d', 0);
    f.retain(new Set());
    expect(f.waiting.size).toBe(0);
  });
});
