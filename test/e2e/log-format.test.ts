/** --log-format / LOGSHIP_LOG_FORMAT: JSON lines when not on a terminal, pretty when asked; a bad value is a usage error (exit 2). */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, makeStack, runLogship, spawnLogship, stop, tempDir, waitFor } from '../helpers/procs.js';

afterAll(killAll);

describe('log format', () => {
  it('JSON by default off a terminal, pretty with --log-format pretty or LOGSHIP_LOG_FORMAT=pretty; bad values exit 2', { timeout: 60_000 }, async () => {
    const t = await tempDir();
    try {
      const stack = await makeStack(t.dir, []);
      const firstLine = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
        const p = spawnLogship(['aggregator', '--config', stack.aggConfig, ...args], env);
        await waitFor(() => `ready\n${p.output()}`, async () => (await fetch(`${stack.aggUrl}/readyz`).catch(() => undefined))?.ok === true, 30_000);
        await waitFor(() => `a log line\n${p.output()}`, () => p.output().includes('\n'), 30_000);
        const line = p.output().split('\n')[0]!;
        expect(await stop(p)).toBe(0);
        return line;
      };
      const plain = await firstLine([]);
      expect(() => JSON.parse(plain)).not.toThrow();
      expect(JSON.parse(await firstLine(['--log-format', 'json'], { LOGSHIP_LOG_FORMAT: 'pretty' })).name).toBe('logship-aggregator');
      for (const line of [await firstLine(['--log-format', 'pretty']), await firstLine([], { LOGSHIP_LOG_FORMAT: 'pretty' })]) {
        expect(() => JSON.parse(line)).toThrow();
        expect(line).toMatch(/INFO/);
      }
      const bad = await runLogship(['aggregator', '--config', join(t.dir, 'aggregator.yaml'), '--log-format', 'xml']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--log-format must be json or pretty; got "xml"/);
    } finally {
      await t.cleanup();
    }
  });
});
