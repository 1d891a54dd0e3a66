/**
 * Issue 13, acceptance: the official clients against a real aggregator.
 * @elastic/elasticsearch 8 and 9 (installed side by side as es8 and es9) and
 * @opensearch-project/opensearch each ship 100,000 documents, half with
 * client.helpers.bulk and half with client.bulk; everything reads back
 * once, with message = the document's JSON, host from host.name and the
 * timestamp from @timestamp. The 8/9 clients' product check (they refuse a
 * 2xx without X-Elastic-Product: Elasticsearch) passes, and is shown to be
 * live against a server without the header. A TCP proxy between client and
 * aggregator resets one connection, mid-request or as the answer starts, and
 * the clients' own retries with _id set store nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { Client as Es8 } from 'es8';
import { Client as Es9 } from 'es9';
import { Client as OpenSearch } from '@opensearch-project/opensearch';
import { duplicates, readTopic, startEsAggregator, type EsAggregator, type StoredRecord } from '../helpers/es-ingest.js';
import { requestHeads, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/** Per client: N with helpers.bulk and N with client.bulk, 100,000 documents in all. */
const N = 50_000;
const CHUNK = 10_000;

interface Doc {
  '@timestamp': string;
  seq: number;
  id?: string;
  message: string;
  host: { name: string };
  labels: { client: string; path: string };
}

/** What each client library needs to be driven the same way. */
interface Driver {
  name: string;
  /** the compatible-with the client's vendor media type carries, or undefined (OpenSearch sends plain JSON) */
  compat?: string;
  make: (url: string, opts?: { maxRetries?: number }) => unknown;
  info: (c: any) => Promise<any>;
  bulk: (c: any, operations: unknown[]) => Promise<any>;
  close: (c: any) => Promise<void>;
}

const drivers: Driver[] = [
  {
    name: 'es8',
    compat: '8',
    // ApiKey with the raw token
    make: (url, o) => new Es8({ node: url, auth: { apiKey: token() }, maxRetries: o?.maxRetries ?? 3, requestTimeout: 60_000 }),
    info: (c: Es8) => c.info(),
    bulk: (c: Es8, operations) => c.bulk({ operations }),
    close: (c: Es8) => c.close(),
  },
  {
    name: 'es9',
    compat: '9',
    // ApiKey as base64("id:key"), the key being the token
    make: (url, o) => new Es9({ node: url, auth: { apiKey: { id: 'logship', api_key: token() } }, maxRetries: o?.maxRetries ?? 3, requestTimeout: 60_000 }),
    info: (c: Es9) => c.info(),
    bulk: (c: Es9, operations) => c.bulk({ operations }),
    close: (c: Es9) => c.close(),
  },
  {
    name: 'opensearch',
    // Basic with the token as password
    make: (url, o) => new OpenSearch({ node: url, auth: { username: 'logship', password: token() }, maxRetries: o?.maxRetries ?? 3, requestTimeout: 60_000 }),
    info: async (c: OpenSearch) => (await c.info()).body,
    bulk: async (c: OpenSearch, operations) => (await c.bulk({ body: operations as never })).body,
    close: (c: OpenSearch) => c.close(),
  },
];

let agg: EsAggregator;
const token = () => agg.token;

function doc(client: string, path: string, seq: number, id?: string): Doc {
  return {
    '@timestamp': new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
    seq,
    ...(id ? { id } : {}),
    message: `${client} ${path} document ${seq} "quoted" ünïcödé`,
    host: { name: `host-${seq % 7}` },
    labels: { client, path },
  };
}

/** The stored records of a topic, checked against the documents sent: each once, message = the document's JSON, host and timestamp from it. */
function expectExactlyOnce(records: StoredRecord[], sent: Map<number, Doc>): void {
  const docs = records.map((r) => JSON.parse(r.message) as Doc);
  expect(duplicates(docs.map((d) => d.seq)), 'documents stored twice').toEqual([]);
  expect(records.length).toBe(sent.size);
  for (let i = 0; i < records.length; i++) {
    const d = docs[i]!;
    const want = sent.get(d.seq);
    if (!want) throw new Error(`stored a document never sent: ${records[i]!.message.slice(0, 200)}`);
    // Check every record, but report only the first mismatch (100,000 expects would drown the log).
    if (JSON.stringify(d) !== JSON.stringify(want) || records[i]!.host !== want.host.name || Date.parse(records[i]!.timestamp) !== Date.parse(want['@timestamp'])) {
      expect({ message: d, host: records[i]!.host, timestamp: records[i]!.timestamp }).toEqual({ message: want, host: want.host.name, timestamp: want['@timestamp'] });
    }
  }
}

