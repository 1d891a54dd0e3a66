/**
 * The Elasticsearch sink's payload-worker job for a topic with a pipeline
 * (bulk-job.ts with `pipeline`, the byte plan of aggregator/pipelines/bytes.ts):
 * the bodies are byte for byte what the record path sends (actionLine +
 * parsedDocument of each decoded record), drops and records routed to other
 * sinks left out but covered, step failures counted once and handed back,
 * the raw messages handed back for dead letters. Stored batches as storage
 * gives them: zstd and plain, framed, a non-file source, a start inside a
 * batch, lines the byte plan does not take (invalid UTF-8, not access lines).
 */
import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { ElasticsearchSink } from '../../../../aggregator/sinks/elasticsearch/index.js';
import { ES_BULK_OP, META_FIELDS, runEsBulk } from '../../../../aggregator/sinks/elasticsearch/bulk-job.js';
import { actionLine } from '../../../../aggregator/sinks/elasticsearch/bulk.js';
import { documentId, parsedDocument, TargetNamer } from '../../../../aggregator/sinks/elasticsearch/document.js';
import { Pipeline, PipelineSet } from '../../../../aggregator/pipelines/index.js';
import type { StepConfig } from '../../../../aggregator/pipelines/types.js';
import { RecordDecoder, type StoredBatchesRead, type StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import { encodeStoredMeta, type StoredMeta } from '../../../../aggregator/storage/stored-meta.js';
import type { PartitionHandle } from '../../../../aggregator/storage/types.js';
import { PayloadPool } from '../../../../lib/protocol/payload-pool.js';
import type { StoredInput } from '../../../../lib/protocol/payload-jobs.js';
import { encodeFramed } from '../../../../lib/protocol/records.js';
import { FLAG_FRAMED } from '../../../../lib/protocol/codes.js';
import { compressSync } from '../../../../lib/codec/zstd-pool.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import type { ElasticsearchSinkConfig } from '../../../../aggregator/sinks/elasticsearch/config.js';

const access = (status: number, path: string, ua = 'curl/8.5.0') => `10.0.0.${status % 250} - - [01/Dec/2026:18:14:${String(status % 60).padStart(2, '0')} +0000] "GET ${path} HTTP/1.1" ${status} 512 "-" "${ua}"`;

function stored() {
  const lines: Array<string | Buffer> = [
    access(200, '/index.html'),
    access(404, '/missing'),
    access(200, '/private/a'),
    access(503, '/api?q="x"', 'Mozilla/5.0 "quoted" \\ agent'),
    access(200, '/caf\\xC3\\xA9'),
    'not an access line',
    Buffer.concat([Buffer.from(access(200, '/x')), Buffer.from([0xff, 0xfe])]),
    access(201, '/\u00e9t\u00e9'),
    '',
  ];
  type B = StoredInput & { meta: StoredMeta; timestamp: number };
  const batches: B[] = [];
  let base = 0;
  const add = (host: string, source: string, raw: Buffer, n: number, codec: number, flags = 0) => {
    const payload = codec === 1 ? compressSync(raw) : raw;
    batches.push({ payload, codec, flags, rawLength: raw.length, lines: n, baseOffset: base, sourceOffset: 500 + base * 11, timestamp: Date.UTC(2026, 11, 2, 0, 0, 1, base), meta: { flags, codec, host, source, sourceOffset: 500 + base * 11, producer: 'p', epoch: 1, seq: base, rawLength: raw.length } });
    base += n;
  };
  const text = (ls: Array<string | Buffer>) => Buffer.concat(ls.map((l) => Buffer.concat([typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')])));
  add('web1', '/var/log/nginx/access.log', text(lines), lines.length, 1);
  add('web-"2"', '/var/log/nginx/other.log', text(lines.slice(0, 4)), 4, 0);
  add('web3', 'journald:nginx.service', text(lines), lines.length, 1);
  const framed = encodeFramed([
    { message: Buffer.from(access(200, '/framed')), sourceBytes: 90, flags: 1 },
    { message: Buffer.from(`${access(500, '/two')}\nsecond line`), sourceBytes: 100, flags: 0 },
  ]);
  add('web1', '/var/log/nginx/access.log', framed, 2, 1, FLAG_FRAMED);
  return { batches, total: base };
}

async function recordsOf(s: ReturnType<typeof stored>, pool: PayloadPool, from: number): Promise<{ records: StoredRecord[]; next: number }> {
  const decoder = new RecordDecoder({ payloads: pool, maxRawBytes: 1 << 20, onSkipped: () => undefined });
  const handle = { topic: 'nginx', partition: 3, nextOffset: s.total, read: async () => s.batches.map((b) => ({ baseOffset: b.baseOffset, count: b.lines, timestamp: b.timestamp, meta: encodeStoredMeta(b.meta), payload: Buffer.from(b.payload) })) } as unknown as PartitionHandle;
  return decoder.readOnce(handle, from, 1 << 20);
}

const PRESET: StepConfig = { type: 'pattern', field: 'message', preset: 'nginx_access', definitions: {} } as StepConfig;
const PIPELINES: StepConfig[][] = [
  [PRESET],
  [PRESET, { type: 'drop', if: 'http.response.status_code == 404' } as StepConfig, { type: 'route', sinks: ['other'], if: 'url.original contains "/private"' } as StepConfig, { type: 'remove', fields: ['message'] } as StepConfig],
];

describe('elasticsearch sink: pipeline topics on the payload workers', () => {
  const pool = new PayloadPool(0);

  for (const [label, pattern, ds] of [
    ['data stream', 'logs-{topic}-default', true],
    ['dated index', 'logship-{topic}-{yyyy.MM.dd}', false],
  ] as const) {
    it(`writes byte for byte the record path's parsed documents and ids (${label}); drops and other routes left out; failures counted once; raw messages back`, async () => {
      for (const steps of PIPELINES) {
        for (const from of [0, 3]) {
          const s = stored();
          const namer = new TargetNamer(pattern, ds);
          const want = await recordsOf(s, pool, from);
          const ref = new Pipeline('web', { topics: [], steps });
          const items: Array<{ lines: string; rec: StoredRecord }> = [];
          for (const rec of want.records) {
            const target = namer.target('nginx', rec.timestamp);
            const p = parsedDocument(ref, rec, { topic: 'nginx', target, version: '1.2.3' });
            if (p.dropped || (p.routes !== undefined && !p.routes.includes('es'))) continue;
            items.push({ lines: `${actionLine(target.name, documentId('nginx', 3, rec))}${p.json}\n`, rec });
          }
          const info = s.batches.map((b) => {
            const iso = new Date(b.timestamp).toISOString();
            const t = namer.target('nginx', iso);
            return { host: b.meta.host, source: b.meta.source, iso, target: t.name, ...(t.stream ? { stream: t.stream } : {}) };
          });
          const r = runEsBulk({ op: ES_BULK_OP, batches: s.batches.map((b) => ({ ...b, payload: Buffer.from(b.payload) })), info, topic: 'nginx', partition: 3, version: '1.2.3', from, maxBytes: 1 << 20, maxRaw: 1 << 20, maxDocs: 5, maxBodyBytes: 1 << 20, gzip: true, pipeline: { name: 'web', steps, sink: 'es' } });
          expect(r.next).toBe(want.next);
          expect(r.count).toBe(items.length);
          expect(items.length).toBeGreaterThan(10);
          expect(Buffer.from(r.body).subarray(0, r.bodyLength).toString('utf8')).toBe(items.map((x) => x.lines).join(''));
          const wire = Buffer.concat(Array.from({ length: r.chunks.length / 4 }, (_, k) => gunzipSync(Buffer.from(r.wire).subarray(r.chunks[k * 4 + 2]!, r.chunks[k * 4 + 3]!))));
          expect(wire.toString('utf8')).toBe(items.map((x) => x.lines).join(''));
          // per document: its record's offset, source offset, flags and raw message
          const msgs = Buffer.from(r.messages!);
          for (let d = 0; d < r.count; d++) {
            const rec = items[d]!.rec;
            expect([r.meta[d * META_FIELDS], r.meta[d * META_FIELDS + 1], r.meta[d * META_FIELDS + 2]]).toEqual([rec.offset, rec.source_offset, rec.flags ?? 0]);
            expect(msgs.toString('utf8', d === 0 ? 0 : r.messageEnds![d - 1]!, r.messageEnds![d]!)).toBe(rec.message);
          }
          // the step failures the reference counted, once each
          expect(Object.fromEntries(r.failures!)).toEqual(Object.fromEntries(ref.failures));
          expect(ref.failures.get('0-pattern')).toBeGreaterThan(0);
        }
      }
    });
  }

  it('the sink decodes a pipeline topic on the workers when its pipeline has a byte plan, else takes the record path; failures reach the pipeline once', async () => {
    const cfg = parseAggregatorConfig(
      [
        'pipelines:',
        '  web:',
        '    topics: [nginx]',
        '    steps: [{type: pattern, preset: nginx_access}]',
        '  kv:',
        '    topics: [app]',
        '    steps: [{type: kv}]',
        'sinks:',
        '  - {name: es, type: elasticsearch, topics: [nginx, app], urls: ["http://127.0.0.1:1"], manage_template: false}',
      ].join('\n'),
      'agg.yaml',
      {},
    );
    const failures: string[] = [];
    const set = new PipelineSet(cfg.pipelines, (pl, step) => failures.push(`${pl}/${step}`));
    const sink = new ElasticsearchSink(cfg.sinks[0] as ElasticsearchSinkConfig, { logger: pino({ level: 'silent' }), pipelines: set } as never);
    const s = stored();
    const read = (topic: string): StoredBatchesRead => ({
      topic,
      partition: 3,
      batches: s.batches.map((b) => ({ ...b, payload: Buffer.from(b.payload) })),
      metas: s.batches.map((b) => b.meta),
      timestamps: s.batches.map((b) => b.timestamp),
      from: 0,
      maxBytes: 1 << 20,
      maxRaw: 1 << 20,
      payloads: pool,
      records: async () => ({ records: [], next: 42 }),
    });
    expect(await sink.decode(read('app'))).toEqual({ records: [], next: 42 });
    const d = await sink.decode(read('nginx'));
    expect('value' in d && d.count).toBe(s.total);
    const r = (d as { value: { r: { failures: Array<[string, number]> } } }).value.r;
    // as many as the pipeline fails on the decoded records
    const ref = new Pipeline('web', { topics: [], steps: [PRESET] });
    for (const rec of (await recordsOf(s, pool, 0)).records) ref.run(rec);
    const n = ref.failures.get('0-pattern')!;
    expect(n).toBeGreaterThan(3);
    expect(r.failures).toEqual([['0-pattern', n]]);
    // counted when delivered (not when read, which may be read again ahead)
    expect(failures).toEqual([]);
    sink.abort();
    await sink.deliver({ topic: 'nginx', partition: 3, records: [], decoded: (d as { value: unknown }).value }).catch(() => undefined);
    expect(failures).toEqual(Array.from({ length: n }, () => 'web/0-pattern'));
    expect(set.pipelines.get('web')!.failures.get('0-pattern')).toBe(n);
    await sink.close();
  });
});
