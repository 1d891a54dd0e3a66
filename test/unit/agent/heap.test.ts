import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitYoungGeneration } from '../../../agent/heap.js';
import { ROOT } from '../../helpers/procs.js';

/** In a fresh node (the young generation of this test process has long grown): new_space bytes after heavy allocation. */
function newSpaceAfterAllocating(argv2: string, nodeOptions = ''): number {
  const heap = join(ROOT, 'dist/agent/heap.js');
  const code = `
    process.argv[2] = ${JSON.stringify(argv2)};
    await import(${JSON.stringify(heap)});
    const { getHeapSpaceStatistics } = await import('node:v8');
    const keep = [];
    for (let i = 0; i < 3e6; i++) { const o = { i, a: [i] }; if (i % 3 === 0) keep.push(o); if (keep.length > 200000) keep.length = 0; }
    process.stdout.write(String(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: 'utf8', timeout: 60_000 }));
}

describe('agent heap settings', () => {
  it('leaves the young generation alone when the user set a semi-space flag', () => {
    expect(limitYoungGeneration(['--max-semi-space-size=8'], '')).toBe(false);
    expect(limitYoungGeneration([], '--max-old-space-size=200 --max_semi_space_size=8')).toBe(false);
    expect(limitYoungGeneration([], '--semi-space-growth-factor=4')).toBe(false);
  });

  it('keeps the agent young generation small; other commands and a user flag keep V8 default growth', () => {
    const MiB = 1 << 20;
    expect(newSpaceAfterAllocating('agent')).toBeLessThanOrEqual(2 * MiB);
    expect(newSpaceAfterAllocating('aggregator')).toBeGreaterThan(4 * MiB);
    expect(newSpaceAfterAllocating('agent', '--max-semi-space-size=8')).toBeGreaterThan(4 * MiB);
  }, 120_000);
});
