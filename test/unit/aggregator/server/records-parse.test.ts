/** GET .../records?parse=1 (issue 14): documents from the topic's pipeline, failures counted, bad parse values refused. */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Aggregator } from '../../../../aggregator/index.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir } from '../../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('records API: parse=1', () => {
  it('adds the document of the topic pipeline; a topic without one gets the base document; failures are counted', { timeout: 60_000 }, async () => {
    const tmp = await tempDir();
    cleanups.push(tmp.cleanup);
    const config = parseAggregatorConfig(
      [`listen: 127.0.0.1:0`, `data_dir: ${join(tmp.dir, 'data')}`, 'topics:', '  default: {partitions: 1}', 'pipelines:', '  p:', '    topics: [app]', '    steps: [{type: json}, {type: drop, if: "skip"}]'].join('\n'),
      'agg.yaml',
      {},
    );
    const agg = new Aggregator({ config, logger: silentLogger(), fsync: false });
    const addr = await agg.start();
    cleanups.push(() => agg.close());
    const url = `http://127.0.0.1:${addr.port}`;
    for (const topic of ['app', 'other']) {
      await agg.storage.withTopic(topic, true, async (t) => {
        const payload = Buffer.from('{"level":50,"msg":"boom","user":"u1"}\nnot json\n{"skip":true}\n');
        await t!.partitions[0]!.appendPlain([{ meta: { flags: 0, codec: 0, host: 'h1', source: '/a.log', sourceOffset: 0, rawLength: payload.length }, payload, lines: 3, timestamp: Date.parse('2026-12-01T00:00:00Z') }]);
      });
    }
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    const app = await get('/v1/topics/app/partitions/0/records?offset=0&parse=1');
    expect(app.status).toBe(200);
    const [a, b, c] = app.body.records;
    expect(a.message).toBe('{"level":50,"msg":"boom","user":"u1"}'); // the stored record is unchanged
    expect(a.document).toMatchObject({ message: 'boom', log: { level: 'error', file: { path: '/a.log' }, offset: 0 }, user: 'u1', host: { name: 'h1' } });
    expect(b.document).toMatchObject({ message: 'not json', tags: ['_parse_failure'] });
    expect(b.document.error.message).toMatch(/^0-json: not JSON/);
    expect(c.document).toBeNull();
    const plain = await get('/v1/topics/app/partitions/0/records?offset=0');
    expect(plain.body.records[0].document).toBeUndefined();
    const other = await get('/v1/topics/other/partitions/0/records?offset=0&parse=1');
    expect(other.body.records[1].document).toEqual({ '@timestamp': other.body.records[1].timestamp, message: 'not json', host: { name: 'h1' }, log: { file: { path: '/a.log' }, offset: 38 } });
    expect((await get('/v1/topics/app/partitions/0/records?parse=yes')).status).toBe(400);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('logship_aggregator_pipeline_failures_total{pipeline="p",step="0-json"} 1');
  });
});
