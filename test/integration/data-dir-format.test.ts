/**
 * Data directory format markers: a new data dir gets one; a dir written by a
 * newer, incompatible logship, or by the other program, is refused at start
 * with a message that says what to do (exit 2, as a config problem: change
 * data_dir or the logship version), and nothing in it is touched; a damaged
 * marker is exit 1.
 */
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATA_DIR_FORMAT, DATA_DIR_MARKER } from '../../lib/state/data-dir.js';
import { killAll, makeStack, spawnLogship, stop, tempDir } from '../helpers/procs.js';

afterAll(killAll);

describe('data directory format', () => {
  it('marks new dirs, refuses a newer format and the other program\'s dir, and touches nothing', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    try {
      const logs = join(t.dir, 'logs');
      await mkdir(logs);
      const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')] }]);
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
      const aggMarker = JSON.parse(await readFile(join(t.dir, 'agg-data', DATA_DIR_MARKER), 'utf8'));
      expect(aggMarker).toEqual({ format: DATA_DIR_FORMAT, kind: 'aggregator', written_by: expect.stringMatching(/^\d+\.\d+\.\d+/) });
      const agentMarker = JSON.parse(await readFile(join(t.dir, 'agent-data', DATA_DIR_MARKER), 'utf8'));
      expect(agentMarker.kind).toBe('agent');

      // A newer layout: refused, with what to do.
      await writeFile(join(t.dir, 'agg-data', DATA_DIR_MARKER), JSON.stringify({ ...aggMarker, format: DATA_DIR_FORMAT + 1, written_by: '9.0.0' }));
      const before = (await readdir(join(t.dir, 'agg-data'), { recursive: true })).sort();
      const newer = spawnLogship(['aggregator', '--config', stack.aggConfig]);
      expect(await newer.exited).toBe(2);
      expect(newer.output()).toMatch(new RegExp(`written by logship 9\\.0\\.0 in data format ${DATA_DIR_FORMAT + 1}; this logship \\(\\S+\\) reads format ${DATA_DIR_FORMAT} and would misread it`));
      expect((await readdir(join(t.dir, 'agg-data'), { recursive: true })).sort()).toEqual(before);

      // The aggregator's dir given to the agent: refused.
      await writeFile(stack.agentConfig, (await readFile(stack.agentConfig, 'utf8')).replace(join(t.dir, 'agent-data'), join(t.dir, 'agg-data')));
      const wrong = spawnLogship(['agent', '--config', stack.agentConfig]);
      expect(await wrong.exited).toBe(2);
      expect(wrong.output()).toMatch(/is a logship aggregator data directory, not an agent one/);

      // A damaged marker: refused with what to do.
      await writeFile(join(t.dir, 'agent-data', DATA_DIR_MARKER), '{"format": 1, "kind": "agent"');
      await writeFile(stack.agentConfig, (await readFile(stack.agentConfig, 'utf8')).replace(join(t.dir, 'agg-data'), join(t.dir, 'agent-data')));
      const damaged = spawnLogship(['agent', '--config', stack.agentConfig]);
      expect(await damaged.exited).toBe(1);
      expect(damaged.output()).toMatch(/data directory marker is damaged .*delete the file and start again/);
    } finally {
      await t.cleanup();
    }
  });
});
