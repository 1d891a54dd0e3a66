/**
 * Issue 14 acceptance, replay: schema on read. A running aggregator's pipeline
 * is changed (config rewritten, SIGHUP); re-reading the topic from offset 0
 * gives the new fields for the old records, and nothing was stored again
 * (offsets and bytes of every partition unchanged).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { httpJson, killAll, makeStack, runLogship, stop, tempDir, waitFor, waitSettled } from '../helpers/procs.js';

afterAll(killAll);

type Topics = { topics: Array<{ name: string; partitions: Array<{ partition: number; first_offset: number; next_offset: number; bytes: number }> }> };

describe('pipelines: replay', () => {
  it('a changed pipeline applies to records stored before the change; nothing is re-stored', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const v1 = { web: { topics: ['app'], steps: [{ type: 'kv' }] } };
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }], { aggregator: { pipelines: v1 } });
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      const N = 500;
      await appendFile(join(logs, 'app.log'), Array.from({ length: N }, (_, i) => `ts=2026-12-01T10:00:${String(i % 60).padStart(2, '0')}Z level=${i % 3 ? 'info' : 'error'} user=u${i} took=${i}ms`).join('\n') + '\n');
      expect(await waitSettled({ aggUrl: stack.aggUrl, topic: 'app', atLeast: N, statusPort: stack.statusPort })).toBe(N);
      expect(await stop(agent)).toBe(0);

      const read = async () => {
        const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'app', '--parse', '--from-beginning']);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
      };
      const before = await read();
      expect(before.length).toBe(N);
      expect(before.every((d) => typeof d.user === 'string' && d.log.level === undefined && d.level !== undefined)).toBe(true);
      const storedBefore = await httpJson<Topics>(`${stack.aggUrl}/v1/topics`);

      // v2: logfmt preset (level -> log.level, ts -> @timestamp), errors only, the user under user.name
      const v2 = {
        web: {
          topics: ['app'],
          steps: [
            { type: 'pattern', preset: 'logfmt' },
            { type: 'rename', fields: { user: 'user.name' } },
            { type: 'drop', if: 'log.level != "error"' },
          ],
        },
      };
      const doc = parse(await readFile(stack.aggConfig, 'utf8')) as Record<string, unknown>;
      await writeFile(stack.aggConfig, stringify({ ...doc, pipelines: v2 }));
      process.kill(agg.child.pid!, 'SIGHUP');
      const after = await waitFor(
        () => `the new pipeline after SIGHUP\n${agg.output().slice(-2000)}`,
        async () => {
          const d = await read();
          return d.length > 0 && d.length < N ? d : undefined;
        },
        30_000,
      );
      const errors = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 === 0);
      expect(after.map((d) => d.user.name)).toEqual(errors.map((i) => `u${i}`));
      expect(after.map((d) => d['@timestamp'])).toEqual(errors.map((i) => `2026-12-01T10:00:${String(i % 60).padStart(2, '0')}.000Z`));
      expect(after.every((d) => d.log.level === 'error' && d.took !== undefined)).toBe(true);
      expect(await httpJson<Topics>(`${stack.aggUrl}/v1/topics`)).toEqual(storedBefore);
      expect(await stop(agg)).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
