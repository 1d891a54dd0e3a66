/** Reading (rule, host, state) out of `logship alerts --format json`, whatever the nesting. */
import { describe, expect, it } from 'vitest';
import { alertRows, logLines } from '../../helpers/alerts.js';

describe('alertRows', () => {
  it('finds groups nested under their rule', () => {
    const out = { rules: [{ name: 'ErrorBurst', kind: 'match', groups: [{ host: 'web-01', state: 'firing', since: 'x' }, { host: 'web-02', state: 'inactive' }] }, { name: 'Other', groups: [{ host: 'web-01', state: 'pending' }] }] };
    expect(alertRows(out, ['ErrorBurst'])).toEqual([
      { rule: 'ErrorBurst', host: 'web-01', state: 'firing' },
      { rule: 'ErrorBurst', host: 'web-02', state: 'inactive' },
    ]);
  });

  it('finds flat rows with the rule and the host in labels or a group object', () => {
    const out = [
      { rule: 'HighCPU', group: { host: 'h1' }, state: 'pending' },
      { labels: { alertname: 'HighCPU', host: 'h2' }, state: 'firing' },
      { rule: 'HighCPU', group: 'h3', state: 'inactive' },
      { rule: 'HighCPU', host: 'h4', state: 'unknown-state' },
    ];
    expect(alertRows(out, ['HighCPU'])).toEqual([
      { rule: 'HighCPU', host: 'h1', state: 'pending' },
      { rule: 'HighCPU', host: 'h2', state: 'firing' },
      { rule: 'HighCPU', host: 'h3', state: 'inactive' },
    ]);
  });

  it('a nested entry with a state but no host (e.g. per-sink status) stays host-less, so lookups by host ignore it', () => {
    const out = { rules: [{ name: 'HostSilent', groups: [{ host: 'a', state: 'firing', notifications: [{ name: 'pd', state: 'inactive' }] }] }] };
    expect(alertRows(out, ['HostSilent'])).toEqual([
      { rule: 'HostSilent', host: 'a', state: 'firing' },
      { rule: 'HostSilent', host: undefined, state: 'inactive' },
    ]);
  });
});

describe('logLines', () => {
  it('numbers lines from the given index with the level', () => {
    const l = logLines('ERROR', 2, 'boom', 10);
    expect(l).toHaveLength(2);
    expect(l[0]).toMatch(/^\d{4}-\d\d-\d\dT.* ERROR boom #10$/);
    expect(l[1]).toMatch(/ ERROR boom #11$/);
  });
});
