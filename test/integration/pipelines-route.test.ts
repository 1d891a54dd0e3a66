/**
 * Issue 14, `route`: a record routed to some sinks is not sent to the others,
 * and those others still count it as consumed: their consumer groups commit
 * past it and their lag drains to zero, also when the newest records are all
 * routed away from a sink. Real agent and aggregator processes, two
 * Elasticsearch sinks on the strict fake, the nginx_access preset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeElasticsearch, type FakeElasticsearch } from '../fakes/elasticsearch.js';
import { sinkLag, sinkView } from '../helpers/es-sink.js';
import { killAll, makeStack, tempDir, topicCount, waitFor, type Proc, type Stack } from '../helpers/procs.js';

const N = 300;
const TAIL = 40;
/** i < N: 200, 503, 404 in turn; the last TAIL lines are all 503 (routed to es-a only) */
const status = (i: number) => (i >= N ? 503 : [200, 503, 404][i % 3]!);
const line = (i: number) => `10.0.${i >> 8}.${i & 255} - - [01/Dec/2026:18:14:55 +0000] "GET /p/${i} HTTP/1.1" ${status(i)} ${i} "-" "curl/8.5.0"`;

describe('pipelines: route', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let fake: FakeElasticsearch;
  let stack: Stack;

  beforeAll(async () => {
    tmp = await tempDir('logship-route-');
    await mkdir(join(tmp.dir, 'logs'));
    fake = await startFakeElasticsearch({ flavor: '8' });
    stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'web', include: [join(tmp.dir, 'logs', '*.log')], start_at: 'beginning' }], {
      aggregator: {
        pipelines: {
          nginx: {
            topics: ['web'],
            steps: [
              { type: 'pattern', preset: 'nginx_access' },
              { type: 'route', if: 'http.response.status_code >= 500', sinks: ['es-a'] },
              { type: 'route', if: 'http.response.status_code == 404', sinks: ['es-b'] },
            ],
          },
        },
        sinks: [
          { name: 'es-a', type: 'elasticsearch', topics: ['web'], urls: [fake.url], data_stream: 'logs-{topic}-a' },
          { name: 'es-b', type: 'elasticsearch', topics: ['web'], urls: [fake.url], data_stream: 'logs-{topic}-b' },
        ],
      },
    });
  });

  afterAll(async () => {
    await killAll();
    await fake?.close();
    await tmp.cleanup();
  });

  it('each sink gets only the records routed to it (or to every sink); both consume every record, no lag left', { timeout: 180_000 }, async () => {
    const all = Array.from({ length: N + TAIL }, (_, i) => i);
    await writeFile(join(tmp.dir, 'logs', 'access.log'), all.map(line).join('\n') + '\n');
    const agg: Proc = await stack.startAggregator();
    const agent = await stack.startAgent();
    const detail = () => `\nfake: ${JSON.stringify(fake.stats)}\naggregator:\n${agg.output().slice(-3000)}\nagent:\n${agent.output().slice(-1000)}`;
    const forA = all.filter((i) => status(i) !== 404);
    const forB = all.filter((i) => status(i) !== 503);

    await waitFor(() => `${N + TAIL} records stored${detail()}`, async () => (await topicCount(stack.aggUrl, 'web')) === N + TAIL, 60_000);
    await waitFor(() => `both sinks' lag to drain${detail()}`, async () => (await sinkLag(stack.aggUrl, 'es-a')) === 0 && (await sinkLag(stack.aggUrl, 'es-b')) === 0, 90_000);
    await waitFor(() => `${forA.length} documents in logs-web-a, ${forB.length} in logs-web-b (have ${fake.count('logs-web-a')}, ${fake.count('logs-web-b')})${detail()}`, () => fake.count('logs-web-a') === forA.length && fake.count('logs-web-b') === forB.length, 30_000);

    const paths = (index: string) =>
      fake
        .documents(index)
        .map((d) => (JSON.parse(d.source as string) as { url: { original: string }; http: { response: { status_code: number } } }))
        .map((d) => Number(d.url.original.slice(3)))
        .sort((x, y) => x - y);
    expect(paths('logs-web-a')).toEqual(forA);
    expect(paths('logs-web-b')).toEqual(forB);
    expect(fake.duplicates()).toBe(0);
    // as operators see it: every record consumed by both groups, the routed-away ones too
    for (const name of ['es-a', 'es-b']) expect((await sinkView(stack.aggUrl, name))?.lag).toEqual({ web: 0 });
    expect((await sinkView(stack.aggUrl, 'es-a'))?.status).toMatchObject({ docs: { indexed: forA.length } });
    expect((await sinkView(stack.aggUrl, 'es-b'))?.status).toMatchObject({ docs: { indexed: forB.length } });
  });
});
