/** GET /v1/topics and the consumer-group offsets routes. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GroupStore, type GroupOffsets } from '../topics/groups.js';
import { HttpError, readBody, sendJson } from './http-util.js';
import type { ServerContext } from './context.js';

export function handleTopics(ctx: ServerContext, res: ServerResponse): void {
  sendJson(res, 200, {
    topics: ctx.storage.list().map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partition: p.partition,
        first_offset: p.log.firstOffset,
        next_offset: p.log.nextOffset,
        bytes: p.log.sizeBytes,
      })),
    })),
  });
}

export async function handleGroupOffsets(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, group: string): Promise<void> {
  const problem = GroupStore.nameProblem(group);
  if (problem) throw new HttpError(400, 'bad_request', problem);
  if (req.method === 'GET') {
    sendJson(res, 200, { group, offsets: ctx.groups.get(group) });
    return;
  }
  const body = await readBody(req, 1 << 20);
  let parsed: { offsets?: GroupOffsets };
  try {
    parsed = JSON.parse(body.toString('utf8')) as { offsets?: GroupOffsets };
  } catch (err) {
    throw new HttpError(400, 'bad_request', `body is not JSON: ${(err as Error).message}`);
  }
  const offsets = parsed.offsets;
  if (!offsets || typeof offsets !== 'object') throw new HttpError(400, 'bad_request', 'body must be {"offsets": {"<topic>": {"<partition>": <offset>}}}');
  for (const [topic, parts] of Object.entries(offsets)) {
    const t = ctx.storage.get(topic);
    if (!t) throw new HttpError(404, 'not_found', `offsets.${topic}: no such topic`);
    for (const [p, o] of Object.entries(parts ?? {})) {
      const n = Number(p);
      if (!Number.isInteger(n) || n < 0 || n >= t.partitions.length) throw new HttpError(400, 'bad_request', `offsets.${topic}.${p}: no such partition`);
      if (!Number.isSafeInteger(o) || o < 0) throw new HttpError(400, 'bad_request', `offsets.${topic}.${p}: offset must be a non-negative integer`);
    }
  }
  const merged = await ctx.groups.commit(group, offsets);
  sendJson(res, 200, { group, offsets: merged });
}
