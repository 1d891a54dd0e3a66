/**
 * Property-based tests (fast-check) for what the aggregator parses from
 * clients (issue 9, findings 1 and 8): group-offset bodies, partition keys,
 * query integers and %-encoded path segments. No throw but HttpError, no
 * prototype-bearing map reachable from a key, only canonical decimals.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGroupOffsets } from '../../../aggregator/server/topics.js';
import { HttpError, decodePathSegment, intParam, mediaType, parseDecimal } from '../../../aggregator/server/http-util.js';
import { GroupStore, toJson } from '../../../aggregator/topics/groups.js';
import { TopicPolicy } from '../../../aggregator/topics/policy.js';
import { parseAggregatorConfig } from '../../../aggregator/config.js';

const NAMES = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf'];

/** A storage stand-in with the topics NAMES plus "app", 3 partitions each, next_offset 100. */
function fakeStorage() {
  const topics = new Map<string, { partitions: Array<{ nextOffset: number }> }>();
  for (const n of [...NAMES, 'app']) topics.set(n, { partitions: [0, 1, 2].map(() => ({ nextOffset: 100 })) });
  return { get: (n: string) => topics.get(n), withTopic: async (n: string, _c: boolean, fn: (t: unknown) => unknown) => fn(topics.get(n)) } as never;
}

function onlyHttpError(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect([400, 404]).toContain((err as HttpError).status);
    return undefined;
  }
}

async function onlyHttpErrorAsync(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect([400, 404]).toContain((err as HttpError).status);
    return undefined;
  }
}

const keyArb = fc.oneof(fc.constantFrom(...NAMES, 'app', '0', '1', '2', '00', '1e0', ' 1', '-0', '0x1', '3', ''), fc.string({ maxLength: 12 }));

