/** GET /v1/groups' listing: lag per topic as the consumer-lag metric counts it, the token's topics respected. */
import { describe, expect, it } from 'vitest';
import { listGroups } from '../../../../aggregator/server/groups-list.js';
import type { ServerContext } from '../../../../aggregator/server/context.js';

const stats: Record<string, Array<{ partition: number; first_offset: number; next_offset: number; bytes: number }>> = {
  app: [
    { partition: 0, first_offset: 0, next_offset: 100, bytes: 1 },
    { partition: 1, first_offset: 50, next_offset: 80, bytes: 1 },
  ],
  audit: [{ partition: 0, first_offset: 0, next_offset: 7, bytes: 1 }],
};
const ctx = {
  storage: { stats: (t: string) => stats[t] },
  groups: {
    all: () =>
      new Map([
        ['sink-search', new Map([['app', new Map([[0, 90], [1, 10]])]])], // p1 committed below first_offset: resumes at 50
        ['readers', new Map([['audit', new Map([[0, 7]])], ['gone', new Map([[0, 1]])]])],
      ]),
  },
} as unknown as Pick<ServerContext, 'groups' | 'storage'>;

describe('consumer groups listing', () => {
  it('counts lag per topic from the partition ends, sorted by group; unknown topics are null', () => {
    expect(listGroups(ctx, () => true)).toEqual([
      { group: 'readers', lag: { audit: 0, gone: null }, total_lag: 0 },
      { group: 'sink-search', lag: { app: 10 + 30 }, total_lag: 40 },
    ]);
  });

  it('leaves out topics the token may not see, and groups with none left', () => {
    expect(listGroups(ctx, (t) => t === 'app')).toEqual([{ group: 'sink-search', lag: { app: 40 }, total_lag: 40 }]);
  });
});
