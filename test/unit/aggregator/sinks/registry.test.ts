/**
 * A trivial sink registered through the registry runs inside a real
 * aggregator (real temp dir, 127.0.0.1) and sees every record of its topic
 * exactly once across an aggregator restart: the cursor is committed after
 * each delivery, and close() lets a delivery in flight finish and commit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Aggregator } from '../../../../aggregator/index.js';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { builtinSinks } from '../../../../aggregator/sinks/registry.js';
import type { Sink } from '../../../../aggregator/sinks/types.js';
import type { Delivery } from '../../../../aggregator/consumer/index.js';
import { table } from '../../../../lib/config/option-table.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir } from '../../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('sink registry', () => {
  it('keeps the built-in types and their config tables; refuses a type registered twice', () => {
    expect(builtinSinks.types()).toEqual(['elasticsearch', 'alertmanager', 'pagerduty', 'webhook']);
    expect([...builtinSinks.alertTypes()]).toEqual(['alertmanager', 'pagerduty', 'webhook']);
    expect(() => builtinSinks.clone().register({ type: 'webhook', options: table([]) })).toThrow(/already registered/);
  });

  it('a test sink sees every record of its topic exactly once across an aggregator restart', async () => {
    const tmp = await tempDir('logship-sink-');
    cleanups.push(tmp.cleanup);
    const seen: string[] = [];
    let started = 0;
    let closed = 0;
    const registry = builtinSinks.clone().register({
      type: 'test',
      options: table([]),
      create: (): Sink => ({
        start: async () => void started++,
        deliver: async (d: Delivery) => {
          for (const r of d.records) seen.push(`${d.topic}/${d.partition}/${r.offset}/${r.message}`);
        },
        close: async () => void closed++,
        health: () => ({ ok: true }),
      }),
    });
    const config = parseAggregatorConfig(`listen: 127.0.0.1:0\ndata_dir: ${join(tmp.dir, 'data')}\ntopics:\n  default: {partitions: 2}\n`, 'agg.yaml', {});
    config.sinks = [{ type: 'test', name: 'probe', topics: ['app'] }] as never;

    const write = (agg: Aggregator, from: number, n: number) =>
      agg.storage.withTopic('app', true, async (t) => {
        for (let i = from; i < from + n; i++) {
          const payload = Buffer.from(`m${i}\n`);
          await t!.partitions[i % 2]!.appendPlain([{ meta: { flags: 0, codec: 0, host: 'h', source: '/a.log', sourceOffset: 0, rawLength: payload.length }, payload, lines: 1, timestamp: Date.now() }]);
        }
      });
    const until = async (n: number) => {
      const deadline = Date.now() + 60_000;
      while (seen.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };

    let agg = new Aggregator({ config, logger: silentLogger(), fsync: false, sinkRegistry: registry });
    await agg.start();
    await write(agg, 0, 50);
    await until(50);
    expect(seen).toHaveLength(50); // the topic was created after the sink started: it waited for it
    await write(agg, 50, 10); // some of these may still be in flight at close
    await agg.close();

    agg = new Aggregator({ config, logger: silentLogger(), fsync: false, sinkRegistry: registry });
    await agg.start();
    cleanups.push(() => agg.close());
    await write(agg, 60, 40);
    await until(100);
    expect(seen).toHaveLength(100);
    await agg.close();

    expect(started).toBe(2);
    expect(closed).toBe(2);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.map((s) => s.split('/')[3]).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`).sort());
    for (const p of ['0', '1']) {
      const offsets = seen.filter((s) => s.split('/')[1] === p).map((s) => Number(s.split('/')[2]));
      expect(offsets).toEqual(offsets.map((_, i) => i)); // in order, none twice, none missing
    }
    expect(agg.groups.get('sink-probe').get('app')).toEqual(new Map([[0, 50], [1, 50]]));
  });
});
