/**
 * The Consumer over in-process storage (LocalTransport), on real temp dirs:
 * order per partition, commit after delivery, a partial take, retry with
 * backoff of a failed delivery (redelivered, committed only once it worked),
 * clamping a committed offset below first_offset, follow + stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../../../aggregator/storage/local.js';
import { RecordDecoder, type StoredBatchesRead } from '../../../../aggregator/storage/record-decoder.js';
import { GroupStore } from '../../../../aggregator/topics/groups.js';
import { Consumer, type Delivery } from '../../../../aggregator/consumer/index.js';
import { LocalTransport } from '../../../../aggregator/consumer/local-transport.js';
import { PayloadPool } from '../../../../lib/protocol/payload-pool.js';
import { silentLogger } from '../../../../lib/obs/logger.js';
import { tempDir } from '../../../helpers/procs.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(settings: { retention_bytes?: number; segment_bytes?: number } = {}) {
  const t = await tempDir('logship-consumer-');
  cleanups.push(t.cleanup);
  const storage = new LocalStorage({ dataDir: t.dir, logger: silentLogger(), fsync: false, settingsFor: () => ({ partitions: 2, retention: 86_400_000, retention_bytes: 2 ** 40, segment_bytes: 1 << 20, segment_ms: 86_400_000, ...settings }) });
  await storage.open();
  cleanups.push(() => storage.close());
  const groups = new GroupStore(t.dir);
  await groups.open();
  const pool = new PayloadPool(1, () => undefined);
  cleanups.push(() => pool.close());
  const decoder = new RecordDecoder({ payloads: pool, maxRawBytes: 1 << 20, onSkipped: () => undefined });
  const transport = new LocalTransport({ storage, groups, decoder });
  const write = async (partition: number, ...lines: string[]) =>
    storage.withTopic('app', true, (tp) =>
      tp!.partitions[partition]!.appendPlain(lines.map((l) => ({ meta: { flags: 0, codec: 0, host: 'h', source: '/a.log', sourceOffset: 0, rawLength: l.length + 1 }, payload: Buffer.from(`${l}\n`), lines: 1, timestamp: Date.now() }))),
    );
  return { storage, groups, transport, write };
}

describe('Consumer (in-process)', () => {
  it('delivers every partition in order and commits after each delivery; a second run resumes', async () => {
    const { groups, transport, write } = await setup();
    await write(0, 'a0', 'a1', 'a2');
    await write(1, 'b0', 'b1');
    const seen: string[] = [];
    const deliver = async (d: Delivery) => {
      // Not committed yet while it is being delivered.
      expect(groups.get('g').get('app')?.get(d.partition) ?? 0).toBe(d.records[0]!.offset);
      for (const r of d.records) seen.push(`${d.partition}:${r.offset}:${r.message}`);
    };
    await new Consumer({ transport, topic: 'app', group: 'g', follow: false, deliver }).run();
    expect(seen.filter((s) => s.startsWith('0:'))).toEqual(['0:0:a0', '0:1:a1', '0:2:a2']);
    expect(seen.filter((s) => s.startsWith('1:'))).toEqual(['1:0:b0', '1:1:b1']);
    expect([...groups.get('g').get('app')!]).toEqual(expect.arrayContaining([[0, 3], [1, 2]]));
    await write(0, 'a3');
    seen.length = 0;
    await new Consumer({ transport, topic: 'app', group: 'g', follow: false, deliver }).run();
    expect(seen).toEqual(['0:3:a3']);
  });

  it('a partial take commits before the first record not taken and ends that partition; lag counts what is left', async () => {
    const { groups, transport, write } = await setup();
    await write(0, 'x0', 'x1', 'x2');
    const c = new Consumer({ transport, topic: 'app', group: 'g', partitions: [0], follow: false, deliver: async () => 2 });
    await c.run();
    expect(groups.get('g').get('app')!.get(0)).toBe(2);
    expect(c.lag()).toEqual(new Map([[0, 1]]));
  });

  it('a failed delivery is retried with backoff and committed only once it worked', async () => {
    const { groups, transport, write } = await setup();
    await write(1, 'r0', 'r1');
    let calls = 0;
    const retries: number[] = [];
    const got: string[] = [];
    await new Consumer({
      transport,
      topic: 'app',
      group: 'g',
      partitions: [1],
      follow: false,
      backoffMs: { min: 1, max: 4 },
      onRetry: (_e, ms) => retries.push(ms),
      deliver: async (d) => {
        if (++calls <= 3) {
          expect(groups.get('g').get('app')?.get(1)).toBeUndefined();
          throw new Error('sink down');
        }
        got.push(...d.records.map((r) => r.message));
      },
    }).run();
    expect(retries).toEqual([1, 2, 4]);
    expect(got).toEqual(['r0', 'r1']);
    expect(groups.get('g').get('app')!.get(1)).toBe(2);
  });

  it('a committed offset below first_offset resumes at first_offset; follow waits for new records until stopped', async () => {
    const { storage, groups, transport, write } = await setup({ retention_bytes: 1, segment_bytes: 200 });
    for (let i = 0; i < 20; i++) await write(0, `old ${i} ${'y'.repeat(40)}`);
    await groups.commit('g', new Map([['app', new Map([[0, 0]])]]));
    await storage.applyRetention();
    const first = storage.stats('app')![0]!.first_offset;
    expect(first).toBeGreaterThan(0);
    const got: number[] = [];
    let wake!: () => void;
    const arrived = new Promise<void>((r) => (wake = r));
    const c = new Consumer({
      transport,
      topic: 'app',
      group: 'g',
      partitions: [0],
      follow: true,
      deliver: async (d) => {
        got.push(...d.records.map((r) => r.offset));
        if (got.includes(20)) wake();
      },
    });
    const running = c.run();
    await write(0, 'new');
    await arrived;
    await c.stop();
    await running;
    expect(got[0]).toBe(first);
    expect(got.at(-1)).toBe(20);
    expect(c.lag().get(0)).toBe(0);
    expect(groups.get('g').get('app')!.get(0)).toBe(21);
  });

  it("with a sink's own decode, reads the next batch ahead while one is delivered; delivery and commit stay in order, a failed delivery drops the read-ahead", async () => {
    const { groups, transport, write } = await setup();
    for (let i = 0; i < 6; i++) await write(0, `m${i}`);
    const decodedFrom: number[] = [];
    const decode = async (read: StoredBatchesRead) => {
      decodedFrom.push(read.from);
      const r = await read.records();
      return { count: r.records.length, next: r.next, skipped: [], value: r.records.map((x) => `${x.offset}:${x.message}`) };
    };
    const delivered: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    const deliver = async (d: Delivery) => {
      calls++;
      if (calls === 1) {
        // While the first batch is out, the next one has been read and decoded, not committed.
        const until = Date.now() + 5_000;
        while (decodedFrom.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        expect(decodedFrom.slice(0, 2)).toEqual([0, 1]);
        expect(groups.get('g').get('app')?.get(0) ?? 0).toBe(0);
        await held;
      }
      if (calls === 3) throw new Error('sink answered 503'); // the batch at offset 2 is delivered again
      delivered.push(...(d.decoded as string[]));
    };
    const run = new Consumer({ transport, topic: 'app', group: 'g', partitions: [0], follow: false, deliver, decode, maxBytes: 1, backoffMs: { min: 1, max: 5 } }).run();
    release();
    await run;
    expect(delivered).toEqual(['0:m0', '1:m1', '2:m2', '3:m3', '4:m4', '5:m5']);
    expect(groups.get('g').get('app')!.get(0)).toBe(6);
    // offset 2 was read ahead once, then read again after the failure (the read-ahead of 3 was dropped)
    expect(decodedFrom.filter((f) => f === 2).length).toBe(2);
  });
});
