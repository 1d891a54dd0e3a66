/**
 * The elasticsearch sink inside a real aggregator (config parsed from YAML,
 * real temp dir, 127.0.0.1) against the strict fake Elasticsearch, for every
 * supported flavor: every stored record becomes exactly one document with the
 * right fields, under item 429s, connection resets after indexing and
 * whole-request 503s; the mapping-conflict document lands in the dead-letter
 * topic with its reason; a restart redelivers nothing twice; the index
 * template is installed; GET /v1/sinks reports the sink.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Aggregator } from '../../aggregator/index.js';
import { parseAggregatorConfig } from '../../aggregator/config.js';
import { documentId } from '../../aggregator/sinks/elasticsearch/document.js';
import { sinksCommand } from '../../aggregator/client/sinks.js';
import type { SinkReport } from '../../aggregator/sinks/runner.js';
import { silentLogger } from '../../lib/obs/logger.js';
import { tempDir } from '../helpers/procs.js';
import { startFakeElasticsearch, type FakeElasticsearch, type FakeFlavor } from '../fakes/elasticsearch.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LINES_PER_BATCH = 50;
const TOKEN = '0123456789abcdef0123456789abcdef';

/** `logship sinks --format json` (and the text form, which must name the sink). */
async function sinks(url: string): Promise<SinkReport[]> {
  let text = '';
  expect(await sinksCommand({ url, token: TOKEN, format: 'text', write: (s) => void (text += s) })).toBe(0);
  expect(text).toMatch(/^NAME +TYPE +STATE +LAG +DOCS +LAST_ERROR\nes +elasticsearch /);
  let json = '';
  await sinksCommand({ url, token: TOKEN, format: 'json', write: (s) => void (json += s) });
  return (JSON.parse(json) as { sinks: SinkReport[] }).sinks;
}