describe('group-offset bodies', () => {
  it('arbitrary JSON: only 400/404 HttpErrors, Maps out, Object.prototype untouched', async () => {
    const storage = fakeStorage();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.dictionary(keyArb, fc.dictionary(keyArb, fc.oneof(fc.integer({ min: -5, max: 200 }), fc.jsonValue()))).map((o) => JSON.stringify({ offsets: o }))), async (text) => {
        const r = (await onlyHttpErrorAsync(() => parseGroupOffsets({ storage }, Buffer.from(text)))) as Map<string, Map<number, number>> | undefined;
        if (r) {
          expect(r).toBeInstanceOf(Map);
          for (const [t, parts] of r) {
            expect(storage.get(t)).toBeDefined();
            for (const [p, o] of parts) {
              expect([0, 1, 2]).toContain(p);
              expect(Number.isSafeInteger(o) && o >= 0 && o <= 100).toBe(true);
            }
          }
        }
        expect(Object.keys(Object.prototype)).toEqual([]);
        expect(({} as Record<string, unknown>)['0']).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('finding 8: non-canonical partition keys, offsets past next_offset and null bodies are 400', async () => {
    const storage = fakeStorage();
    for (const key of ['00', '1e0', ' 1', '+1', '1 ', '0x1', '1.0', '']) {
      await expect(parseGroupOffsets({ storage }, Buffer.from(JSON.stringify({ offsets: { app: { [key]: 1 } } })))).rejects.toThrow(/no such partition/);
    }
    await expect(parseGroupOffsets({ storage }, Buffer.from('{"offsets": {"app": {"0": 101}}}'))).rejects.toThrow(/from 0 to next_offset 100/);
    for (const b of ['null', '{"offsets": null}', '[]', '{}']) {
      let status = 0;
      try {
        await parseGroupOffsets({ storage }, Buffer.from(b));
      } catch (err) {
        status = (err as HttpError).status;
      }
      expect(status, b).toBe(400);
    }
  });

  it('finding 1: prototype names as topic and group keys are data, persisted and reloaded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-groups-'));
    try {
      const storage = fakeStorage();
      const groups = new GroupStore(dir);
      await groups.open();
      for (const n of NAMES) {
        const offsets = await parseGroupOffsets({ storage }, Buffer.from(`{"offsets": {"${n}": {"1": 7}}}`));
        await groups.commit(n, offsets);
      }
      expect(({} as Record<string, unknown>)['1']).toBeUndefined();
      const again = new GroupStore(dir);
      await again.open();
      for (const n of NAMES) {
        expect(again.get(n).get(n)?.get(1)).toBe(7);
        expect(JSON.stringify(toJson(again.get(n)))).toBe(`{"${n}":{"1":7}}`);
      }
      expect(again.get('nothing').size).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('URL parsing', () => {
  it('parseDecimal accepts exactly the canonical decimals', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.nat().map(String), fc.constantFrom('00', '01', '1e0', ' 1', '0x1', '-0', '+1', '1.', '9007199254740993')), (s) => {
        const n = parseDecimal(s);
        if (n !== undefined) {
          expect(String(n)).toBe(s);
          expect(Number.isSafeInteger(n)).toBe(true);
        } else {
          expect(/^(0|[1-9]\d*)$/.test(s) && Number.isSafeInteger(Number(s))).toBe(false);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('query integers and %-encoded segments: only 400 HttpErrors', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (q, seg) => {
        let url: URL;
        try {
          url = new URL(`http://x/?offset=${q}`);
        } catch {
          return;
        }
        onlyHttpError(() => intParam(url, 'offset', 0));
        onlyHttpError(() => decodePathSegment(seg, 'topic'));
      }),
      { numRuns: 2000 },
    );
    for (const bad of ['%', '%E0%A4%A', '%ZZ', 'a%2']) expect(() => decodePathSegment(bad, 'topic')).toThrow(/not valid %-encoding/);
    for (const q of ['0x1', '1e0', '%201', '-1', '1.5', '99999999999999999999']) expect(() => intParam(new URL(`http://x/?offset=${q}`), 'offset', 0)).toThrow(HttpError);
  });

  it('finding 9: media types compare case-insensitively, parameters allowed', () => {
    expect(mediaType('Application/VND.Logship.Batches.V1 ; charset=binary')).toBe('application/vnd.logship.batches.v1');
    expect(mediaType(undefined)).toBe('');
  });

  it('finding 5: limits keys: auto_create_topics is true, false or a list; partitions within max_partitions_per_topic', () => {
    const limits = (yaml: string) => parseAggregatorConfig(yaml, 'a.yaml', {}).limits;
    expect(limits('')).toMatchObject({ max_topics: 1000, auto_create_topics: true, max_partitions_per_topic: 64, max_decompressed_request_bytes: 256 << 20 });
    expect(limits('limits: {auto_create_topics: false}').auto_create_topics).toBe(false);
    expect(limits('limits: {auto_create_topics: [app, "web-*"]}').auto_create_topics).toEqual(['app', 'web-*']);
    expect(() => limits('limits: {auto_create_topics: 7}')).toThrow(/limits.auto_create_topics: expected true or false/);
    expect(() => limits('limits: {max_partitions_per_topic: 4}\ntopics: {default: {partitions: 8}}')).toThrow(/topics.default.partitions: 8 partitions exceed limits.max_partitions_per_topic \(4\)/);
  });

  it('finding 5: topic creation policy judges the whole request first', () => {
    const p = new TopicPolicy({ maxTopics: 3, autoCreate: ['app-*'], configured: (n) => n === 'listed' });
    expect(() => p.checkCreate(['app-1', 'listed'], 1, (n) => `batch ${n}`)).not.toThrow();
    expect(() => p.checkCreate(['app-1', 'other'], 0, (n) => `batch ${n}`)).toThrow(/batch other: topic "other" does not exist and limits.auto_create_topics/);
    expect(() => p.checkCreate(['app-1', 'app-2', 'app-3'], 1, () => 'batch 0')).toThrow(/exceed limits.max_topics \(3; 1 exist\)/);
    expect(() => new TopicPolicy({ maxTopics: 9, autoCreate: false, configured: () => false }).checkCreate(['x'], 0, () => 'b')).toThrow(/auto_create_topics/);
  });
});
