/**
 * ReadScheduler on real files: a batch closes on batch.max_bytes or batch.max_wait, whichever comes
 * first. A whole max_bytes of unread growth is read at once (only whole batches; the rest keeps its
 * max_wait read), less waits for max_wait; a read of everything cancels the pending max_wait read.
 * The max_wait read starts early by the agent's recent read-to-durable time (at most half of it).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadScheduler } from '../../../../../agent/inputs/file/scheduling.js';
import { Tailer, type ReadBatch, type TailerContext } from '../../../../../agent/inputs/file/tailer.js';
import type { StreamState } from '../../../../../agent/inputs/file/streams.js';
import { createLogger } from '../../../../../lib/obs/logger.js';

const MAX_BYTES = 4096;
/** Far longer than any test runs: a read that happens did not come from this timer. */
const MAX_WAIT = 600_000;

let dir: string;
const closers: Array<() => Promise<void> | void> = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logship-sched-'));
});
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await rm(dir, { recursive: true, force: true });
});

const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => `line ${String(from + i).padStart(6, '0')} ${'x'.repeat(40)}\n`).join('');

async function setup(initial: string, o: { maxWait?: number; headroom?: number } = {}) {
  const p = join(dir, 'a.log');
  await writeFile(p, initial);
  const batches: ReadBatch[] = [];
  const ctx: TailerContext = {
    maxBatchBytes: MAX_BYTES,
    maxLineBytes: 1 << 16,
    partialLineTimeout: 1_000,
    maxWait: o.maxWait ?? MAX_WAIT,
    ...(o.headroom !== undefined ? { readHeadroom: () => o.headroom! } : {}),
    now: () => Date.now(),
    hasCapacity: () => true,
    submit: (b) => void batches.push({ ...b, raw: Buffer.from(b.raw) }),
    onTruncated: (t) => t.stream,
    setFingerprint: (s, fpLen, fpCrc) => {
      s.fpLen = fpLen;
      s.fpCrc = fpCrc;
    },
    onSplitLines: () => undefined,
  };
  const stream: StreamState = { key: 'a', topic: 'app', path: p, dev: 0, ino: 0, fpLen: 0, fpCrc: 0, offset: 0, lastSeen: 0 };
  const { fd, st } = await Tailer.openFile(p);
  const t = Tailer.attach(p, fd, st, stream, Date.now());
  const sched = new ReadScheduler(() => ctx, o.maxWait ?? MAX_WAIT, createLogger({ level: 'silent' }));
  closers.push(() => t.close(), () => sched.close());
  const size = async () => (await stat(p)).size;
  /** Bounded wait for the tailer's reads to finish. */
  const settled = async () => {
    const deadline = Date.now() + 10_000;
    while (t.busy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(t.busy).toBe(false);
  };
  return { p, t, sched, batches, size, settled, text: () => batches.map((b) => b.raw.toString()).join('') };
}

describe('ReadScheduler', () => {
  it('growth under batch.max_bytes waits for batch.max_wait: nothing is read, one read is pending', async () => {
    const h = await setup(lines(0, 20)); // ~1 KiB
    h.sched.grew(h.t, await h.size());
    h.sched.grew(h.t, await h.size());
    await h.settled();
    expect(h.batches).toHaveLength(0);
    expect(h.t.readOffset).toBe(0);
    expect(h.sched.pending).toBe(1);
  });

  it('a whole batch.max_bytes of growth is read at once, in full batches only; the rest keeps its max_wait read', async () => {
    const content = lines(0, 200); // ~9.6 KiB: two full batches and a rest
    const h = await setup('');
    await appendFile(h.p, content); // grows after the tailer's last look
    const size = await h.size();
    h.sched.grew(h.t, size);
    await h.settled();
    expect(h.batches.length).toBe(2);
    for (const b of h.batches) expect(b.raw.length).toBeGreaterThan(MAX_BYTES - 64);
    const rest = size - h.t.readOffset;
    expect(rest).toBeGreaterThan(0);
    expect(rest).toBeLessThan(MAX_BYTES);
    expect(h.text()).toBe(content.slice(0, h.t.readOffset));
    expect(h.sched.pending).toBe(1);

    // More growth that does not make a whole batch with the rest: still waiting.
    await appendFile(h.p, lines(200, 2));
    h.sched.grew(h.t, await h.size());
    await h.settled();
    expect(h.batches.length).toBe(2);

    // The poll with a read pending and less than a batch unread leaves it to max_wait too.
    expect(h.sched.poll([h.t], Date.now(), () => undefined)).toBe(true);
    await h.settled();
    expect(h.batches.length).toBe(2);

    // A read of everything (what the max_wait timer does) takes the rest and cancels the pending read.
    h.sched.now(h.t);
    await h.settled();
    expect(h.sched.pending).toBe(0);
    expect(h.text()).toBe(content + lines(200, 2));
    expect(h.batches.reduce((n, b) => n + b.lines, 0)).toBe(202);
  });

  it('a file that stopped growing (a backlog) is read to its end by a full-batches read', async () => {
    const content = lines(0, 200);
    const h = await setup(content); // the tailer saw this size when it opened the file
    h.sched.grew(h.t, await h.size());
    await h.settled();
    expect(h.text()).toBe(content);
    expect(h.batches.length).toBe(3);
  });

  it('a read of everything asked for while a full-batches read runs takes the rest too', async () => {
    const content = lines(0, 200);
    const h = await setup('');
    await appendFile(h.p, content);
    h.sched.grew(h.t, await h.size()); // starts reading whole batches only
    expect(h.t.busy).toBe(true);
    h.sched.now(h.t); // coalesces into it, asking for everything
    await h.settled();
    expect(h.text()).toBe(content);
    expect(h.sched.pending).toBe(0);
  });

  for (const [headroom, fires] of [
    [300, 700],
    [5_000, 500], // at most half of max_wait
    [0, 1_000],
  ] as const) {
    it(`the max_wait read starts early by the read-to-durable headroom (${headroom} ms of 1 s: at ${fires} ms)`, async () => {
      const h = await setup(lines(0, 20), { maxWait: 1_000, headroom });
      const size = await h.size();
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        h.sched.grew(h.t, size);
        vi.advanceTimersByTime(fires - 1);
        expect(h.t.busy).toBe(false);
        vi.advanceTimersByTime(1);
        expect(h.t.busy).toBe(true);
      } finally {
        vi.useRealTimers();
      }
      await h.settled();
      expect(h.text()).toBe(lines(0, 20));
    });
  }
});
