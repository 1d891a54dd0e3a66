/**
 * Issue 17, live tail: a batch closes on batch.max_bytes or batch.max_wait, whichever comes first.
 * With max_wait far longer than the test, a file that grows by several max_bytes at once is read
 * and delivered without waiting for max_wait: its whole batches at once, and, since the file then
 * stops growing, the rest too (a rest waits for max_wait only while the file keeps growing).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, stop, tempDir, topicCount, waitFor, waitSettled } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

/** 50 bytes a line */
const line = (tag: string, i: number) => `${tag} ${String(i).padStart(6, '0')} ${'z'.repeat(50 - tag.length - 9)}\n`;
const lines = (tag: string, from: number, n: number) => Array.from({ length: n }, (_, i) => line(tag, from + i)).join('');

describe('agent: full batches are read at once', () => {
  it('growth of several batch.max_bytes is delivered without waiting for batch.max_wait', { timeout: 120_000 }, async () => {
    expect(line('a', 0).length).toBe(50);
    const tmp = await tempDir('logship-fullbatch-');
    try {
      const logs = join(tmp.dir, 'logs');
      await mkdir(logs);
      const file = join(logs, 'app.log');
      // Some content before the start: the file is attached (and read) at once at the first scan.
      const first = 100;
      await writeFile(file, lines('a', 0, first));
      const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }], {
        agent: { batch: { max_bytes: '64KiB', max_wait: '10m' } },
      });
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: first, statusPort: stack.statusPort, timeoutMs: 30_000 });

      // One write of 6,000 lines (300,000 bytes): four whole 64 KiB batches (1,310 lines each) and a rest.
      const more = 6_000;
      await appendFile(file, lines('b', 0, more));
      const total = first + more;
      // Bounded far below max_wait (10 min): only a read on max_bytes can deliver these.
      await waitFor(
        () => `all ${total} lines without waiting for max_wait\n${agent.output().slice(-2000)}`,
        async () => (await topicCount(stack.aggUrl, 'app')) >= total,
        60_000,
      );
      const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 30_000 });
      expect(stored).toBe(total);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
