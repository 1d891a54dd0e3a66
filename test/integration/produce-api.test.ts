/**
 * POST /v1/topics/{topic}/records against a real aggregator process: JSON
 * arrays and NDJSON, offsets answered in request order, records read back
 * with their fields, keys keep order in one partition, a bad record refuses
 * the whole request, and Idempotency-Key: a retry (also after kill -9 of the
 * aggregator right after the answer) is answered as the first and stores
 * nothing twice; the same key with another body is 409.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { freePort, killAll, spawnLogship, stop, tempDir, waitFor, writeYaml, type Proc } from '../helpers/procs.js';

afterAll(killAll);

const TOKEN = 'produce-token-0123456789abcdef';
const OTHER = 'other-topic-token-0123456789ab';

async function startAggregator(dir: string, port: number): Promise<Proc> {
  const cfg = await writeYaml(join(dir, 'agg.yaml'), {
    listen: `127.0.0.1:${port}`,
    data_dir: join(dir, 'data'),
    auth: { tokens: [{ name: 'app', token: TOKEN, scopes: ['ingest', 'read'] }, { name: 'other', token: OTHER, scopes: ['ingest'], topics: ['other'] }] },
    topics: { default: { partitions: 4 } },
  });
  const p = spawnLogship(['aggregator', '--config', cfg]);
  await waitFor(() => `aggregator ready\n${p.output()}`, async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true, 30_000);
  return p;
}

async function produce(url: string, topic: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await request(`${url}/v1/topics/${topic}/records`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) };
}

async function readAll(url: string, topic: string): Promise<any[]> {
  const out: any[] = [];
  for (let p = 0; p < 4; p++) {
    const res = await request(`${url}/v1/topics/${topic}/partitions/${p}/records?offset=0&max_bytes=10000000`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const j = (await res.body.json()) as any;
    if (res.statusCode === 200) out.push(...j.records.map((r: any) => ({ ...r, partition: p })));
  }
  return out;
}

describe('produce API', () => {
  it('stores JSON arrays and NDJSON, answers offsets in request order, keeps fields, and keys keep order in one partition', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const p = await startAggregator(t.dir, port);
    try {
      const arr = await produce(url, 'events', JSON.stringify([
        { message: 'signed up', user: 'u1', key: 'u1', timestamp: '2024-05-01T12:00:00.000Z' },
        { message: 'paid', user: 'u1', key: 'u1', amount: 12.5 },
        { action: 'audit', who: 'admin', host: 'console-1' },
      ]));
      expect(arr.status).toBe(200);
      expect(arr.json.topic).toBe('events');
      expect(arr.json.offsets).toHaveLength(3);
      expect(arr.json.offsets[0].partition).toBe(arr.json.offsets[1].partition);
      expect(arr.json.offsets[1].offset).toBe(arr.json.offsets[0].offset + 1);

      const nd = await produce(url, 'events', '{"message":"a","key":"k9"}\n\n{"message":"b","key":"k9"}\n{"message":"c","key":"k9"}', { 'content-type': 'application/x-ndjson', 'content-encoding': 'identity' });
      expect(nd.status).toBe(200);
      const gz = await produce(url, 'events', gzipSync('[{"message":"zipped"}]'), { 'content-encoding': 'gzip' });
      expect(gz.status).toBe(200);

      const recs = await readAll(url, 'events');
      expect(recs).toHaveLength(7);
      const at = (o: { partition: number; offset: number }) => recs.find((r) => r.partition === o.partition && r.offset === o.offset);
      expect(at(arr.json.offsets[0])).toMatchObject({ message: 'signed up', user: 'u1', key: 'u1', timestamp: '2024-05-01T12:00:00.000Z', source: 'produce', source_offset: 0 });
      expect(at(arr.json.offsets[1])).toMatchObject({ message: 'paid', amount: 12.5, source_offset: 1 });
      expect(at(arr.json.offsets[2])).toMatchObject({ action: 'audit', who: 'admin', host: 'console-1', message: '' });
      expect(at(arr.json.offsets[0]).host).toBe('127.0.0.1');
      const k9 = nd.json.offsets.map(at).map((r: any) => r.message);
      expect(k9).toEqual(['a', 'b', 'c']);
      expect(new Set(nd.json.offsets.map((o: any) => o.partition)).size).toBe(1);
      expect(at(gz.json.offsets[0]).message).toBe('zipped');
    } finally {
      await stop(p);
      await t.cleanup();
    }
  });

  it('refuses bad requests with clear JSON errors and stores nothing of them', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const p = await startAggregator(t.dir, port);
    try {
      const bad = await produce(url, 'events', '[{"message":"fine"},{"message":7}]');
      expect([bad.status, bad.json.error.type, bad.json.error.reason]).toEqual([400, 'bad_request', 'records[1]: message must be a string']);
      const notJson = await produce(url, 'events', '{"message":"fine"}\n{oops\n', { 'content-type': 'application/x-ndjson' });
      expect(notJson.status).toBe(400);
      expect(notJson.json.error.reason).toMatch(/^line 2 is not valid JSON/);
      const badTime = await produce(url, 'events', '[{"message":"x","timestamp":"last tuesday"}]');
      expect(badTime.json.error.reason).toContain('records[0]: timestamp must be ISO 8601');
      expect((await produce(url, 'events', '[]')).status).toBe(400);
      expect((await produce(url, 'events', '[{"message":"x"}]', { 'content-type': 'text/plain' })).status).toBe(415);
      expect((await produce(url, 'bad%2Ftopic', '[{"message":"x"}]')).status).toBe(400);
      const forbidden = await request(`${url}/v1/topics/events/records`, { method: 'POST', headers: { authorization: `Bearer ${OTHER}`, 'content-type': 'application/json' }, body: '[{"message":"x"}]' });
      expect(forbidden.statusCode).toBe(403);
      await forbidden.body.dump();
      const noAuth = await request(`${url}/v1/topics/events/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{"message":"x"}]' });
      expect(noAuth.statusCode).toBe(401);
      await noAuth.body.dump();
      expect(await readAll(url, 'events')).toEqual([]);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/logship_aggregator_json_refused_total\{route="produce",reason="bad_request"\} [4-9]/);
    } finally {
      await stop(p);
      await t.cleanup();
    }
  });

  it('Idempotency-Key: a retry is answered as the first and stores nothing twice, also after kill -9; another body with the key is 409', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let p = await startAggregator(t.dir, port);
    try {
      const body = JSON.stringify([{ message: 'order 1 placed' }, { message: 'order 1 paid', key: 'o1' }]);
      const first = await produce(url, 'orders', body, { 'idempotency-key': 'order-1' });
      expect(first.status).toBe(200);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const again = await produce(url, 'orders', body, { 'idempotency-key': 'order-1' });
      expect([again.status, again.text, again.headers['idempotent-replayed']]).toEqual([200, first.text, 'true']);
      const other = await produce(url, 'orders', '[{"message":"something else"}]', { 'idempotency-key': 'order-1' });
      expect([other.status, other.json.error.type]).toEqual([409, 'idempotency_key_reused']);
      // the same key on another topic is another key
      expect((await produce(url, 'orders-eu', body, { 'idempotency-key': 'order-1' })).headers['idempotent-replayed']).toBeUndefined();

      const second = await produce(url, 'orders', '[{"message":"order 2 placed"}]', { 'idempotency-key': 'order-2' });
      expect(second.status).toBe(200);
      p.child.kill('SIGKILL');
      await p.exited;
      p = await startAggregator(t.dir, port);
      for (const [key, b, answer] of [['order-1', body, first.text], ['order-2', '[{"message":"order 2 placed"}]', second.text]] as const) {
        const r = await produce(url, 'orders', b, { 'idempotency-key': key });
        expect([r.status, r.text, r.headers['idempotent-replayed']]).toEqual([200, answer, 'true']);
      }
      const recs = await readAll(url, 'orders');
      expect(recs.map((r) => r.message).sort()).toEqual(['order 1 paid', 'order 1 placed', 'order 2 placed']);
    } finally {
      await stop(p);
      await t.cleanup();
    }
  });
});