async function writeFileRecords(agg: Aggregator, topic: string, host: string, path: string, from: number, batches: number): Promise<void> {
  await agg.storage.withTopic(topic, true, async (t) => {
    for (let b = 0; b < batches; b++) {
      const first = from + b * LINES_PER_BATCH;
      const lines = Array.from({ length: LINES_PER_BATCH }, (_, i) => `line ${String(first + i).padStart(6, '0')}\n`).join('');
      const payload = Buffer.from(lines);
      // every line is 12 bytes: line n starts at byte 12 * n of the file
      await t!.partitions[b % t!.partitions.length]!.appendPlain([
        { meta: { flags: 0, codec: 0, host, source: path, sourceOffset: first * 12, rawLength: payload.length }, payload, lines: LINES_PER_BATCH, timestamp: Date.UTC(2026, 11, 1, 12, 0, 0) + first },
      ]);
    }
  });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function yaml(dir: string, es: FakeElasticsearch, extra = ''): string {
  return [
    'listen: 127.0.0.1:0',
    `data_dir: ${join(dir, 'data')}`,
    'auth: {tokens: [{name: reader, token: "0123456789abcdef0123456789abcdef", scopes: [read]}]}',
    'topics:',
    '  default: {partitions: 2}',
    'sinks:',
    `  - {name: es, type: elasticsearch, topics: [app], urls: [${es.url}], dead_letter_topic: es-dead, batch_max_docs: 40${extra}}`,
    '',
  ].join('\n');
}

describe('elasticsearch sink in the aggregator', () => {
  for (const flavor of ['7.17', '8', '9', 'opensearch-1', 'opensearch-2'] as FakeFlavor[]) {
    it(`flavor ${flavor}: exactly one document per record under faults, dead letter, no duplicates after a restart`, async () => {
      const tmp = await tempDir('logship-es-');
      cleanups.push(tmp.cleanup);
      const es = await startFakeElasticsearch({ flavor, seed: 7 });
      cleanups.push(() => es.close());
      es.faults.itemRejectShare = 0.15;
      es.faults.resets = { share: 0.1, afterIndexing: true };
      es.faults.requestFailure = { status: 503, share: 0.1, retryAfterSec: 0 };
      es.faults.mappingConflict = (doc) => (doc as { message?: string }).message === 'line 000123';
      const config = parseAggregatorConfig(yaml(tmp.dir, es), 'agg.yaml', {});

      let agg = new Aggregator({ config, logger: silentLogger(), fsync: false });
      const addr = await agg.start();
      await writeFileRecords(agg, 'app', 'web1', '/var/log/app.log', 0, 10); // 500 lines
      const N = 500;
      await until('499 documents', () => es.count('logs-app-default') >= N - 1);

      const docs = es.documents('logs-app-default').map((d) => ({ ...d, source: typeof d.source === 'string' ? (JSON.parse(d.source) as unknown) : d.source }));
      expect(docs).toHaveLength(N - 1);
      expect(es.distinctIds()).toBe(N - 1);
      const byOffset = new Map(docs.map((d) => [(d.source as { log: { offset: number } }).log.offset, d]));
      for (let n = 0; n < N; n++) {
        if (n === 123) continue;
        const d = byOffset.get(n * 12);
        expect(d, `line ${n}`).toBeDefined();
        const src = d!.source as Record<string, any>;
        expect(src.message).toBe(`line ${String(n).padStart(6, '0')}`);
        expect(src['@timestamp']).toBe(new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + n - (n % LINES_PER_BATCH)).toISOString());
        expect(src.host).toEqual({ name: 'web1' });
        expect(src.log.file.path).toBe('/var/log/app.log');
        expect(src.data_stream).toEqual({ type: 'logs', dataset: 'app', namespace: 'default' });
      }
      expect(es.templates().has('logship-es')).toBe(true);

      // The mapping conflict: in the dead-letter topic with its reason; the rest flowed on.
      // (written before the delivery holding it resolves, which may be after the other documents arrived)
      const readDead = () =>
        agg.storage.withTopic('es-dead', false, async (t) => {
          const out: Record<string, any>[] = [];
          for (const p of t?.partitions ?? []) out.push(...(await agg.decoder.read(p, p.firstOffset, 1 << 20)).records.map((r) => JSON.parse(r.message) as Record<string, any>));
          return out;
        });
      await until('a dead letter', async () => (await readDead()).length >= 1);
      const dead = await readDead();
      expect(dead[0]).toMatchObject({ sink: 'es', topic: 'app', status: 400, record: { message: 'line 000123', source: '/var/log/app.log', source_offset: 123 * 12 } });
      expect(String(dead[0]!.error.type)).toMatch(/mapper_parsing_exception|document_parsing_exception/);
      expect(String(dead[0]!.error.reason)).toContain('log.offset');

      // logship sinks: state, lag, documents, the last error (the rejected document)
      await until('lag 0', async () => (await sinks(`http://127.0.0.1:${addr.port}`))[0]!.lag.app === 0);
      const [rep] = await sinks(`http://127.0.0.1:${addr.port}`);
      expect(rep).toMatchObject({ name: 'es', type: 'elasticsearch', lag: { app: 0 } });
      expect((rep!.status!.docs as Record<string, number>).indexed + (rep!.status!.docs as Record<string, number>).duplicate).toBeGreaterThanOrEqual(N - 1);
      expect((rep!.status!.docs as Record<string, number>).dead_lettered).toBeGreaterThanOrEqual(1);
      expect(String((rep!.status!.last_error as { message: string }).message)).toMatch(/rejected|HTTP 503|no answer/);
      await agg.close();

      // A restart with more records: nothing delivered twice, the new ones arrive.
      es.faults.itemRejectShare = 0;
      es.faults.resets = undefined;
      es.faults.requestFailure = undefined;
      agg = new Aggregator({ config, logger: silentLogger(), fsync: false });
      await agg.start();
      cleanups.push(() => agg.close());
      await writeFileRecords(agg, 'app', 'web1', '/var/log/app.log', N, 2);
      await until('599 documents', () => es.count('logs-app-default') >= N + 99);
      expect(es.distinctIds()).toBe(N + 99);
      expect(es.count('logs-app-default')).toBe(N + 99);
      await agg.close();
    });
  }

  it('Elasticsearch down: lag rises and the sink reports degraded; back up: it drains, nothing twice', async () => {
    const tmp = await tempDir('logship-es-');
    cleanups.push(tmp.cleanup);
    const es = await startFakeElasticsearch({ flavor: '8' });
    cleanups.push(() => es.close());
    const config = parseAggregatorConfig(yaml(tmp.dir, es), 'agg.yaml', {});
    const agg = new Aggregator({ config, logger: silentLogger(), fsync: false });
    const url = `http://127.0.0.1:${(await agg.start()).port}`;
    cleanups.push(() => agg.close());
    await writeFileRecords(agg, 'app', 'h', '/a.log', 0, 2);
    await until('100 documents', () => es.count('logs-app-default') === 100);
    await es.down();
    await writeFileRecords(agg, 'app', 'h', '/a.log', 100, 4);
    await until('degraded with lag 200', async () => {
      const [r] = await sinks(url);
      return r!.state === 'degraded' && r!.lag.app === 200;
    });
    await es.up();
    await until('300 documents', () => es.count('logs-app-default') === 300);
    await until('lag 0 and ok', async () => {
      const [r] = await sinks(url);
      return r!.state === 'ok' && r!.lag.app === 0;
    });
    expect(es.distinctIds()).toBe(300);
  });

  it('host-metric records become one metrics document each, charted fields under metrics.*, in a metrics data stream', async () => {
    const tmp = await tempDir('logship-es-');
    cleanups.push(tmp.cleanup);
    const es = await startFakeElasticsearch({ flavor: '8' });
    cleanups.push(() => es.close());
    const text = yaml(tmp.dir, es).replace('topics: [app], urls', 'topics: [hostmetrics], data_stream: "metrics-{topic}-default", urls');
    const agg = new Aggregator({ config: parseAggregatorConfig(text, 'agg.yaml', {}), logger: silentLogger(), fsync: false });
    await agg.start();
    cleanups.push(() => agg.close());
    const sample = (i: number) => ({
      metrics: [
        { name: 'node_load1', labels: {}, value: 0.5 + i },
        { name: 'node_cpu_utilization', labels: {}, value: 0.25 },
        { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'user' }, value: 100 + i },
        { name: 'node_filesystem_avail_bytes', labels: { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/' }, value: 5e10 },
      ],
    });
    await agg.storage.withTopic('hostmetrics', true, async (t) => {
      for (let i = 0; i < 3; i++) {
        const payload = Buffer.from(`${JSON.stringify(sample(i))}\n`);
        await t!.partitions[0]!.appendPlain([{ meta: { flags: 2, codec: 0, host: 'web1', source: 'host_metrics', sourceOffset: 0, rawLength: payload.length }, payload, lines: 1, timestamp: Date.UTC(2026, 11, 1, 12, 0, 10 * i) }]);
      }
    });
    await until('3 metric documents', () => es.count('metrics-hostmetrics-default') === 3);
    const docs = es.documents('metrics-hostmetrics-default').map((d) => (typeof d.source === 'string' ? JSON.parse(d.source) : d.source) as Record<string, any>);
    docs.sort((a, b) => String(a['@timestamp']).localeCompare(String(b['@timestamp'])));
    expect(docs[1]).toEqual({
      '@timestamp': '2026-12-01T12:00:10.000Z',
      host: { name: 'web1' },
      event: { dataset: 'hostmetrics', kind: 'metric' },
      agent: { type: 'logship', version: expect.any(String), id: 'web1' },
      data_stream: { type: 'metrics', dataset: 'hostmetrics', namespace: 'default' },
      metrics: {
        node_load1: 1.5,
        node_cpu_utilization: 0.25,
        node_cpu_seconds_total: { 'cpu=0,mode=user': 101 },
        node_filesystem_avail_bytes: { 'device=/dev/sda1,fstype=ext4,mountpoint=/': 5e10 },
      },
    });
    expect(es.distinctIds()).toBe(3);
  });

  it('the _id of a stored record does not depend on its offset in the log (file records)', () => {
    const r = { offset: 5, timestamp: '2026-12-01T00:00:00.000Z', host: 'h', source: '/a.log', source_offset: 10, message: 'x' };
    expect(documentId('app', 0, r)).toBe(documentId('app', 1, { ...r, offset: 77 }));
  });
});
