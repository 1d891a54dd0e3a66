/**
 * Issue 20, bug 1: a kill -9 within the second after the last acknowledgement of a full buffer
 * (`when_full: block`), before the checkpoint trims it, left an agent that restarted with a
 * buffer over its limit and fully acknowledged: nothing trimmed it (trim ran only when something
 * was dirty), nothing new could be read (the buffer was full), so it stopped shipping for good.
 *
 * The crash state is built exactly: phase 1 fills the buffer while the aggregator is down and is
 * killed; its buffer and checkpoint are copied aside. Phase 2 (file moved out of the glob, so
 * nothing new is read) delivers that buffer and is killed. Then phase 1's buffer and checkpoint
 * are put back with an ack cursor at the buffer's end: the state a kill -9 leaves right after the
 * last acknowledgement (everything delivered, nothing trimmed). The restarted agent must trim,
 * read on and deliver every line exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { appendFile, cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

interface Status {
  files: Array<{ path: string; offset: number; size: number }>;
  buffer: { bytes: number; max_bytes: number; unacked_batches: number };
  health: { ok: boolean; state: string; problems: string[] };
}

async function status(port: number): Promise<Status> {
  return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;
}

function lines(from: number, to: number): string {
  let s = '';
  // random hex compresses about 2:1, so the 1 MiB buffer fills with ~2 MiB of lines
  for (let j = from; j < to; j++) s += `${String(j).padStart(6, '0')} ${randomBytes(48).toString('hex')}\n`;
  return s;
}

describe('agent: restart with a full, fully acknowledged buffer (kill -9 before the trim)', () => {
  it('trims at start, reads on and delivers every line exactly once', { timeout: 180_000 }, async () => {
    const tmp = await tempDir('logship-wedge-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'app.log');
      await writeFile(file, '');
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }], {
        agent: { buffer: { max_bytes: '1MiB', when_full: 'block' }, batch: { max_bytes: '64KiB', max_wait: '100ms' } },
      });
      const data = join(tmp.dir, 'agent-data');
      // Phase 1: aggregator down (its port held: connections reset), the buffer fills and blocks.
      const holder = createServer((sock) => sock.destroy());
      await new Promise<void>((r) => holder.listen(stack.aggPort, '127.0.0.1', () => r()));
      let agent = await stack.startAgent();
      await appendFile(file, lines(0, 40_000));
      await waitFor('buffer full', async () => (await status(stack.statusPort)).buffer.bytes >= (1 << 20) - (64 << 10), 60_000, 200);
      // the checkpoint (1 s timer) has caught up with what is buffered
      await waitFor('checkpoint written', async () => (await readFile(join(data, 'files.json'), 'utf8')).length > 0, 10_000, 200);
      await new Promise((r) => setTimeout(r, 1500)); // one more checkpoint round: files.json covers the full buffer
      agent.child.kill('SIGKILL');
      await agent.exited;
      await cp(join(data, 'buffer'), join(tmp.dir, 'snap-buffer'), { recursive: true });
      await cp(join(data, 'files.json'), join(tmp.dir, 'snap-files.json'));

      // Phase 2: the aggregator comes back and the buffered batches are delivered (and trimmed).
      // The file is moved out of the include glob meanwhile, so this phase reads nothing new:
      // the aggregator then holds exactly what the snapshot's buffer holds.
      const hidden = join(tmp.dir, 'hidden.log');
      await rename(file, hidden);
      await new Promise((r) => holder.close(r));
      const agg = await stack.startAggregator();
      agent = await stack.startAgent();
      await waitFor('phase 2 delivered the buffer', async () => (await status(stack.statusPort)).buffer.unacked_batches === 0, 90_000, 250);
      const delivered = await topicCount(stack.aggUrl, 'app');
      expect(delivered).toBeGreaterThan(0);
      expect(delivered).toBeLessThan(40_000);
      agent.child.kill('SIGKILL');
      await agent.exited;
      await rename(hidden, file);

      // The crash state: phase 1's full buffer and checkpoint, everything in it acknowledged.
      await rm(join(data, 'buffer'), { recursive: true, force: true });
      await cp(join(tmp.dir, 'snap-buffer'), join(data, 'buffer'), { recursive: true });
      await cp(join(tmp.dir, 'snap-files.json'), join(data, 'files.json'));
      const segs = (await readdir(join(data, 'buffer', 'log'))).filter((n) => n.endsWith('.log')).sort();
      expect(segs.length).toBeGreaterThan(1);
      // next offset of the snapshot = base of the last segment + batches in it: ask the log itself
      const { SegmentLog } = await import('../../lib/log/index.js');
      const log = await SegmentLog.open({ dir: join(data, 'buffer', 'log'), segmentBytes: 64 << 10 });
      const next = log.nextOffset;
      const size = log.sizeBytes;
      await log.close();
      expect(size).toBeGreaterThanOrEqual((1 << 20) - (64 << 10));
      await writeFile(join(data, 'buffer', 'ack.json'), JSON.stringify({ next }));

      // The fix: the restarted agent trims, reads the rest of the file and new lines.
      agent = await stack.startAgent();
      await appendFile(file, lines(40_000, 41_000));
      await waitFor(`every line stored\n${agent.output().slice(-3000)}`, async () => (await topicCount(stack.aggUrl, 'app')) >= 41_000, 90_000, 250);
      await waitFor('agent caught up', async () => {
        const s = await status(stack.statusPort);
        const f = s.files.find((x) => x.path === file);
        return s.buffer.unacked_batches === 0 && f !== undefined && f.offset === f.size;
      }, 30_000, 250);
      const s = await status(stack.statusPort);
      expect(s.buffer.bytes).toBeLessThanOrEqual(s.buffer.max_bytes);
      expect(s.health.state).toBe('ok');
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
      const nums = r.stdout.split('\n').filter(Boolean).map((l) => Number(l.split(' ')[0]));
      expect(nums.length).toBe(41_000);
      for (let i = 0; i < nums.length; i++) if (nums[i] !== i) throw new Error(`line ${i}: got ${nums[i]} (lost, repeated or out of order)`);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
