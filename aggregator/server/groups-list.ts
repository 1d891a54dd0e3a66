/**
 * GET /v1/groups (read scope): every consumer group with its lag per topic,
 * for the status page and scripts. Lag is counted as for
 * logship_aggregator_consumer_lag_records: per partition, the partition end
 * minus the committed offset (an uncommitted partition starts at its first
 * offset; what retention deleted is not lag). Topics the token's allow-list
 * hides are left out; a group left with no visible topic is not listed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import { sendJson } from './http-util.js';

export interface GroupView {
  group: string;
  /** records not yet consumed per topic; null: the topic is not open, its end is unknown here */
  lag: Record<string, number | null>;
  /** the sum of the known lags */
  total_lag: number;
}

export function listGroups(ctx: Pick<ServerContext, 'groups' | 'storage'>, visible: (topic: string) => boolean): GroupView[] {
  const out: GroupView[] = [];
  for (const [group, offsets] of ctx.groups.all()) {
    const lag: Record<string, number | null> = {};
    let total = 0;
    let any = false;
    for (const [topic, parts] of offsets) {
      if (!visible(topic)) continue;
      any = true;
      const stats = ctx.storage.stats(topic);
      if (!stats) {
        lag[topic] = null;
        continue;
      }
      let n = 0;
      for (const p of stats) n += Math.max(0, p.next_offset - Math.max(parts.get(p.partition) ?? p.first_offset, p.first_offset));
      lag[topic] = n;
      total += n;
    }
    if (any) out.push({ group, lag, total_lag: total });
  }
  return out.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
}

export function handleGroupsList(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): void {
  sendJson(res, 200, { groups: listGroups(ctx, (topic) => ctx.auth.allowsTopic(req, topic)) });
}
