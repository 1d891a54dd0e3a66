/**
 * POST /v1/topics/{topic}/records: applications produce JSON records.
 *
 * Body: a JSON array of objects, or NDJSON (one object a line; the last
 * newline optional), optionally gzip. Each object is a record: `message`
 * (string) and any other fields, `key` (string: records with the same key go
 * to the same partition, in order) and `timestamp` (ISO 8601 or epoch ms;
 * default: now). A string `host` names the record's host (default: the
 * client address). All records are checked before anything is stored: one
 * bad record refuses the request (400, naming it).
 *
 * Stored as structured records (FLAG_JSON; readers show the object's fields)
 * in batches framed so each record's source_offset is its index in the
 * request. Answer: 200 {"topic","offsets":[{"partition","offset"},...]} in
 * request order, once durable.
 *
 * Idempotency-Key (1-255 visible ASCII characters): the request's records go
 * to one partition (the first record's key's, else the Idempotency-Key's),
 * so they are stored all or none; within limits.idempotence_window a request
 * with the same key and the same body is answered exactly as the first was
 * (with `Idempotent-Replayed: true`) and stores nothing; the same key with a
 * different body is refused with 409 idempotency_key_reused.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from './context.js';
import { HttpError, sendJson } from './http-util.js';
import type { TopicHandle } from '../storage/types.js';
import { partitionFor } from '../topics/partitioner.js';
import { FLAG_JSON } from '../../lib/protocol/json-records.js';
import { readJsonBody } from './es-compat/body.js';
import { checkJsonContentType } from './es-compat/request-limits.js';
import { hashBytes, timeOf } from './es-compat/documents.js';
import { PRODUCE_KEY_SOURCE, produceKey, type HeldEntry } from './es-compat/id-store.js';
import { storeRecords, type DocRecord } from './es-compat/store.js';
import type { JsonIngestState } from './es-compat/state.js';

const KEY_RE = /^[\x21-\x7e]{1,255}$/;

export async function handleProduce(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, topic: string): Promise<void> {
  const st = ctx.jsonIngest;
  if (!st) throw new HttpError(503, 'unavailable', 'JSON ingest is not set up');
  try {
    await produce(ctx, st, req, res, topic);
  } catch (err) {
    if (err instanceof HttpError) st.metrics.refused.inc({ route: 'produce', reason: err.type });
    throw err;
  }
}

interface Parsed {
  line: Buffer;
  key: string | undefined;
  timestamp: number;
  host: string | undefined;
}

async function produce(ctx: ServerContext, st: JsonIngestState, req: IncomingMessage, res: ServerResponse, topic: string): Promise<void> {
  checkJsonContentType(req);
  const rawKey = req.headers['idempotency-key'];
  const idemKey = Array.isArray(rawKey) ? rawKey[0] : rawKey;
  if (idemKey !== undefined && !KEY_RE.test(idemKey)) throw new HttpError(400, 'bad_request', 'Idempotency-Key must be 1-255 visible ASCII characters');
  const leave = st.gate.enter();
  let unlock = () => {};
  let held: TopicHandle | undefined;
  try {
    const body = await readJsonBody(req, { maxBodyBytes: ctx.limits.maxBodyBytes, maxInflatedBytes: st.limits.max_inflated_body_bytes });
    const now = Date.now();
    const records = parseRecords(body, now, st.limits.max_documents_per_request, st.limits.max_line_bytes);

    const key = idemKey === undefined ? undefined : produceKey(topic, idemKey);
    const hash = key === undefined ? '' : hashBytes(body);
    if (key !== undefined) {
      unlock = await st.ids.lock([key]);
      const prev = st.ids.get(key);
      if (prev) {
        if (prev.hash !== '' && prev.hash !== hash) {
          throw new HttpError(409, 'idempotency_key_reused', `Idempotency-Key "${idemKey}" was used within limits.idempotence_window for a different body; use a new key for a new request`);
        }
        st.metrics.items.inc({ route: 'produce', result: 'noop' }, records.length);
        res.setHeader('idempotent-replayed', 'true');
        sendJson(res, 200, prev.answer ?? { topic, offsets: [] });
        return;
      }
    }

    if (!ctx.storage.has(topic)) ctx.topicPolicy.checkCreate([topic], ctx.storage.count(), () => 'the path');
    held = await ctx.storage.acquire(topic, true);
    if (!held) throw new HttpError(404, 'not_found', `topic "${topic}" does not exist`);
    const n = held.partitions.length;
    const client = req.socket.remoteAddress ?? 'unknown';
    const one = key === undefined ? -1 : partitionFor('', records[0]!.key ?? idemKey!, n);
    const recs: DocRecord[] = records.map((r) => ({
      topic,
      partition: one >= 0 ? one : r.key !== undefined ? partitionFor('', r.key, n) : partitionFor(client, topic, n),
      line: r.line,
      host: r.host ?? client,
      timestamp: r.timestamp,
      source: key === undefined ? 'produce' : PRODUCE_KEY_SOURCE + idemKey,
    }));
    let entry: HeldEntry | undefined;
    if (key !== undefined) {
      entry = { at: now, hash, version: 1 };
      recs[0]!.held = { key, entry };
    }
    const topics = new Map([[topic, held]]);
    const stored = await storeRecords(ctx, recs, topics, {
      flags: FLAG_JSON,
      indexed: true,
      ids: st.ids,
      maxBatchBytes: Math.min(8 << 20, ctx.limits.maxDecompressedBatchBytes),
      beforeCommit: (out) => {
        if (entry) entry.answer = answerOf(topic, recs, out);
      },
    });
    st.metrics.idEntries.set(st.ids.size);
    const failed = stored.find((r) => 'error' in r);
    if (failed && 'error' in failed) {
      st.metrics.items.inc({ route: 'produce', result: 'error' }, records.length);
      throw failed.error;
    }
    st.metrics.items.inc({ route: 'produce', result: 'created' }, records.length);
    sendJson(res, 200, answerOf(topic, recs, stored));
  } finally {
    unlock();
    if (held) ctx.storage.release(topic);
    leave();
  }
}

function answerOf(topic: string, recs: readonly DocRecord[], out: ReadonlyArray<{ offset: number } | { error: unknown } | undefined>) {
  return { topic, offsets: recs.map((r, i) => ({ partition: r.partition, offset: (out[i] as { offset?: number } | undefined)?.offset ?? -1 })) };
}

/** The records of a JSON array or NDJSON body, each checked; throws 400 naming the first bad one. */
export function parseRecords(body: Buffer, now: number, maxRecords: number, maxLineBytes: number): Parsed[] {
  let i = 0;
  while (i < body.length && (body[i] === 0x20 || body[i] === 0x0a || body[i] === 0x0d || body[i] === 0x09)) i++;
  if (i === body.length) throw new HttpError(400, 'bad_request', 'the body holds no records: send a JSON array of objects or NDJSON');
  const out: Parsed[] = [];
  const add = (v: unknown, where: string) => {
    if (out.length >= maxRecords) throw new HttpError(413, 'too_large', `more than ${maxRecords} records in one request (limits.max_documents_per_request)`);
    out.push(check(v, where, now, maxLineBytes));
  };
  if (body[i] === 0x5b /* [ */) {
    let arr: unknown;
    try {
      arr = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, 'bad_request', `the body is not a valid JSON array: ${(err as Error).message}`);
    }
    if (!Array.isArray(arr)) throw new HttpError(400, 'bad_request', 'the body is not a JSON array');
    if (arr.length === 0) throw new HttpError(400, 'bad_request', 'the array holds no records');
    arr.forEach((v, k) => add(v, `records[${k}]`));
    return out;
  }
  let pos = 0;
  let line = 0;
  while (pos < body.length) {
    let nl = body.indexOf(10, pos);
    if (nl < 0) nl = body.length;
    line++;
    const s = pos;
    pos = nl + 1;
    const text = body.toString('utf8', s, nl).trim();
    if (text === '') continue;
    if (nl - s > maxLineBytes) throw new HttpError(413, 'too_large', `line ${line} is ${nl - s} bytes, more than limits.max_line_bytes (${maxLineBytes})`);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, 'bad_request', `line ${line} is not valid JSON: ${(err as Error).message}`);
    }
    add(v, `line ${line}`);
  }
  if (out.length === 0) throw new HttpError(400, 'bad_request', 'the body holds no records');
  return out;
}

