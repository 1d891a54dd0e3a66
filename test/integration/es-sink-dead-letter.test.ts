/**
 * Issue 11 acceptance: a document Elasticsearch permanently rejects (a mapping conflict,
 * item 400) lands in the sink's dead_letter_topic with the original record, the error type
 * and its reason; every other line flows on, the sink does not retry the bad one forever
 * and its lag drains to zero. Real agent and aggregator processes, the strict fake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeElasticsearch, type FakeElasticsearch } from '../fakes/elasticsearch.js';
import { forEachRecord, sinkLag, sinkView, type TopicRecord } from '../helpers/es-sink.js';
import { killAll, makeStack, tempDir, topicCount, waitFor, type Proc, type Stack } from '../helpers/procs.js';

describe('elasticsearch sink: dead letters', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let fake: FakeElasticsearch;
  let stack: Stack;

  beforeAll(async () => {
    tmp = await tempDir('logship-es-dlq-');
    await mkdir(join(tmp.dir, 'logs'));
    fake = await startFakeElasticsearch({ flavor: '8' });
    // the poisoned line's document fails as a field mapped long receiving a string would
    fake.faults.mappingConflict = (doc) => typeof doc.message === 'string' && doc.message.includes('POISON');
    stack = await makeStack(tmp.dir, [{ type: 'file', topic: 'app', include: [join(tmp.dir, 'logs', '*.log')], start_at: 'beginning' }], {
      aggregator: {
        sinks: [{ name: 'es', type: 'elasticsearch', topics: ['app'], urls: [fake.url], data_stream: 'logs-{topic}-default', dead_letter_topic: 'es-dead' }],
      },
    });
  });

  afterAll(async () => {
    await killAll();
    await fake?.close();
    await tmp.cleanup();
  });

  it('puts the mapping-conflict document in the dead-letter topic with its reason; the rest flow on', { timeout: 180_000 }, async () => {
    const file = join(tmp.dir, 'logs', 'app.log');
    const lines = (from: number, to: number) => {
      let s = '';
      for (let i = from; i < to; i++) s += i === 500 ? `line ${i} POISON value\n` : `line ${i} ok\n`;
      return s;
    };
    await writeFile(file, lines(0, 1000));
    const agg: Proc = await stack.startAggregator();
    const agent = await stack.startAgent();
    const detail = () => `\nfake: ${JSON.stringify(fake.stats)}\naggregator:\n${agg.output().slice(-3000)}\nagent:\n${agent.output().slice(-1000)}`;

    await waitFor(() => `999 documents in logs-app-default (have ${fake.count('logs-app-default')})${detail()}`, () => fake.count('logs-app-default') === 999, 90_000);
    await waitFor(() => `a dead letter in es-dead${detail()}`, async () => (await topicCount(stack.aggUrl, 'es-dead')) === 1, 60_000);
    const dead: TopicRecord[] = [];
    await forEachRecord(stack.aggUrl, 'es-dead', (r) => dead.push(r));
    expect(dead).toHaveLength(1);
    const text = JSON.stringify(dead[0]);
    expect(text).toContain('line 500 POISON value');
    expect(text).toContain('document_parsing_exception');
    expect(text).toContain('failed to parse field [log.offset] of type [long]');
    expect(fake.stats.mappingConflicts).toBeGreaterThanOrEqual(1);

    // the rest flow on: later lines arrive, the bad one is not among the documents
    await appendFile(file, lines(1000, 2000));
    await waitFor(() => `1999 documents (have ${fake.count('logs-app-default')})${detail()}`, () => fake.count('logs-app-default') === 1999, 90_000);
    const messages = new Set(fake.documents('logs-app-default').map((d) => (JSON.parse(d.source as string) as { message: string }).message));
    expect(messages.has('line 500 POISON value')).toBe(false);
    expect(messages.has('line 1999 ok')).toBe(true);
    await waitFor(() => `the sink's lag to drain${detail()}`, async () => (await sinkLag(stack.aggUrl, 'es')) === 0, 60_000);
    // dead-lettered once, not retried: the conflict count holds still while nothing else is sent
    const conflicts = fake.stats.mappingConflicts;
    expect(await topicCount(stack.aggUrl, 'es-dead')).toBe(1);
    expect(fake.stats.mappingConflicts).toBe(conflicts);
    expect(fake.duplicates()).toBe(0);
    // as operators see it
    const view = await sinkView(stack.aggUrl, 'es');
    expect(view?.lag).toEqual({ app: 0 });
    expect((view?.status as { docs?: { dead_lettered?: number; indexed?: number } } | undefined)?.docs).toMatchObject({ dead_lettered: 1, indexed: 1999 });
  });
});
