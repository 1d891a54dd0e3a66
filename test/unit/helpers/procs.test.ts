/** The waiting helpers every process test relies on. */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/procs.js';

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    expect(await waitFor('n to reach 3', () => (++n >= 3 ? n : 0), 5_000, 1)).toBe(3);
  });

  it('a label function is called only at the timeout, so it shows the state then (process output that came later)', async () => {
    let output = '';
    let calls = 0;
    const label = () => {
      calls++;
      return `ready line\n${output}`;
    };
    const waiting = waitFor(label, () => false, 200, 10);
    output = 'agent: listening on 127.0.0.1:1234';
    await expect(waiting).rejects.toThrow(/timed out after 200 ms waiting for ready line\nagent: listening on 127\.0\.0\.1:1234; last: false/);
    expect(calls).toBe(1);
  });

  it('reports the last error thrown by the probe', async () => {
    await expect(waitFor('a probe that throws', () => { throw new Error('ECONNREFUSED'); }, 50, 5)).rejects.toThrow(/last: ECONNREFUSED/);
  });
});