describe('official clients ship into the aggregator', () => {
  let proxy: TcpProxy;
  let bare: Server;
  let bareUrl: string;

  beforeAll(async () => {
    agg = await startEsAggregator({ topics: { default: { partitions: 2 } } }, 'logship-es-clients-');
    proxy = await startTcpProxy(agg.port);
    // The product-check control: Elasticsearch's GET / body, but no X-Elastic-Product header.
    bare = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: 'x', cluster_name: 'x', version: { number: '8.17.0', build_flavor: 'default' }, tagline: 'You Know, for Search' }));
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await proxy?.close();
    await new Promise((r) => bare?.close(r));
    await agg?.cleanup();
  });

  describe.each(drivers)('$name', (d) => {
    it('passes the product check on GET / (and the check is live: a server without the header is refused)', async () => {
      const c = d.make(agg.url);
      try {
        const info = await d.info(c);
        expect(info.version.number).toMatch(/^8\.\d+\.\d+$/);
        expect(info.tagline).toBe('You Know, for Search');
      } finally {
        await d.close(c);
      }
      if (d.compat) {
        const c2 = d.make(bareUrl, { maxRetries: 0 });
        try {
          await expect(d.info(c2)).rejects.toMatchObject({ name: 'ProductNotSupportedError' });
        } finally {
          await d.close(c2);
        }
      }
    });

    it('ships 50,000 documents with client.helpers.bulk; each stored once, as sent', { timeout: 300_000 }, async () => {
      const c = d.make(agg.url) as { helpers: { bulk: (o: unknown) => Promise<{ total: number; successful: number; failed: number }> } };
      const topic = `${d.name}-helpers`;
      const sent = new Map<number, Doc>();
      for (let i = 0; i < N; i++) sent.set(i, doc(d.name, 'helpers', i));
      const dropped: unknown[] = [];
      try {
        const stats = await c.helpers.bulk({
          datasource: [...sent.values()],
          onDocument: () => ({ create: { _index: topic } }),
          onDrop: (x: unknown) => dropped.push(x),
          flushBytes: 2 << 20,
          concurrency: 4,
        });
        expect(dropped.slice(0, 3)).toEqual([]);
        expect(stats).toMatchObject({ total: N, successful: N, failed: 0 });
      } finally {
        await d.close(c);
      }
      expectExactlyOnce(await readTopic(agg.url, topic), sent);
    });

    it('ships 50,000 more with client.bulk (index actions, 10,000 a request); each stored once, as sent', { timeout: 300_000 }, async () => {
      const c = d.make(proxy.url);
      const topic = `${d.name}-bulk`;
      const sent = new Map<number, Doc>();
      const before = proxy.captured().length;
      try {
        for (let start = 0; start < N; start += CHUNK) {
          const ops: unknown[] = [];
          for (let i = start; i < start + CHUNK; i++) {
            const x = doc(d.name, 'bulk', i);
            sent.set(i, x);
            ops.push({ index: { _index: topic } }, x);
          }
          const r = await d.bulk(c, ops);
          expect(r.errors, JSON.stringify(r.items?.find((it: any) => Object.values(it as object)[0].error))?.slice(0, 500)).toBe(false);
          expect(r.items).toHaveLength(CHUNK);
          expect(r.items.every((it: any) => it.index?.status === 201)).toBe(true);
        }
      } finally {
        await d.close(c);
      }
      // What the client really sent (its media type is part of what the server must accept).
      const heads = proxy.captured().slice(before).flatMap((b) => requestHeads(b));
      const bulk = heads.find((h) => h.line === 'POST /_bulk');
      expect(bulk, heads.map((h) => h.line).join(', ')).toBeDefined();
      if (d.compat) expect(bulk!.headers['content-type']).toBe(`application/vnd.elasticsearch+x-ndjson; compatible-with=${d.compat}`);
      else expect(bulk!.headers['content-type']).toMatch(/^application\/(x-ndjson|json)/);
      expectExactlyOnce(await readTopic(agg.url, topic), sent);
    });

    it('a connection reset mid-request: the client retries, each _id is stored once', async () => {
      const c = d.make(proxy.url);
      const topic = `${d.name}-reset-mid`;
      const sent = new Map<number, Doc>();
      const ops: unknown[] = [];
      for (let i = 0; i < 2_000; i++) {
        const x = doc(d.name, 'reset-mid', i, `${d.name}-mid-${i}`);
        sent.set(i, x);
        ops.push({ create: { _index: topic, _id: x.id } }, x);
      }
      try {
        await d.info(c); // the product check and keep-alive connection happen before the armed request
        const resets = proxy.resets();
        const cut = proxy.arm({ kind: 'mid-request', afterBytes: 40_000 });
        const r = await d.bulk(c, ops);
        await cut;
        expect(proxy.resets()).toBe(resets + 1);
        // The cut request never completed, so the retry created every document.
        expect(r.errors).toBe(false);
        expect(r.items.every((it: any) => it.create?.status === 201)).toBe(true);
      } finally {
        await d.close(c);
      }
      expectExactlyOnce(await readTopic(agg.url, topic), sent);
    });

    it('a connection reset as the answer starts (stored, answer lost): the retry gets 409 for each create, nothing is stored twice', async () => {
      const c = d.make(proxy.url);
      const topic = `${d.name}-reset-answer`;
      const sent = new Map<number, Doc>();
      const ops: unknown[] = [];
      for (let i = 0; i < 2_000; i++) {
        const x = doc(d.name, 'reset-answer', i, `${d.name}-ans-${i}`);
        sent.set(i, x);
        ops.push({ create: { _index: topic, _id: x.id } }, x);
      }
      try {
        await d.info(c);
        const resets = proxy.resets();
        const cut = proxy.arm({ kind: 'on-response' });
        const r = await d.bulk(c, ops);
        await cut;
        expect(proxy.resets()).toBe(resets + 1);
        // As Elasticsearch answers a create whose _id exists: per item 409 version_conflict_engine_exception.
        expect(r.errors).toBe(true);
        expect(r.items).toHaveLength(2_000);
        for (const it of r.items.slice(0, 5)) {
          expect(it.create).toMatchObject({ _index: topic, status: 409, error: { type: 'version_conflict_engine_exception' } });
          expect(it.create.error.reason).toContain('document already exists');
        }
        expect(r.items.every((it: any) => it.create?.status === 409)).toBe(true);
      } finally {
        await d.close(c);
      }
      expectExactlyOnce(await readTopic(agg.url, topic), sent);
    });

    it('index with _id through a reset answer: the retry is a noop (stored once); an intentional update with the same _id is kept', async () => {
      const c = d.make(proxy.url);
      const topic = `${d.name}-reset-index`;
      const sent = new Map<number, Doc>();
      const ops: unknown[] = [];
      for (let i = 0; i < 1_000; i++) {
        const x = doc(d.name, 'reset-index', i, `${d.name}-idx-${i}`);
        sent.set(i, x);
        ops.push({ index: { _index: topic, _id: x.id } }, x);
      }
      try {
        await d.info(c);
        const cut = proxy.arm({ kind: 'on-response' });
        const r = await d.bulk(c, ops);
        await cut;
        // The same document under the same _id again: nothing to store (documented: result noop).
        expect(r.errors).toBe(false);
        expect(r.items.every((it: any) => it.index?.status === 200 && it.index.result === 'noop')).toBe(true);
        expectExactlyOnce(await readTopic(agg.url, topic), sent);
        // Another document under a held _id is an update: stored as a new record, version 2.
        const changed = { ...sent.get(0)!, message: 'edited', seq: 1_000_000 };
        const u = await d.bulk(c, [{ index: { _index: topic, _id: sent.get(0)!.id } }, changed]);
        expect(u.items[0].index).toMatchObject({ status: 200, result: 'updated', _version: 2 });
        const after = await readTopic(agg.url, topic);
        expect(after).toHaveLength(1_001);
        expect(after.filter((x) => JSON.parse(x.message).message === 'edited')).toHaveLength(1);
      } finally {
        await d.close(c);
      }
    });

    it('helpers.bulk with _id through a reset answer: the retried documents are not stored twice', async () => {
      const c = d.make(proxy.url) as { helpers: { bulk: (o: unknown) => Promise<{ total: number; successful: number; failed: number }> } };
      const topic = `${d.name}-reset-helpers`;
      const sent = new Map<number, Doc>();
      for (let i = 0; i < 3_000; i++) sent.set(i, doc(d.name, 'reset-helpers', i, `${d.name}-hlp-${i}`));
      const dropped: Array<{ status: number; error?: { type?: string } }> = [];
      try {
        await d.info(c);
        const cut = proxy.arm({ kind: 'on-response' });
        const stats = await c.helpers.bulk({
          datasource: [...sent.values()],
          onDocument: (x: Doc) => ({ create: { _index: topic, _id: x.id } }),
          onDrop: (x: { status: number; error?: { type?: string } }) => dropped.push(x),
          flushBytes: 200_000,
          concurrency: 1,
        });
        await cut;
        expect(stats.total).toBe(3_000);
        // The documents of the cut request come back 409 on the retry: already stored, reported as dropped.
        expect(dropped.length).toBeGreaterThan(0);
        expect(dropped.every((x) => x.status === 409 && x.error?.type === 'version_conflict_engine_exception')).toBe(true);
        expect(stats.successful + dropped.length).toBe(3_000);
      } finally {
        await (c as any).close();
      }
      expectExactlyOnce(await readTopic(agg.url, topic), sent);
    });
  });

  it('the aggregator is still up and served every client', async () => {
    expect(agg.proc.child.exitCode).toBeNull();
    expect((await fetch(`${agg.url}/healthz`)).status).toBe(200);
  });
});
