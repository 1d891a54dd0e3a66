/**
 * The alert state saved when a rule fires in the middle of a delivery: apply() is synchronous
 * and the firing asks for a save at once, so the snapshot must wait for apply() to finish.
 * Otherwise it holds the delivery's counts half applied beside the offsets from before the
 * delivery, and a crash before the next save counts that part of the delivery again on restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MatchAlertRule } from '../../../../aggregator/alerts/config.js';
import { AlertStateStore } from '../../../../aggregator/alerts/state-store.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import { tempDir, waitFor } from '../../../helpers/procs.js';
import { offlineEngine } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('alert state saved on a transition inside a delivery', () => {
  it('holds the whole delivery: its counts and the offset after its last record', async () => {
    const tmp = await tempDir('alert-save');
    cleanups.push(tmp.cleanup);
    const rule: MatchAlertRule = { kind: 'match', name: 'Burst', topic: 'app', match: 'ERROR', threshold: 2, window: 60_000, labels: {}, annotations: {}, sinks: [], group_by: ['host'], max_age: 300_000 };
    const engine = offlineEngine([rule], tmp.dir);
    const ts = new Date().toISOString();
    // the rule fires at the third of ten ERROR lines
    const records: StoredRecord[] = Array.from({ length: 10 }, (_, i) => ({ offset: i, timestamp: ts, host: 'web-01', source: '/var/log/app.log', source_offset: i * 10, message: `ERROR ${i}` }));
    engine.apply({ topic: 'app', partition: 0, records });
    const store = new AlertStateStore(tmp.dir);
    let saved: Awaited<ReturnType<AlertStateStore['load']>>;
    await waitFor('the alert state file', async () => (saved = await store.load().catch(() => undefined)) !== undefined, 10_000, 20);
    expect(saved!.offsets.app?.['0']).toBe(10);
    const g = saved!.groups.find((x) => x.rule === 'Burst');
    expect(g?.status).toBe('firing');
    expect(g?.count).toBe(10);
  });
});
