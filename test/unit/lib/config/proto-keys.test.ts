/**
 * Issue 9: user-controlled map keys in a config file ("__proto__", "constructor", "prototype",
 * "hasOwnProperty" as topic names) are plain entries: they neither find Object.prototype's
 * members (which gave "expected undefined, got a mapping") nor set the parsed object's prototype.
 */
import { describe, expect, it } from 'vitest';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';

describe('config maps with prototype-ish keys', () => {
  it('are own entries of the topics map, and Object.prototype is untouched', () => {
    const text = [
      'topics:',
      '  default: { partitions: 2 }',
      '  __proto__: { partitions: 3 }',
      '  constructor: { partitions: 5 }',
      '  prototype: { partitions: 6 }',
      '  hasOwnProperty: { partitions: 7 }',
      '',
    ].join('\n');
    const cfg = parseAggregatorConfig(text, 'agg.yaml', {}) as unknown as { topics: Record<string, { partitions: number }> };
    const topics = cfg.topics;
    expect(Object.getPrototypeOf(topics)).toBe(Object.prototype);
    for (const [k, n] of [['__proto__', 3], ['constructor', 5], ['prototype', 6], ['hasOwnProperty', 7]] as const) {
      expect(Object.hasOwn(topics, k), k).toBe(true);
      expect(Object.getOwnPropertyDescriptor(topics, k)!.value.partitions, k).toBe(n);
    }
    expect(topics.default!.partitions).toBe(2);
    expect(({} as Record<string, unknown>).partitions).toBeUndefined();
  });
});
