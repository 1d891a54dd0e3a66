/**
 * The elasticsearch sink with pipelines (issue 14): the topic's pipeline, or the
 * sink's own `pipeline`, or "none"; parsed fields and the line's own time in the
 * documents; drop and route leave documents out. Against a small _bulk server
 * on 127.0.0.1 that records what it was sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { ElasticsearchSink } from '../../../../aggregator/sinks/elasticsearch/index.js';
import type { ElasticsearchSinkConfig } from '../../../../aggregator/sinks/elasticsearch/config.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { PipelineSet } from '../../../../aggregator/pipelines/index.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import { ConfigError } from '../../../../lib/errors.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server?.closeAllConnections();
  server = undefined;
});

async function bulkServer(): Promise<{ url: string; docs: Array<Record<string, any>> }> {
  const docs: Array<Record<string, any>> = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (obj: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        res.end(JSON.stringify(obj));
      };
      if (req.method === 'GET' && req.url === '/') return send({ version: { number: '8.17.0' } });
      if (!req.url!.startsWith('/_bulk')) return send({ acknowledged: true });
      const body = Buffer.concat(chunks);
      const lines = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8').split('\n').filter(Boolean);
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        docs.push(JSON.parse(lines[i + 1]!));
        items.push({ create: { status: 201, _id: String(i) } });
      }
      send({ errors: false, items });
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, docs };
}

const line = (status: number, path: string) => `10.0.0.1 - - [01/Dec/2026:18:14:55 +0000] "GET ${path} HTTP/1.1" ${status} 5 "-" "curl/8"`;
const rec = (i: number, message: string): StoredRecord => ({ offset: i, timestamp: '2026-12-02T00:00:00.000Z', host: 'web-01', source: '/var/log/nginx/access.log', source_offset: i * 100, message });

function setup(url: string, sinkPipeline?: string) {
  const text = [
    'pipelines:',
    '  web:',
    '    topics: [nginx]',
    '    steps:',
    '      - {type: pattern, preset: nginx_access}',
    '      - {type: drop, if: \'url.original == "/healthz"\'}',
    '      - {type: route, if: "http.response.status_code >= 500", sinks: [pager]}',
    '  bare:',
    '    steps: [{type: set, field: labels.env, value: prod}]',
    'sinks:',
    `  - {name: es, type: elasticsearch, topics: [nginx], urls: ["${url}"], manage_template: false${sinkPipeline ? `, pipeline: ${sinkPipeline}` : ''}}`,
    `  - {name: pager, type: elasticsearch, topics: [nginx], urls: ["${url}"], manage_template: false}`,
  ].join('\n');
  const cfg = parseAggregatorConfig(text, 'agg.yaml', {});
  return { cfg, pipelines: new PipelineSet(cfg.pipelines) };
}

const records = [rec(0, line(200, '/a')), rec(1, line(200, '/healthz')), rec(2, line(503, '/b')), rec(3, 'not nginx')];

describe('elasticsearch sink: pipelines', () => {
  it("the topic's pipeline: parsed fields and the line's time; drop and route leave documents out", { timeout: 30_000 }, async () => {
    const s = await bulkServer();
    const { cfg, pipelines } = setup(s.url);
    for (const name of ['es', 'pager']) {
      const sink = new ElasticsearchSink(cfg.sinks.find((x) => x.name === name) as ElasticsearchSinkConfig, { logger: pino({ level: 'silent' }), pipelines });
      await sink.start();
      await sink.deliver({ topic: 'nginx', partition: 0, records });
      await sink.close();
    }
    // /a and the unparsed line matched no route: every sink (es, then pager); /b is routed to pager only; /healthz dropped
    expect(s.docs.map((d) => d.url?.original ?? d.message)).toEqual(['/a', 'not nginx', '/a', '/b', 'not nginx']);
    const [a, bad, , b] = s.docs;
    expect(a).toMatchObject({
      '@timestamp': '2026-12-01T18:14:55.000Z',
      http: { request: { method: 'GET' }, response: { status_code: 200, body: { bytes: 5 } } },
      source: { ip: '10.0.0.1' },
      host: { name: 'web-01' },
      log: { file: { path: '/var/log/nginx/access.log' }, offset: 0 },
      event: { dataset: 'nginx', kind: 'event' },
      agent: { type: 'logship', id: 'web-01' },
      data_stream: { type: 'logs', dataset: 'nginx', namespace: 'default' },
    });
    expect(bad).toMatchObject({ tags: ['_parse_failure'], message: 'not nginx', '@timestamp': '2026-12-02T00:00:00.000Z' });
    expect(b).toMatchObject({ http: { response: { status_code: 503 } } });
  });

  it('a sink pipeline replaces the topic pipeline; "none" sends the plain documents; an unknown name is a config error', { timeout: 30_000 }, async () => {
    const s = await bulkServer();
    for (const p of ['bare', 'none']) {
      const { cfg, pipelines } = setup(s.url, p);
      const sink = new ElasticsearchSink(cfg.sinks[0] as ElasticsearchSinkConfig, { logger: pino({ level: 'silent' }), pipelines });
      await sink.start();
      await sink.deliver({ topic: 'nginx', partition: 0, records: records.slice(0, 1) });
      await sink.close();
    }
    expect(s.docs[0]).toMatchObject({ labels: { env: 'prod' }, '@timestamp': '2026-12-02T00:00:00.000Z' });
    expect(s.docs[0]!.http).toBeUndefined();
    expect(s.docs[1]!.labels).toBeUndefined();
    expect(s.docs[1]!.http).toBeUndefined();
    let err: unknown;
    try {
      setup(s.url, 'nope');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map(String)).toEqual([expect.stringMatching(/^agg\.yaml:11:\d+: sinks\[0\]\.pipeline: no pipeline named "nope" \(configured: web, bare/)]);
  });
});
