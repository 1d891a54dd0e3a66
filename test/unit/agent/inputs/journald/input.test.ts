/**
 * JournaldInput in process against a real journal file (written by systemd-journal-remote) and the
 * real journalctl, with the test playing the pipeline: every batch carries the cursor of its own
 * last entry (so a restart from any durable batch neither skips nor repeats), reading pauses while
 * the pipeline has no capacity and resumes on wake(), and a new input resumes exactly after the
 * cursor of the last batch made durable.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from '../../../../../agent/metrics-registry.js';
import { JournaldInput, type JournaldBatch } from '../../../../../agent/inputs/journald/index.js';
import { createJournaldMetrics } from '../../../../../agent/inputs/journald/metrics.js';
import { StreamRegistry } from '../../../../../agent/inputs/file/streams.js';
import type { JournaldInputConfig } from '../../../../../agent/inputs/journald/config.js';
import { exportEntries, requireJournalTools, writeJournal } from '../../../../helpers/journal-export.js';
import { tempDir, waitFor } from '../../../../helpers/procs.js';
import { createLogger } from '../../../../../lib/obs/logger.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

function entriesOf(b: JournaldBatch): Array<{ n: number; cursor: string }> {
  return b.raw
    .toString('utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => {
      const r = JSON.parse(l) as { message: string; message_base64?: string; journald: { __CURSOR: string } };
      const text = r.message_base64 ? Buffer.from(r.message_base64, 'base64').toString('latin1') : r.message;
      return { n: Number(/^entry (\d+)/.exec(text)![1]), cursor: r.journald.__CURSOR };
    });
}

function makeInput(dir: string, jdir: string, registry: StreamRegistry, capacity: () => boolean, batches: JournaldBatch[], journalctl = 'journalctl', metrics = createJournaldMetrics(new Registry())): JournaldInput {
  const cfg: JournaldInputConfig = {
    type: 'journald',
    name: 'j',
    topic: 't',
    units: [],
    exclude_units: [],
    identifiers: [],
    priority: 'debug',
    include_kernel: true,
    start_at: 'beginning',
    current_boot_only: false,
    journal_directory: jdir,
    max_message_bytes: 1 << 20,
    journalctl,
  };
  return new JournaldInput(cfg, {
    registry,
    logger: createLogger({ level: 'silent' }),
    metrics,
    now: Date.now,
    maxBatchBytes: 4096,
    maxWait: 50,
    hasCapacity: capacity,
    submit: (b) => batches.push(b),
    markDirty: () => undefined,
  });
}

describe('JournaldInput', () => {
  it('each batch carries its last entry cursor; pauses without capacity; a new input resumes right after a durable batch', { timeout: 120_000 }, async () => {
    requireJournalTools();
    const tmp = await tempDir('logship-journald-unit-');
    cleanups.push(tmp.cleanup);
    const jdir = join(tmp.dir, 'journal');
    await mkdir(jdir);
    await writeJournal(join(jdir, 'a.journal'), exportEntries(0, 3000));
    const registry = new StreamRegistry(tmp.dir);
    const batches: JournaldBatch[] = [];
    let durable = 0;
    // The pipeline: room for 3 batches not yet durable.
    const input = makeInput(tmp.dir, jdir, registry, () => batches.length - durable < 3, batches);
    await input.start();
    let sawPause = false;
    await waitFor(
      () => `3000 entries (have ${batches.reduce((a, b) => a + b.meta.lines, 0)})`,
      () => {
        if (input.status().paused) sawPause = true;
        // make one batch durable at a time, then wake the input as the pipeline does
        if (durable < batches.length) {
          const b = batches[durable]!;
          b.onDurable(durable);
          registry.applyBatch(b.meta, durable, Date.now());
          durable++;
          input.wake();
        }
        return batches.reduce((a, b) => a + b.meta.lines, 0) >= 3000 && durable === batches.length;
      },
      60_000,
      5,
    );
    await input.close();
    expect(sawPause).toBe(true);
    const all = batches.flatMap(entriesOf);
    expect(all.map((e) => e.n)).toEqual([...Array(3000).keys()]);
    for (const b of batches) {
      const es = entriesOf(b);
      expect(b.meta.lines).toBe(es.length);
      expect(b.meta.cursor).toBe(es.at(-1)!.cursor);
      expect(b.meta.end - b.meta.start).toBe(b.raw.length);
    }
    // Restart from the k-th batch's cursor as the buffer would give it: the next entry, nothing repeated.
    const k = Math.floor(batches.length / 2);
    const reg2 = new StreamRegistry(join(tmp.dir, 'second'));
    for (let i = 0; i <= k; i++) reg2.applyBatch(batches[i]!.meta, i, Date.now());
    const lastShipped = entriesOf(batches[k]!).at(-1)!.n;
    const again: JournaldBatch[] = [];
    const input2 = makeInput(tmp.dir, jdir, reg2, () => true, again);
    await input2.start();
    await waitFor('the rest after the restart', () => again.reduce((a, b) => a + b.meta.lines, 0) >= 3000 - lastShipped - 1, 60_000, 20);
    await input2.close();
    expect(again.flatMap(entriesOf).map((e) => e.n)).toEqual([...Array(3000 - lastShipped - 1).keys()].map((i) => lastShipped + 1 + i));
  });

  it('a stored cursor whose entries were vacuumed: continues at the oldest entry kept and counts the seqnums skipped', { timeout: 60_000 }, async () => {
    const tmp = await tempDir('logship-journald-gap-');
    cleanups.push(tmp.cleanup);
    // A journalctl stand-in that prints what the journal holds after a vacuum: seqnums 41.. of the same seqnum id.
    const stream = join(tmp.dir, 'stream.export');
    let text = '';
    for (let i = 41; i <= 45; i++) text += `__CURSOR=s=feed;i=${i.toString(16)};b=00;m=${i};t=${i};x=${i}\n__REALTIME_TIMESTAMP=${1_700_000_000_000_000 + i}\nMESSAGE=entry ${i}\n\n`;
    await writeFile(stream, text);
    const fake = join(tmp.dir, 'journalctl');
    await writeFile(fake, `#!/bin/sh\ncat ${stream}\nexec sleep 60\n`, { mode: 0o755 });
    const registry = new StreamRegistry(tmp.dir);
    // stored position: seqnum 0x1e = 30, gone
    registry.add({ key: 'journald:j', topic: 't', path: 'j', dev: 0, ino: 0, fpLen: 0, fpCrc: 0, offset: 0, lastSeen: Date.now(), cursor: 's=feed;i=1e;b=00;m=30;t=30;x=30' });
    const reg = new Registry();
    const metrics = createJournaldMetrics(reg);
    const batches: JournaldBatch[] = [];
    const input = makeInput(tmp.dir, tmp.dir, registry, () => true, batches, fake, metrics);
    await input.start();
    await waitFor('5 entries', () => batches.reduce((a, b) => a + b.meta.lines, 0) >= 5, 20_000, 20);
    await input.close();
    expect(batches.flatMap(entriesOf).map((e) => e.n)).toEqual([41, 42, 43, 44, 45]);
    expect(input.status().gap_entries).toBe(10); // seqnums 31..40
    const text2 = await reg.metrics();
    expect(text2).toMatch(/logship_agent_journald_gap_entries_total\{input="j"\} 10/);
    expect(text2).toMatch(/logship_agent_journald_gaps_total\{input="j"\} 1/);
  });
});
