/** GET /v1/topics and the consumer-group offsets routes. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GroupStore, toJson, type GroupOffsets } from '../topics/groups.js';
import { HttpError, parseDecimal, readBody, sendJson } from './http-util.js';
import type { ServerContext } from './context.js';

const SHAPE = 'body must be {"offsets": {"<topic>": {"<partition>": <offset>}}}';
const MAX_GROUP_BODY = 1 << 20;

export async function handleTopics(ctx: ServerContext, res: ServerResponse, visible: (topic: string) => boolean = () => true): Promise<void> {
  const topics = [];
  // A shared backend (JetStream) learns what other aggregators wrote first; a failure lists what is known.
  await ctx.storage.refreshStats?.().catch((err: unknown) => ctx.logger.warn({ err }, 'topic listing: storage could not refresh; offsets may be behind'));
  for (const name of ctx.storage.names()) {
    if (!visible(name)) continue; // a token's topics allow-list hides the others
    // A closed topic shows its offsets as of its close; one not opened since start is opened for it.
    let partitions = ctx.storage.stats(name);
    if (!partitions) {
      try {
        partitions = await ctx.storage.withTopic(name, false, () => ctx.storage.stats(name));
      } catch (err) {
        ctx.logger.warn({ topic: name, err }, 'topic listing: cannot open a topic; it is listed without partitions');
      }
    }
    topics.push({ name, partitions: partitions ?? [] });
  }
  sendJson(res, 200, { topics });
}

export async function handleGroupOffsets(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, group: string): Promise<void> {
  const problem = GroupStore.nameProblem(group);
  if (problem) throw new HttpError(400, 'bad_request', problem);
  if (req.method === 'GET') {
    sendJson(res, 200, { group, offsets: toJson(ctx.groups.get(group)) });
    return;
  }
  const body = await readBody(req, MAX_GROUP_BODY);
  const offsets = await parseGroupOffsets(ctx, body);
  for (const topic of offsets.keys()) ctx.auth.requireTopic(req, topic); // the token's topics allow-list (403)
  const merged = await ctx.groups.commit(group, offsets);
  sendJson(res, 200, { group, offsets: toJson(merged) });
}

/**
 * Validates a commit body key by key into Maps: every topic exists, every
 * partition key is a canonical decimal partition of it, every offset lies in
 * 0..next_offset (a committed offset is the next record to read).
 */
export async function parseGroupOffsets(ctx: { storage: Pick<ServerContext['storage'], 'withTopic'> }, body: Buffer): Promise<GroupOffsets> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'bad_request', `body is not JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  if (!isObject(parsed) || !Object.hasOwn(parsed, 'offsets') || !isObject(parsed.offsets)) throw new HttpError(400, 'bad_request', SHAPE);
  const given = parsed.offsets;
  const out: GroupOffsets = new Map();
  for (const topic of Object.keys(given)) {
    const parts = given[topic];
    const at = `offsets.${JSON.stringify(topic.slice(0, 220))}`;
    if (!isObject(parts)) throw new HttpError(400, 'bad_request', `${at}: expected an object of partition -> offset; ${SHAPE}`);
    const m = new Map<number, number>();
    await ctx.storage.withTopic(topic, false, (t) => {
      if (!t) throw new HttpError(404, 'not_found', `${at}: no such topic`);
      for (const key of Object.keys(parts)) {
        const n = parseDecimal(key);
        const where = `${at}.${JSON.stringify(key.slice(0, 40))}`;
        if (n === undefined || n >= t.partitions.length) throw new HttpError(400, 'bad_request', `${where}: no such partition (topic has 0..${t.partitions.length - 1}, written in decimal)`);
        const o = parts[key];
        const p = t.partitions[n]!;
        if (!Number.isSafeInteger(o) || (o as number) < 0 || (o as number) > p.nextOffset) {
          throw new HttpError(400, 'bad_request', `${where}: offset must be an integer from 0 to next_offset ${p.nextOffset}, got ${JSON.stringify(o)?.slice(0, 40)}`);
        }
        m.set(n, o as number);
      }
    });
    out.set(topic, m);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
