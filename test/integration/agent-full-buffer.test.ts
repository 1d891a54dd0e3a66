/**
 * Issue 3, a full disk buffer (buffer.max_bytes 1MiB, the smallest allowed) while the aggregator
 * is down: with `when_full: block` reading stops and the files are the backlog, so nothing is
 * lost once it returns; with `drop_oldest` the oldest segments go, and the drop counter
 * (logship_agent_dropped_lines_total) equals exactly the lines missing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor } from '../helpers/procs.js';

const LINES = 40_000;

afterAll(async () => {
  await killAll();
});

async function metric(statusPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('agent: full buffer while the aggregator is down', () => {
  for (const policy of ['block', 'drop_oldest'] as const) {
    it(`when_full: ${policy}`, { timeout: 120_000 }, async () => {
      const tmp = await tempDir('logship-full-');
      try {
        const logs = join(tmp.dir, 'logs');
        await mkdir(logs);
        const file = join(logs, 'app.log');
        await writeFile(file, '');
        const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }], {
          agent: { buffer: { max_bytes: '1MiB', when_full: policy }, batch: { max_bytes: '64KiB', max_wait: '100ms' } },
        });
        // Hold the aggregator's port while it is "down" (connections are reset), so no other
        // process takes the port before the aggregator starts late in the test.
        const holder = createServer((sock) => sock.destroy());
        await new Promise<void>((r) => holder.listen(stack.aggPort, '127.0.0.1', () => r()));
        const agent = await stack.startAgent();
        // random hex: compresses about 2:1, so ~4 MiB of lines need ~2 MiB of buffer
        for (let i = 0; i < LINES; i += 1000) {
          let s = '';
          for (let j = i; j < i + 1000; j++) s += `${String(j).padStart(6, '0')} ${randomBytes(48).toString('hex')}\n`;
          await appendFile(file, s);
        }
        if (policy === 'drop_oldest') {
          // Everything durable (appended, dropping the oldest as it goes), not just read: batches read
          // into the pipeline are appended later and drop more, so the drop count is final only when
          // the durable position reaches the file's end.
          await waitFor('everything durable in the buffer', async () => {
            const st = (await (await fetch(`http://127.0.0.1:${stack.statusPort}/status`)).json()) as { files: Array<{ path: string; offset: number; size: number }> };
            const f = st.files.find((x) => x.path === file);
            return f !== undefined && f.size > 0 && f.offset === f.size;
          }, 60_000, 200);
          expect(await metric(stack.statusPort, 'logship_agent_lines_read_total')).toBe(LINES);
          expect(await metric(stack.statusPort, 'logship_agent_dropped_lines_total')).toBeGreaterThan(0);
        } else {
          await waitFor('buffer full', async () => {
            const h = await fetch(`http://127.0.0.1:${stack.statusPort}/healthz`);
            return h.status === 503 && (await h.text()).includes('buffer full');
          }, 60_000, 200);
          // Reading may run ahead of the buffer by the pipeline's in-flight allowance (up to 8 MiB raw,
          // more than this whole file), so lines *read* can reach LINES; what block promises is that the
          // durable buffer stops at its bound and the rest stays in the file: the durable position
          // (/status files[].offset) is short of the file's end.
          const st = (await (await fetch(`http://127.0.0.1:${stack.statusPort}/status`)).json()) as {
            files: Array<{ path: string; offset: number; size: number }>;
            buffer: { bytes: number; max_bytes: number };
          };
          const f = st.files.find((x) => x.path === file);
          expect(f, JSON.stringify(st.files)).toBeDefined();
          expect(f!.offset).toBeLessThan(f!.size);
          expect(st.buffer.bytes).toBeLessThanOrEqual(st.buffer.max_bytes);
        }
        await new Promise((r) => setTimeout(r, 1000));
        const read = await metric(stack.statusPort, 'logship_agent_lines_read_total');
        await new Promise((r) => holder.close(r));
        const agg = await stack.startAggregator();
        const dropped = await metric(stack.statusPort, 'logship_agent_dropped_lines_total');
        await waitFor(`all lines stored or dropped (dropped ${dropped})\n${agent.output().slice(-2000)}`, async () => (await topicCount(stack.aggUrl, 'app')) + dropped >= LINES, 60_000, 250);
        await new Promise((r) => setTimeout(r, 1500));
        const stored = await topicCount(stack.aggUrl, 'app');
        const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'raw'], {}, 60_000);
        const nums = r.stdout.split('\n').filter(Boolean).map((l) => Number(l.split(' ')[0]));
        const distinct = new Set(nums);
        for (let i = 1; i < nums.length; i++) if (nums[i]! <= nums[i - 1]!) throw new Error(`out of order: ${nums[i]} after ${nums[i - 1]}`);
        console.log(`full buffer ${policy}: ${LINES} lines (~${((LINES * 104) / 1048576).toFixed(1)} MiB) into a 1 MiB buffer; read before the aggregator came back ${read}; stored ${stored}, dropped (metric) ${dropped}`);
        expect(distinct.size).toBe(stored);
        expect(await metric(stack.statusPort, 'logship_agent_dropped_lines_total')).toBe(dropped);
        if (policy === 'block') {
          expect(dropped).toBe(0);
          expect(stored).toBe(LINES);
        } else {
          expect(dropped).toBeGreaterThan(0);
          expect(stored + dropped).toBe(LINES);
        }
        expect(await stop(agent)).toBe(0);
        expect(await stop(agg)).toBe(0);
      } finally {
        await killAll();
        await tmp.cleanup();
      }
    });
  }
});
