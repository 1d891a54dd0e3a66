/** multiline through real processes: stack traces arrive as one record each, the last one after its timeout. */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, waitSettled } from '../helpers/procs.js';

afterAll(killAll);

describe('agent: multiline', () => {
  it('joins continuation lines into records and flushes the last one on timeout', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const stack = await makeStack(t.dir, [
        { type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning', multiline: { start_pattern: '^\\d{4}-\\d\\d-\\d\\d ', timeout: '500ms', max_lines: 50 } },
      ]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      const file = join(logs, 'app.log');
      const expected: string[] = [];
      for (let i = 0; i < 200; i++) {
        const rec = [`2026-11-22 10:00:${String(i % 60).padStart(2, '0')} ERROR failure ${i}`, ...Array.from({ length: i % 4 }, (_, k) => `    at frame${k} (app.js:${i}:${k})`)];
        expected.push(rec.join('\n'));
        await appendFile(file, rec.join('\n') + '\n');
        // pauses now and then so records span several reads; not a wait for state
        if (i % 50 === 0) await new Promise((r) => setTimeout(r, 50));
      }
      // the last record only leaves on its 500 ms timeout; settled = nothing unacknowledged, count unchanged
      expect(await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 200, statusPort: stack.statusPort, timeoutMs: 30_000 })).toBe(200);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'json']);
      const got = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { message: string; source_offset: number });
      expect(got.map((g) => g.message)).toEqual(expected);
      let off = 0;
      expect(got.map((g) => g.source_offset)).toEqual(expected.map((e) => ((off += e.length + 1), off - e.length - 1)));
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
