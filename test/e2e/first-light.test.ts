/**
 * Issue 2's end-to-end path with real processes on 127.0.0.1: three files of
 * 100,000 unique lines each, one renamed away and recreated midway, one created
 * after the agent started, and one SIGKILL of the agent midway. Every line must
 * come back exactly once, in order per file, with its source and source_offset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killAll, makeStack, runLogship, stop, tempDir, topicCount, waitFor, waitSettled, type Proc, type Stack } from '../helpers/procs.js';

const LINES_PER_FILE = 100_000;
const CHUNK = 5_000;

interface Expected {
  source: string;
  offset: number;
  gen: string;
  seq: number;
}

describe('first light: file -> agent -> aggregator -> logship read', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let stack: Stack;
  let agg: Proc;
  let agent: Proc;
  const expected = new Map<string, Expected>();
  const sizes = new Map<string, number>();
  let started = 0;
  let totalBytes = 0;

  beforeAll(async () => {
    tmp = await tempDir();
    const logs = join(tmp.dir, 'logs');
    await import('node:fs/promises').then((f) => f.mkdir(logs));
    stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
  });

  afterAll(async () => {
    await killAll();
    await tmp.cleanup();
  });

  async function writeChunk(path: string, gen: string, from: number, to: number): Promise<void> {
    let s = '';
    let off = sizes.get(gen) ?? 0;
    for (let i = from; i < to; i++) {
      const line = `${gen} seq=${String(i).padStart(6, '0')} GET /api/v1/items/${i * 7919 % 100003} HTTP/1.1 200 ua="Mozilla/5.0 (X11; Linux x86_64)"`;
      expected.set(line, { source: path, offset: off, gen, seq: i });
      off += Buffer.byteLength(line) + 1;
      s += line + '\n';
    }
    sizes.set(gen, off);
    totalBytes += Buffer.byteLength(s);
    await appendFile(path, s);
  }

  it('delivers every line exactly once across rename, late files and a SIGKILL', { timeout: 300_000 }, async () => {
    const logs = join(tmp.dir, 'logs');
    const a = join(logs, 'a.log');
    const b = join(logs, 'b.log');
    const c = join(logs, 'c.log');
    await writeFile(a, '');
    await writeFile(b, '');
    agg = await stack.startAggregator();
    agent = await stack.startAgent();
    started = Date.now();
    const half = LINES_PER_FILE / 2;
    for (let i = 0; i < LINES_PER_FILE; i += CHUNK) {
      await writeChunk(a, 'a', i, i + CHUNK);
      if (i < half) await writeChunk(b, 'b1', i, i + CHUNK);
      else await writeChunk(b, 'b2', i, i + CHUNK);
      if (i >= CHUNK * 2) await writeChunk(c, 'c', i - CHUNK * 2, i - CHUNK * 2 + CHUNK);
      if (i + CHUNK === half) {
        // rotation by rename: b.log -> b.log.1 (no longer matched), a new b.log follows
        await rename(b, join(logs, 'b.log.1'));
        await writeFile(b, '');
      }
      if (i === 60_000) {
        agent.child.kill('SIGKILL');
        await agent.exited;
        agent = await stack.startAgent();
      }
      // paces the writer so rotation and the kill happen mid-stream; not a wait for anything
      await new Promise((r) => setTimeout(r, 20));
    }
    await writeChunk(c, 'c', LINES_PER_FILE - CHUNK * 2, LINES_PER_FILE);

    const total = expected.size;
    expect(total).toBe(3 * LINES_PER_FILE);
    // settled: nothing unacknowledged in the agent and the count unchanged, so a late duplicate is counted
    const stored = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: total, statusPort: stack.statusPort, timeoutMs: 150_000, detail: () => agent.output().slice(-3000) });
    const seconds = (Date.now() - started) / 1000;
    expect(stored).toBe(total);

    const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--format', 'json'], {}, 120_000);
    expect(r.code, r.stderr).toBe(0);
    const seen = new Set<string>();
    const lastSeq = new Map<string, number>();
    const problems: string[] = [];
    let n = 0;
    for (const line of r.stdout.split('\n')) {
      if (!line) continue;
      const rec = JSON.parse(line) as { topic: string; host: string; source: string; source_offset: number; message: string; timestamp: string; offset: number; partition: number };
      n++;
      const exp = expected.get(rec.message);
      if (!exp) problems.push(`unexpected record ${line}`);
      else if (seen.has(rec.message)) problems.push(`duplicate ${line}`);
      else {
        seen.add(rec.message);
        if (rec.source !== exp.source) problems.push(`wrong source ${line}`);
        if (rec.source_offset !== exp.offset) problems.push(`wrong source_offset (want ${exp.offset}) ${line}`);
        if (rec.host !== 'test-host' || rec.topic !== 'app') problems.push(`wrong host/topic ${line}`);
        if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(rec.timestamp)) problems.push(`bad timestamp ${line}`);
        const prev = lastSeq.get(exp.gen) ?? -1;
        if (exp.seq <= prev) problems.push(`out of order in ${exp.gen}: ${exp.seq} after ${prev}`);
        lastSeq.set(exp.gen, exp.seq);
      }
      if (problems.length > 20) break;
    }
    expect(problems).toEqual([]);
    expect(n).toBe(total);
    expect(seen.size).toBe(total);
    const mib = totalBytes / 1048576;
    console.log(`first-light: ${total} lines, ${mib.toFixed(1)} MiB in ${seconds.toFixed(1)} s (writer-paced): ${(mib / seconds).toFixed(1)} MiB/s, ${Math.round(total / seconds)} lines/s`);

    expect(await stop(agent)).toBe(0);
    expect(await stop(agg)).toBe(0);
  });
});