function check(v: unknown, where: string, now: number, maxLineBytes: number): Parsed {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'bad_request', `${where} is not a JSON object`);
  const o = v as Record<string, unknown>;
  if (o.message !== undefined && typeof o.message !== 'string') throw new HttpError(400, 'bad_request', `${where}: message must be a string`);
  if (o.key !== undefined && typeof o.key !== 'string') throw new HttpError(400, 'bad_request', `${where}: key must be a string`);
  if (Object.keys(o).every((k) => k === 'key' || k === 'timestamp')) throw new HttpError(400, 'bad_request', `${where} has neither a message nor any field`);
  let timestamp = now;
  if (o.timestamp !== undefined) {
    const t = timeOf(o.timestamp);
    if (t === undefined) throw new HttpError(400, 'bad_request', `${where}: timestamp must be ISO 8601 (2024-05-01T12:00:00.000Z) or epoch milliseconds`);
    timestamp = t;
  }
  const host = typeof o.host === 'string' && o.host !== '' && o.host.length <= 255 && !/[\u0000-\u001f\u007f]/.test(o.host) ? o.host : undefined;
  const line = Buffer.from(JSON.stringify(o));
  if (line.length > maxLineBytes) throw new HttpError(413, 'too_large', `${where} is ${line.length} bytes as JSON, more than limits.max_line_bytes (${maxLineBytes})`);
  return { line, key: o.key as string | undefined, timestamp, host };
}
