/** Host and time taken from a document, and what is refused. */
import { describe, expect, it } from 'vitest';
import { hostOf, timeOf } from '../../../../aggregator/server/es-compat/documents.js';

describe('documents', () => {
  it('host from host.name (ECS), a flattened "host.name", or a string host; nothing unusable', () => {
    expect(hostOf({ host: { name: 'web1' } })).toBe('web1');
    expect(hostOf({ 'host.name': 'web2' })).toBe('web2');
    expect(hostOf({ host: 'web3' })).toBe('web3');
    expect(hostOf({ host: { name: 7 } })).toBeUndefined();
    expect(hostOf({ host: { name: 'a\nb' } })).toBeUndefined();
    expect(hostOf({ host: { name: 'x'.repeat(256) } })).toBeUndefined();
    expect(hostOf({})).toBeUndefined();
  });

  it('@timestamp as RFC 3339 (any offset, or none: UTC), a date, or epoch ms; not loose strings', () => {
    expect(timeOf('2024-05-01T12:00:00.123Z')).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 123));
    expect(timeOf('2024-05-01T14:00:00+02:00')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(timeOf('2024-05-01T14:00:00+0200')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(timeOf('2024-05-01T12:00:00')).toBe(Date.UTC(2024, 4, 1, 12));
    expect(timeOf('2024-05-01')).toBe(Date.UTC(2024, 4, 1));
    expect(timeOf(1714564800000)).toBe(1714564800000);
    for (const v of ['1', 'May 5 2024', '2024-13-45T00:00:00Z', -5, null, {}, 'x2024-05-01']) expect(timeOf(v)).toBeUndefined();
  });
});
