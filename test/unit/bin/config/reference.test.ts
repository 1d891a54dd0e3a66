import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderReference } from '../../../../bin/config/gen-reference.js';

const docPath = fileURLToPath(new URL('../../../../docs/config-reference.md', import.meta.url));

describe('docs/config-reference.md', () => {
  it('equals what bin/config/gen-reference.ts renders from the option tables', async () => {
    const expected = renderReference();
    // Read the committed file first: the comparison is always against what was there, never
    // against what this run wrote. UPDATE_REFERENCE=1 npx vitest run test/unit/bin/config/reference.test.ts
    // rewrites a stale file and still fails this run, so a stale doc never passes.
    const actual = await readFile(docPath, 'utf8');
    if (actual !== expected && process.env.UPDATE_REFERENCE === '1') {
      await writeFile(docPath, expected);
      expect.fail('docs/config-reference.md was stale and has been rewritten (UPDATE_REFERENCE=1): review and commit it, then run again');
    }
    expect(actual, 'regenerate: UPDATE_REFERENCE=1 npx vitest run test/unit/bin/config/reference.test.ts (or npm run build && node dist/bin/config/gen-reference.js)').toBe(expected);
  });

  it('documents every contract key', () => {
    const doc = renderReference();
    for (const key of [
      '`aggregator.token_file`',
      '`inputs[type=file].multiline.start_pattern`',
      '`inputs[type=host_metrics].interval`',
      '`buffer.when_full`',
      '`status.listen`',
      '`topics.default.retention_bytes`',
      '`topics.TOPIC.partitions`',
      '`sinks[type=elasticsearch].dead_letter_topic`',
      '`sinks[type=pagerduty].routing_key_file`',
      '`alerts[absent].absent_for`',
      '`storage(type=jetstream).replicas`',
    ]) {
      expect(doc).toContain(key);
    }
  });
});
