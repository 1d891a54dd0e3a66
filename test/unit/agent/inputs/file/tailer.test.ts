/** Tailer on real files in a temp dir, with an injected clock: batches, partial lines, capacity, truncation, deleted files. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, rm, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tailer, type ReadBatch, type TailerContext } from '../../../../../agent/inputs/file/tailer.js';
import type { StreamState } from '../../../../../agent/inputs/file/streams.js';
import { crc32c } from '../../../../../lib/log/index.js';
import { FLAG_FRAMED } from '../../../../../lib/protocol/batches.js';

let dir: string;
const tailers: Tailer[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-tailer-'));
});
afterEach(async () => {
  for (const t of tailers.splice(0)) await t.close();
  await rm(dir, { recursive: true, force: true });
});

function stream(key: string, path: string, offset = 0): StreamState {
  return { key, topic: 'app', path, dev: 0, ino: 0, fpLen: 0, fpCrc: 0, offset, lastSeen: 0 };
}

interface Harness {
  ctx: TailerContext;
  batches: ReadBatch[];
  truncated: Array<{ from: number; newKey: string }>;
  split: number[];
  clock: { now: number };
  capacity: { ok: boolean };
  text: () => string;
}

function harness(o: Partial<TailerContext> = {}): Harness {
  const batches: ReadBatch[] = [];
  const truncated: Array<{ from: number; newKey: string }> = [];
  const split: number[] = [];
  const clock = { now: 1_000_000 };
  const capacity = { ok: true };
  let gen = 0;
  const ctx: TailerContext = {
    maxBatchBytes: 1 << 20,
    maxLineBytes: 1 << 16,
    partialLineTimeout: 1_000,
    now: () => clock.now,
    hasCapacity: () => capacity.ok,
    // copy: the tailer may hand its read buffer on (owned), the test keeps what it saw
    submit: (b) => void batches.push({ ...b, raw: Buffer.from(b.raw) }),
    onTruncated: (t, from) => {
      const s = stream(`${t.stream.key}+${++gen}`, t.path);
      truncated.push({ from, newKey: s.key });
      return s;
    },
    setFingerprint: (s, fpLen, fpCrc) => {
      s.fpLen = fpLen;
      s.fpCrc = fpCrc;
    },
    onSplitLines: (n) => void split.push(n),
    ...o,
  };
  return { ctx, batches, truncated, split, clock, capacity, text: () => batches.map((b) => b.raw.toString()).join('') };
}

async function tail(path: string, s: StreamState, now = 1_000_000): Promise<Tailer> {
  const { fd, st } = await Tailer.openFile(path);
  const t = Tailer.attach(path, fd, st, s, now);
  tailers.push(t);
  return t;
}

const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => `line ${from + i}\n`).join('');

describe('Tailer', () => {
  it('a stream read from the end of an existing file (start_at: end) gets its fingerprint at once, before anything is read', async () => {
    const p = join(dir, 'end.log');
    const content = lines(0, 300);
    await writeFile(p, content);
    const h = harness();
    const s = stream('e', p, content.length);
    const t = await tail(p, s);
    await t.pump(h.ctx);
    expect(h.batches).toEqual([]);
    expect(s.fpLen).toBe(1024);
    expect(s.fpCrc).toBe(crc32c(Buffer.from(content).subarray(0, 1024)));
    // and the lines written after are read from the end, carrying it
    await appendFile(p, lines(300, 2));
    await t.pump(h.ctx);
    expect(h.text()).toBe(lines(300, 2));
    expect(h.batches[0]!.fpLen).toBe(1024);
  });

  it('the fingerprint of a short file grows with it even when reading is past it', async () => {
    const p = join(dir, 'short.log');
    await writeFile(p, lines(0, 3));
    const h = harness();
    const s = stream('s', p);
    const t = await tail(p, s);
    await t.pump(h.ctx);
    expect(s.fpLen).toBe(lines(0, 3).length);
    await appendFile(p, lines(3, 300));
    await t.pump(h.ctx);
    expect(s.fpLen).toBe(1024);
    expect(h.batches.at(-1)!.fpLen).toBe(1024);
  });

  it('reads whole lines in batches of at most batch.max_bytes, with source offsets and line counts; fingerprints from byte one', async () => {
    const p = join(dir, 'a.log');
    const content = lines(0, 100);
    await writeFile(p, content);
    const h = harness({ maxBatchBytes: 256 });
    const s = stream('a', p);
    const t = await tail(p, s);
    await t.pump(h.ctx);
    expect(h.text()).toBe(content);
    expect(h.batches.length).toBeGreaterThan(3);
    for (const b of h.batches) {
      expect(b.raw.length).toBeLessThanOrEqual(256);
      expect(b.raw.toString().endsWith('\n')).toBe(true);
      expect(b.lines).toBe(b.raw.toString().split('\n').length - 1);
      expect(content.slice(b.start, b.end)).toBe(b.raw.toString());
      expect(b.source).toBe(p);
    }
    expect(h.batches.map((b) => b.start).slice(1)).toEqual(h.batches.map((b) => b.end).slice(0, -1));
    expect(h.batches.reduce((a, b) => a + b.lines, 0)).toBe(100);
    expect(s.read).toBe(content.length);
    expect(t.lag).toBe(0);
    expect(s.fpLen).toBe(Math.min(1024, content.length));
    expect(s.fpCrc).toBe(crc32c(Buffer.from(content).subarray(0, s.fpLen)));
  });

  it('a trailing partial line waits for its newline, and is flushed, flagged, after partial_line_timeout', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, 'one\ntw');
    const h = harness();
    const t = await tail(p, stream('a', p));
    await t.pump(h.ctx);
    expect(h.text()).toBe('one\n');
    expect(t.hasPartial).toBe(true);
    await appendFile(p, 'o\nthr');
    await t.pump(h.ctx);
    expect(h.text()).toBe('one\ntwo\n');
    // no newline within the timeout: the partial line goes out on its own, framed
    h.clock.now += 500;
    await t.pump(h.ctx);
    expect(h.text()).toBe('one\ntwo\n');
    h.clock.now += 600;
    await t.pump(h.ctx);
    const last = h.batches.at(-1)!;
    expect(last.flags & FLAG_FRAMED).toBe(FLAG_FRAMED);
    expect(last.start).toBe(8);
    expect(last.end).toBe(11);
    expect(t.hasPartial).toBe(false);
  });

  it('stops reading while there is no capacity (the file is the backlog) and goes on from there', async () => {
    const p = join(dir, 'a.log');
    const content = lines(0, 50);
    await writeFile(p, content);
    const h = harness({ maxBatchBytes: 64 });
    let allowed = 2;
    h.ctx.hasCapacity = () => allowed-- > 0;
    const t = await tail(p, stream('a', p));
    await t.pump(h.ctx);
    expect(h.batches).toHaveLength(2);
    expect(t.lag).toBe(content.length - h.batches[1]!.end);
    h.ctx.hasCapacity = () => true;
    await t.pump(h.ctx);
    expect(h.text()).toBe(content);
  });

  it('resumes at the stream position from the buffer (a restart), not at 0', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, lines(0, 10));
    const at = lines(0, 4).length;
    const h = harness();
    const t = await tail(p, stream('a', p, at));
    await t.pump(h.ctx);
    expect(h.text()).toBe(lines(4, 6));
    expect(h.batches[0]!.start).toBe(at);
  });

  it('a file truncated in place is a new stream, read from 0; the old position is reported', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, lines(0, 10));
    const h = harness();
    const s = stream('a', p);
    const t = await tail(p, s);
    await t.pump(h.ctx);
    const oldEnd = lines(0, 10).length;
    await truncate(p, 0);
    await appendFile(p, 'fresh 1\nfresh 2\n');
    await t.pump(h.ctx);
    expect(h.truncated).toEqual([{ from: oldEnd, newKey: 'a+1' }]);
    expect(t.stream.key).toBe('a+1');
    const after = h.batches.filter((b) => b.stream.key === 'a+1');
    expect(after.map((b) => b.raw.toString()).join('')).toBe('fresh 1\nfresh 2\n');
    expect(after[0]!.start).toBe(0);
  });

  it('a rewrite to exactly the same size with other content is seen (mtime + fingerprint) and read from 0', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, 'AAAA\nBBBB\n');
    const h = harness();
    const t = await tail(p, stream('a', p));
    await t.pump(h.ctx);
    await writeFile(p, 'CCCC\nDDDD\n');
    // make sure the mtime differs even on a coarse clock
    const later = new Date(Date.now() + 5_000);
    await utimes(p, later, later);
    await t.pump(h.ctx);
    expect(h.truncated).toHaveLength(1);
    expect(h.text()).toBe('AAAA\nBBBB\nCCCC\nDDDD\n');
  });

  it('the same size and content with a new mtime (touch) is not a truncation', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, 'AAAA\nBBBB\n');
    const h = harness();
    const t = await tail(p, stream('a', p));
    await t.pump(h.ctx);
    const later = new Date(Date.now() + 5_000);
    await utimes(p, later, later);
    await t.pump(h.ctx);
    expect(h.truncated).toEqual([]);
    expect(h.text()).toBe('AAAA\nBBBB\n');
  });

  it('keeps reading a deleted file through its descriptor until drained, and marks it deleted', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, lines(0, 1000));
    const h = harness({ maxBatchBytes: 512 });
    const t = await tail(p, stream('a', p));
    await unlink(p);
    await t.pump(h.ctx);
    expect(t.deleted).toBe(true);
    expect(h.text()).toBe(lines(0, 1000));
  });

  it('splits a line longer than max_line_bytes into parts and counts it', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, `short\n${'y'.repeat(300)}\nend\n`);
    const h = harness({ maxLineBytes: 100 });
    const t = await tail(p, stream('a', p));
    await t.pump(h.ctx);
    expect(h.split.reduce((a, b) => a + b, 0)).toBe(1);
    expect(h.batches.at(-1)!.end).toBe(6 + 301 + 4);
  });

  it('concurrent pumps coalesce: every byte is submitted exactly once', async () => {
    const p = join(dir, 'a.log');
    await writeFile(p, lines(0, 200));
    const h = harness({ maxBatchBytes: 128 });
    const t = await tail(p, stream('a', p));
    const pumps = [t.pump(h.ctx), t.pump(h.ctx), t.pump(h.ctx)];
    await appendFile(p, lines(200, 50));
    pumps.push(t.pump(h.ctx));
    await Promise.all(pumps);
    await t.pump(h.ctx);
    expect(h.text()).toBe(lines(0, 250));
  });
});
