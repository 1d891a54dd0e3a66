/**
 * `start_at: end` (the default) across restarts. A file present at the first start is read from
 * its end; until 2026-12-03 such a stream never got a fingerprint (it was taken only while reading
 * the file's first KiB), so at every start (graceful or kill -9) the file matched no stream, was
 * taken for a new one and read from its end again: the lines written while the agent was down
 * were lost, and files.json gained a stream per restart. Right outcome: every line written after
 * the first start exactly once, one stream per file, also for a file that had no line yet at the
 * stop, and also from a checkpoint such an older agent wrote (streams without a fingerprint,
 * found again by their inode). And start_at applies at an input's first start only: a file that
 * appeared while the agent was down (rotation) is read from its beginning, as documented; before,
 * it was read from its end at every start, losing what was written to it meanwhile.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { join } from 'node:path';
import { agentStatus, killAll, makeStack, runLogship, stop, tempDir, waitFor, waitSettled, writeYaml } from '../helpers/procs.js';

afterAll(async () => {
  await killAll();
});

const FILES = ['busy', 'idle'] as const;

function lines(name: string, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += `${name} ${String(i).padStart(7, '0')} ${'z'.repeat(60)}\n`;
  return s;
}

interface StreamJson {
  key: string;
  path: string;
  fpLen: number;
  fpCrc: number;
  offset: number;
}

describe('agent: start_at: end across restarts', () => {
  for (const how of ['SIGTERM', 'SIGKILL', 'checkpoint of an older agent'] as const) {
    it(`${how}: the lines written while the agent was down are shipped, each once; one stream per file`, { timeout: 120_000 }, async () => {
      const tmp = await tempDir('logship-sae-');
      try {
        const logs = join(tmp.dir, 'logs');
        await mkdir(logs);
        const path = (f: string) => join(logs, `${f}.log`);
        // Both files exist before the first start, longer than a fingerprint: read from their end.
        for (const f of FILES) await writeFile(path(f), lines(`${f}-old`, 0, 2000));
        const stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], scan_interval: '1s' }], {
          aggregator: { topics: { default: { partitions: 1 } } },
        });
        const agg = await stack.startAggregator();
        let agent = await stack.startAgent();
        const attached = async () => (await agentStatus(stack.statusPort)).files.length === FILES.length;
        await waitFor(() => `both files attached\n${agent.output().slice(-2000)}`, attached, 30_000, 100);
        // Only the busy file gets lines before the stop; the idle one has none until the agent is down.
        await appendFile(path('busy'), lines('busy', 0, 100));
        await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 100, statusPort: stack.statusPort });
        if (how === 'SIGKILL') {
          agent.child.kill('SIGKILL');
          await agent.exited;
        } else {
          expect(await stop(agent)).toBe(0);
        }
        const state = join(tmp.dir, 'agent-data', 'files.json');
        if (how === 'checkpoint of an older agent') {
          // What an agent before the fix left: the same streams without fingerprints, and no list of started inputs.
          const j = JSON.parse(await readFile(state, 'utf8')) as { streams: StreamJson[]; inputs?: string[] };
          expect(j.inputs).toEqual(['file-0']);
          delete j.inputs;
          for (const s of j.streams) Object.assign(s, { fpLen: 0, fpCrc: 0 });
          await writeFile(state, JSON.stringify(j));
        }
        for (const f of FILES) await appendFile(path(f), lines(f, 100, 300));
        agent = await stack.startAgent();
        await waitFor(() => `both files attached again\n${agent.output().slice(-2000)}`, attached, 30_000, 100);
        for (const f of FILES) await appendFile(path(f), lines(f, 300, 400));
        const want = 100 + 300 + 300;
        const n = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: want, statusPort: stack.statusPort, timeoutMs: 60_000, detail: () => agent.output().slice(-2000) });
        const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app']);
        expect(r.code).toBe(0);
        const got = r.stdout.split('\n').filter(Boolean);
        const expected = [...lines('busy', 0, 400).split('\n'), ...lines('idle', 100, 400).split('\n')].filter(Boolean);
        const count = new Map<string, number>();
        for (const l of got) count.set(l, (count.get(l) ?? 0) + 1);
        const missing = expected.filter((l) => !count.has(l));
        const twice = [...count].filter(([, c]) => c > 1).map(([l]) => l);
        const unexpected = got.filter((l) => !expected.includes(l));
        expect({ missing: missing.slice(0, 5), missingCount: missing.length, twice: twice.slice(0, 5), unexpected: unexpected.slice(0, 5) }).toEqual({ missing: [], missingCount: 0, twice: [], unexpected: [] });
        expect(n).toBe(want);
        expect(await stop(agent)).toBe(0);
        const streams = (JSON.parse(await readFile(state, 'utf8')) as { streams: StreamJson[] }).streams;
        expect(streams.map((s) => s.path).sort()).toEqual(FILES.map(path).sort());
        for (const s of streams) expect(s.fpLen, s.path).toBe(1024);
        expect(await stop(agg)).toBe(0);
      } finally {
        await killAll();
        await tmp.cleanup();
      }
    });
  }

  it('a file created while the agent was down (rename rotation) is read from its beginning; a file of a new input from its end', { timeout: 120_000 }, async () => {
    const tmp = await tempDir('logship-sae-');
    try {
      const logs = join(tmp.dir, 'logs');
      const other = join(tmp.dir, 'other');
      await mkdir(logs);
      await mkdir(other);
      const app = join(logs, 'app.log');
      await writeFile(app, lines('app-old', 0, 2000));
      await writeFile(join(other, 'new-input.log'), lines('other-old', 0, 2000));
      const input = { type: 'file', topic: 'app', include: [join(logs, 'app.log*')], scan_interval: '1s' };
      const stack = await makeStack(tmp.dir, [input], { aggregator: { topics: { default: { partitions: 1 } } } });
      const agg = await stack.startAggregator();
      let agent = await stack.startAgent();
      await waitFor(() => `file attached\n${agent.output().slice(-2000)}`, async () => (await agentStatus(stack.statusPort)).files.length === 1, 30_000, 100);
      await appendFile(app, lines('app', 0, 100));
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 100, statusPort: stack.statusPort });
      expect(await stop(agent)).toBe(0);
      // While it is down: logrotate renames the file, the application writes to a new one. A second
      // input is configured, whose file exists already (its first start: read from its end).
      await rename(app, `${app}.1`);
      await writeFile(app, lines('app', 100, 200));
      await writeYaml(stack.agentConfig, {
        ...(parse(await readFile(stack.agentConfig, 'utf8')) as object),
        inputs: [{ ...input, name: 'file-0' }, { type: 'file', name: 'later', topic: 'app', include: [join(other, '*.log')], scan_interval: '1s' }],
      });
      agent = await stack.startAgent();
      await waitFor(() => `files attached again\n${agent.output().slice(-2000)}`, async () => (await agentStatus(stack.statusPort)).files.length === 3, 30_000, 100);
      await appendFile(app, lines('app', 200, 300));
      await appendFile(join(other, 'new-input.log'), lines('other', 0, 50));
      const n = await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: 350, statusPort: stack.statusPort, timeoutMs: 60_000, detail: () => agent.output().slice(-2000) });
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app']);
      const got = r.stdout.split('\n').filter(Boolean).sort();
      const expected = [...lines('app', 0, 300).split('\n'), ...lines('other', 0, 50).split('\n')].filter(Boolean).sort();
      expect(got.length).toBe(expected.length);
      expect(got).toEqual(expected);
      expect(n).toBe(350);
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      await killAll();
      await tmp.cleanup();
    }
  });
});
