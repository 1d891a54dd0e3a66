/**
 * Issue 13, acceptance: the produce API (POST /v1/topics/{topic}/records) and
 * the idempotence both JSON routes promise, against a real aggregator: a JSON
 * array and NDJSON are stored and answered with their offsets (each offset
 * reads back as that record); a request retried with the same Idempotency-Key
 * (after its answer was lost to a connection reset, and again after kill -9
 * of the aggregator) is answered as the first one and stores nothing twice;
 * the same key with another body is refused. A _bulk create whose _id was
 * stored before the kill -9 still answers 409 after the restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { bearer, call, countTopic, readTopic, startEsAggregator, type EsAggregator, type StoredRecord } from '../helpers/es-ingest.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const JSONH = { 'content-type': 'application/json' };
const NDJSONH = { 'content-type': 'application/x-ndjson' };

interface ProduceAnswer {
  topic: string;
  offsets: Array<{ partition: number; offset: number }>;
}

describe('produce API (POST /v1/topics/{topic}/records)', () => {
  let agg: EsAggregator;
  let proxy: TcpProxy;
  const produce = (topic: string, body: string, headers: Record<string, string> = JSONH, base?: string) =>
    call('POST', `${base ?? agg.url}/v1/topics/${topic}/records`, { body, headers: { ...headers, ...bearer() } });
  const at = (records: StoredRecord[], o: { partition: number; offset: number }) => records.find((r) => r.partition === o.partition && r.offset === o.offset);

  beforeAll(async () => {
    agg = await startEsAggregator({ topics: { default: { partitions: 3 } } }, 'logship-es-produce-');
    proxy = await startTcpProxy(agg.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await agg?.cleanup();
  });

  it('a JSON array: offsets answered in request order, each reading back as its record (message, fields, key, timestamp, host)', async () => {
    const body = [
      { message: 'user 7 signed in', key: 'user-7', user: { id: 7 }, timestamp: '2026-12-01T09:00:00.000Z' },
      { message: 'cart updated', key: 'user-7', items: 3 },
      { event: 'audit', action: 'delete', host: 'billing-1' },
    ];
    const t0 = Date.now();
    const r = await produce('activity', JSON.stringify(body));
    expect(r.status, r.text).toBe(200);
    const a = r.json as ProduceAnswer;
    expect(a.topic).toBe('activity');
    expect(a.offsets).toHaveLength(3);
    for (const o of a.offsets) {
      expect(Number.isInteger(o.partition) && o.partition >= 0 && o.partition < 3).toBe(true);
      expect(Number.isInteger(o.offset) && o.offset >= 0).toBe(true);
    }
    // Same key, same partition, in order.
    expect(a.offsets[1]!.partition).toBe(a.offsets[0]!.partition);
    expect(a.offsets[1]!.offset).toBeGreaterThan(a.offsets[0]!.offset);
    const recs = await readTopic(agg.url, 'activity');
    expect(recs).toHaveLength(3);
    const [r0, r1, r2] = a.offsets.map((o) => at(recs, o));
    expect(r0).toMatchObject({ message: 'user 7 signed in', timestamp: '2026-12-01T09:00:00.000Z', host: '127.0.0.1' });
    expect(r0!.raw).toMatchObject({ user: { id: 7 }, key: 'user-7' });
    expect(r1).toMatchObject({ message: 'cart updated' });
    expect(r1!.raw).toMatchObject({ items: 3 });
    expect(Date.parse(r1!.timestamp)).toBeGreaterThanOrEqual(t0 - 1000);
    expect(r2).toMatchObject({ host: 'billing-1' });
    expect(r2!.raw).toMatchObject({ event: 'audit', action: 'delete' });
  });

  it('NDJSON: 5,000 records, 5,000 distinct offsets, each reading back as its record', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 5_000; i++) lines.push(JSON.stringify({ message: `nd ${i}`, n: i, key: `k${i % 13}` }));
    const r = await produce('nd', lines.join('\n') + '\n', NDJSONH);
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    const a = r.json as ProduceAnswer;
    expect(a.offsets).toHaveLength(5_000);
    expect(new Set(a.offsets.map((o) => `${o.partition}/${o.offset}`)).size).toBe(5_000);
    const recs = await readTopic(agg.url, 'nd');
    expect(recs).toHaveLength(5_000);
    a.offsets.forEach((o, i) => {
      const rec = at(recs, o);
      if (rec?.message !== `nd ${i}`) expect({ i, o, message: rec?.message }).toEqual({ i, o, message: `nd ${i}` });
    });
  });

  it('Idempotency-Key: the retry of a request whose answer was lost (connection reset) is answered as the first and stores nothing twice', async () => {
    const body = JSON.stringify([
      { message: 'order 42 paid', key: 'order-42', amount: 1250 },
      { message: 'order 42 shipped', key: 'order-42' },
    ]);
    const headers = { ...JSONH, ...bearer(), 'idempotency-key': 'order-42-events' };
    const cut = proxy.arm({ kind: 'on-response' });
    // The first attempt reaches the aggregator, which stores it; the client only sees a reset.
    const first = await request(`${proxy.url}/v1/topics/orders/records`, { method: 'POST', body, headers }).then(
      async (res) => `answered ${res.statusCode}: ${await res.body.text()}`,
      (err: Error) => `failed: ${err.message}`,
    );
    await cut;
    expect(first).toMatch(/^failed/);
    const retry = await call('POST', `${agg.url}/v1/topics/orders/records`, { body, headers });
    expect(retry.status, retry.text).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect((retry.json as ProduceAnswer).offsets).toHaveLength(2);
    const again = await call('POST', `${agg.url}/v1/topics/orders/records`, { body, headers });
    expect(again.json).toEqual(retry.json);
    const recs = await readTopic(agg.url, 'orders');
    expect(recs.map((r) => r.message).sort()).toEqual(['order 42 paid', 'order 42 shipped']);
    // The offsets answered are where the records are.
    for (const [i, o] of (retry.json as ProduceAnswer).offsets.entries()) expect(at(recs, o)?.message).toBe(i === 0 ? 'order 42 paid' : 'order 42 shipped');
  });

  it('the same Idempotency-Key with another body is refused (409) and stores nothing', async () => {
    const headers = { ...JSONH, ...bearer(), 'idempotency-key': 'k-reuse' };
    const a = await call('POST', `${agg.url}/v1/topics/reuse/records`, { body: '[{"message":"one"}]', headers });
    expect(a.status).toBe(200);
    const b = await call('POST', `${agg.url}/v1/topics/reuse/records`, { body: '[{"message":"two"}]', headers });
    expect(b.status, b.text).toBe(409);
    expect(b.json.error.reason).toMatch(/Idempotency-Key/);
    expect((await readTopic(agg.url, 'reuse')).map((r) => r.message)).toEqual(['one']);
  });

  it('bad records refuse the whole request (400 naming the record); nothing of it is stored', async () => {
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['[{"message":"fine"},{"message":42}]', JSONH, /records\[1\]/],
      ['[{"message":"fine"},"just a string"]', JSONH, /records\[1\]/],
      ['{"message":"fine"}\n{"message":\n', NDJSONH, /line 2/],
      ['[{"message":"fine"},{"message":"bad time","timestamp":"yesterday"}]', JSONH, /records\[1\].*timestamp/],
      ['[]', JSONH, /no records/],
    ];
    for (const [body, h, reason] of cases) {
      const r = await produce('refused', body, h);
      expect(r.status, `${body}: ${r.text}`).toBe(400);
      expect(r.json.error.reason).toMatch(reason);
    }
    expect((await produce('refused', 'x', { 'content-type': 'text/plain' })).status).toBe(415);
    expect(await countTopic(agg.url, 'refused')).toBe(0);
  });

  it('after kill -9 and a restart: a replayed Idempotency-Key and a _bulk create with a stored _id store nothing twice', { timeout: 120_000 }, async () => {
    const body = JSON.stringify([{ message: 'invoice 9 issued', key: 'inv-9' }]);
    const headers = { ...JSONH, ...bearer(), 'idempotency-key': 'invoice-9' };
    const first = await call('POST', `${agg.url}/v1/topics/invoices/records`, { body, headers });
    expect(first.status).toBe(200);
    const bulkBody = '{"create":{"_index":"bulk-ids","_id":"doc-1"}}\n{"message":"one"}\n{"create":{"_index":"bulk-ids","_id":"doc-2"}}\n{"message":"two"}\n';
    const b1 = await call('POST', `${agg.url}/_bulk`, { body: bulkBody, headers: { ...NDJSONH, ...bearer() } });
    expect(b1.json.errors).toBe(false);

    agg.proc.child.kill('SIGKILL');
    await agg.proc.exited;
    await agg.restart();

    const replay = await call('POST', `${agg.url}/v1/topics/invoices/records`, { body, headers });
    expect(replay.status, replay.text).toBe(200);
    expect(replay.json).toEqual(first.json);
    expect((await readTopic(agg.url, 'invoices')).map((r) => r.message)).toEqual(['invoice 9 issued']);

    const b2 = await call('POST', `${agg.url}/_bulk`, { body: bulkBody, headers: { ...NDJSONH, ...bearer() } });
    expect(b2.status).toBe(200);
    expect(b2.json.items.map((i: any) => [i.create.status, i.create.error?.type])).toEqual([
      [409, 'version_conflict_engine_exception'],
      [409, 'version_conflict_engine_exception'],
    ]);
    expect((await readTopic(agg.url, 'bulk-ids')).map((r) => r.message).sort()).toEqual(['{"message":"one"}', '{"message":"two"}']);
  });
});
