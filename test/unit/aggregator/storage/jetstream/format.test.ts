/**
 * The JetStream storage's own formats, in process: stream names from topic
 * names (reversible, only characters JetStream accepts), batch headers
 * (written and parsed back; damaged ones refused naming where), and the
 * producer snapshot (every field checked; a damaged one is a problem string,
 * never a throw).
 */
import { describe, expect, it } from 'vitest';
import { headers as natsHeaders } from 'nats';
import { buildHeaders, parseHeaders, streamName, tokenTopic, topicToken, H_COUNT, H_META, H_OFFSET } from '../../../../../aggregator/storage/jetstream/headers.js';
import { decodeSnapshot, encodeSnapshot } from '../../../../../aggregator/storage/jetstream/snapshot.js';

describe('stream names', () => {
  it('are reversible and hold only [A-Za-z0-9_-]', () => {
    for (const t of ['app', 'a.b', 'a_b', 'a__b', '_d', '.x.', 'A-Z.0_9', 'x'.repeat(200)]) {
      const tok = topicToken(t);
      expect(tok).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(tokenTopic(tok)).toBe(t);
    }
    // Distinct topics never share a stream.
    expect(new Set(['a.b', 'a_b', 'a_db', 'a__b'].map((t) => streamName('p', t, 0))).size).toBe(4);
    expect(streamName('logship', 'web.access', 3)).toBe('logship_web_daccess_P3');
  });
});

describe('batch headers', () => {
  it('round-trip', () => {
    const meta = Buffer.from([1, 2, 3, 250]);
    const h = buildHeaders({ offset: 12, count: 3, timestamp: 1_700_000_000_000, maxTs: 1_700_000_000_001, meta, msgId: '' });
    expect(parseHeaders(h, 's')).toEqual({ offset: 12, count: 3, timestamp: 1_700_000_000_000, maxTs: 1_700_000_000_001, meta, msgId: '' });
  });

  it('refuses missing or malformed fields, naming where', () => {
    const good = () => buildHeaders({ offset: 0, count: 1, timestamp: 0, maxTs: 0, meta: Buffer.from('m'), msgId: '' });
    expect(() => parseHeaders(undefined, 'stream S seq 4')).toThrow(/stream S seq 4: header Logship-Meta/);
    const noCount = natsHeaders();
    for (const [k, v] of good()) if (k !== H_COUNT) noCount.set(k, v[0]!);
    expect(() => parseHeaders(noCount, 'stream S seq 5')).toThrow(/stream S seq 5: header Logship-Count/);
    const zero = good();
    zero.set(H_COUNT, '0');
    expect(() => parseHeaders(zero, 'w')).toThrow(/Logship-Count = 0 is out of range/);
    const neg = good();
    neg.set(H_OFFSET, '-1');
    expect(() => parseHeaders(neg, 'w')).toThrow(/Logship-Offset/);
    const junk = good();
    junk.set(H_OFFSET, '12abc');
    expect(() => parseHeaders(junk, 'w')).toThrow(/not an integer/);
    const meta = good();
    meta.set(H_META, 'not base64!');
    expect(() => parseHeaders(meta, 'w')).toThrow(/Logship-Meta/);
  });
});

describe('producer snapshots', () => {
  it('round-trip, including producer ids that are Object.prototype names', () => {
    const producers = new Map([
      ['agent/1', { epoch: 3, seq: 41 }],
      ['__proto__', { epoch: 1, seq: -1 }],
    ]);
    const s = decodeSnapshot(encodeSnapshot({ seq: 9, next: 120, maxTs: 5, producers }));
    expect(s).toEqual({ seq: 9, next: 120, maxTs: 5, producers });
  });

  it('a damaged snapshot is a problem, never a throw', () => {
    const bad = (v: unknown) => decodeSnapshot(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
    expect(bad('{nope')).toMatch(/not JSON/);
    expect(bad({ version: 2 })).toMatch(/version 1/);
    expect(bad({ version: 1, seq: -1, next: 0, max_ts: 0, producers: {} })).toMatch(/seq, next or max_ts/);
    expect(bad({ version: 1, seq: 1, next: 0, max_ts: 0, producers: [] })).toMatch(/producers is not an object/);
    expect(bad({ version: 1, seq: 1, next: 0, max_ts: 0, producers: { a: { epoch: 'x', seq: 1 } } })).toMatch(/producer "a"/);
    expect(decodeSnapshot(Buffer.alloc((8 << 20) + 1, 32))).toMatch(/more than/);
  });
});
