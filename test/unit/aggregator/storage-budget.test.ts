/**
 * Finding 5 (issue 9): the descriptor budget. With room for four partitions,
 * topics of two partitions open on use and the least recently used idle one
 * is closed to make room; a topic in use is never closed; a restart with more
 * topics on disk than the budget holds starts, and every topic still reads
 * back; a damaged topic.json is logged, not fatal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from '../../../aggregator/storage/local.js';
import { DescriptorBudget, FDS_PER_PARTITION, MIN_CONNECTIONS, RESERVE, defaultMaxConnections, openFilesLimit } from '../../../aggregator/storage/descriptors.js';
import { silentLogger } from '../../../lib/obs/logger.js';
import { LogshipError } from '../../../lib/errors.js';

const settings = { partitions: 2, retention: 7 * 86_400_000, retention_bytes: 2 ** 40, segment_bytes: 1 << 20, segment_ms: 86_400_000 };
const dirs: string[] = [];

async function storage(dir: string, partitionsThatFit: number): Promise<LocalStorage> {
  const s = new LocalStorage({ dataDir: dir, settingsFor: () => settings, logger: silentLogger(), fsync: false, budget: new DescriptorBudget(RESERVE + partitionsThatFit * FDS_PER_PARTITION) });
  await s.open();
  return s;
}

async function write(s: LocalStorage, topic: string, line: string): Promise<void> {
  await s.withTopic(topic, true, async (t) => {
    const payload = Buffer.from(line + '\n');
    await t!.partitions[0]!.ingest([
      { meta: { flags: 0, codec: 0, host: 'h', source: '/s', sourceOffset: 0, producer: `p-${topic}`, epoch: 1, seq: t!.partitions[0]!.lastSeq(`p-${topic}`) + 1, rawLength: payload.length }, payload, lines: 1, timestamp: Date.now() },
    ]);
  });
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('descriptor budget', () => {
  it('reads the soft open-files limit from /proc/self/limits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-limits-'));
    dirs.push(dir);
    await writeFile(join(dir, 'limits'), 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n');
    expect(openFilesLimit(join(dir, 'limits'))).toBe(1024);
    expect(openFilesLimit(join(dir, 'missing'))).toBeUndefined();
    expect(new DescriptorBudget(1024).partitions).toBe(Math.floor((1024 - RESERVE) / FDS_PER_PARTITION));
  });

  it('keeps descriptors for connections up to their cap: partitions get what is left', () => {
    const b = new DescriptorBudget(20_000, 11_000);
    expect(b.partitions).toBe(Math.floor((20_000 - RESERVE - 11_000) / FDS_PER_PARTITION));
    expect(b.problem(0, b.partitions)).toBeUndefined();
    expect(b.problem(b.partitions, 1)).toMatch(/beside 11000 for connections \(limits\.max_connections\); ulimit -n is 20000/);
    // More connections than the limit holds: no partition fits, and it says so.
    expect(new DescriptorBudget(1_000, 5_000).partitions).toBe(0);
  });

  it('defaults the connection cap to what max_topics leaves, at least a quarter of the budget, at least 64', () => {
    // The shipped unit's LimitNOFILE: connections take all the partitions of max_topics x partitions leave.
    expect(defaultMaxConnections(262_144, 4_000)).toBe(262_144 - RESERVE - 4_000 * FDS_PER_PARTITION);
    // Room for max_topics' partitions and some: storage's share first, so no warning at start.
    const c = defaultMaxConnections(20_000, 4_000)!;
    expect(c).toBe(20_000 - RESERVE - 4_000 * FDS_PER_PARTITION);
    expect(new DescriptorBudget(20_000, c).partitions).toBe(4_000);
    // A limit too small for those partitions: a quarter for connections, the rest opened least recently used first.
    expect(defaultMaxConnections(4_096, 4_000)).toBe(Math.floor((4_096 - RESERVE) / 4));
    // Below the reserve itself: still some connections, or nothing could ever connect.
    expect(defaultMaxConnections(300, 4_000)).toBe(MIN_CONNECTIONS);
    // No readable limit: no cap.
    expect(defaultMaxConnections(undefined, 4_000)).toBeUndefined();
  });

  it('opens topics on use, closes the least recently used idle one, never one in use; restarts with more topics than fit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logship-budget-'));
    dirs.push(dir);
    let s = await storage(dir, 4);
    for (let i = 0; i < 6; i++) {
      await write(s, `t${i}`, `line of t${i}`);
      expect(s.openPartitions).toBeLessThanOrEqual(4);
    }
    expect(s.count()).toBe(6);
    expect(s.list().length).toBe(2);
    // Closed topics still list their offsets.
    expect(s.stats('t0')).toEqual([
      { partition: 0, first_offset: 0, next_offset: 1, bytes: expect.any(Number) },
      { partition: 1, first_offset: 0, next_offset: 0, bytes: 0 },
    ]);

    // Two topics held: a third cannot open (503-class error), nothing is closed under a user.
    const a = await s.acquire('t0', false);
    const b = await s.acquire('t1', false);
    await expect(s.acquire('t2', false)).rejects.toSatisfy((e: unknown) => e instanceof LogshipError && e.code === 'LSH_ERR_UNAVAILABLE' && /ulimit -n/.test(e.message));
    expect(s.get('t0')).toBe(a);
    expect(s.get('t1')).toBe(b);
    s.release('t0');
    s.release('t1');
    expect(await s.acquire('t2', false)).toBeDefined();
    s.release('t2');
    await s.close();

    // A damaged topic.json and more topics than fit: start anyway, read everything back.
    await mkdir(join(dir, 'topics', 'broken'));
    await writeFile(join(dir, 'topics', 'broken', 'topic.json'), '{"partitions": 100000}');
    s = await storage(dir, 4);
    expect(s.list().length).toBe(2);
    for (let i = 5; i >= 0; i--) {
      const t = (await s.acquire(`t${i}`, false))!;
      const [batch] = await t.partitions[0]!.log.read(0, 1 << 20);
      expect(batch!.payload.toString()).toBe(`line of t${i}\n`);
      s.release(`t${i}`);
    }
    await expect(s.acquire('broken', false)).rejects.toThrow(/partitions must be an integer from 1 to 1024, got 100000/);
    await s.close();
  });
});
