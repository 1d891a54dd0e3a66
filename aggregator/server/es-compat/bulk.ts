/**
 * POST|PUT /_bulk, /{index}/_bulk (and /{index}/{type}/_bulk): Elasticsearch's
 * bulk API over the log. `index` and `create` store their document as one
 * record of the topic named by the index (the message is the document line
 * as sent, stored as a structured record carrying the document's own
 * timestamp); `update` and `delete` are answered per item with an error (a log
 * is append-only). The answer is always 200 once the body parsed, items in
 * request order, compact JSON (Vector looks for `"errors":true` byte for
 * byte), filtered by `filter_path`.
 *
 * With an `_id` (idempotence window, id-store.ts):
 *   create, id held       -> 409 version_conflict_engine_exception, nothing stored
 *   index, id held, same document    -> 200 "noop", nothing stored (a retry)
 *   index, id held, another document -> stored as a new record, 200 "updated",
 *                            _version + 1 (an intentional update is kept;
 *                            the log holds both versions, readers see both)
 *   id not held           -> stored, 201 "created"
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../http-util.js';
import type { ServerContext } from '../context.js';
import type { TopicHandle } from '../../storage/types.js';
import { partitionFor } from '../../topics/partitioner.js';
import { topicNameProblem } from '../../../lib/config/names.js';
import { readJsonBody } from './body.js';
import { parseBulk, type BulkOp } from './ndjson.js';
import { applyFilterPath, parseFilterPath } from './filter-path.js';
import { hashBytes, timeOf, usableHost } from './documents.js';
import { scanDocument } from './doc-scan.js';
import { StoredLineWriter } from './stored-line.js';
import { bulkKey, type HeldEntry } from './id-store.js';
import { storeRecords, type DocRecord } from './store.js';
import { checkJsonContentType } from './request-limits.js';
import { sendEs } from './product.js';
import type { JsonIngestState } from './state.js';
import { FLAG_JSON } from '../../../lib/protocol/json-records.js';

interface ItemError {
  status: number;
  type: string;
  reason: string;
}

interface Slot {
  op: BulkOp;
  topic?: string;
  error?: ItemError;
  /** stored record index in recs */
  rec?: number;
  result?: 'created' | 'updated' | 'noop' | 'conflict';
  version?: number;
  /** the in-request slot whose record this answer relies on (same _id earlier in the request) */
  dependsOn?: number;
}

const SHARDS = { total: 1, successful: 1, failed: 0 };

/** One document by the single-document APIs (rsyslog's default bulkmode="off", clients' index()/create()). */
export interface SingleDoc {
  action: 'index' | 'create';
  id?: string;
}

export async function handleBulk(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, raw: string, pathIndex: string | undefined, single?: SingleDoc): Promise<void> {
  const st = ctx.jsonIngest;
  if (!st) throw new HttpError(503, 'unavailable', 'JSON ingest is not set up');
  try {
    await bulk(ctx, st, req, res, raw, pathIndex, single);
  } catch (err) {
    if (err instanceof HttpError) st.metrics.refused.inc({ route: 'bulk', reason: err.type });
    throw err;
  }
}

async function bulk(ctx: ServerContext, st: JsonIngestState, req: IncomingMessage, res: ServerResponse, raw: string, pathIndex: string | undefined, single?: SingleDoc): Promise<void> {
  const started = Date.now();
  checkJsonContentType(req);
  const leave = st.gate.enter();
  const held = new Map<string, TopicHandle>();
  let unlock = () => {};
  try {
    const qi = raw.indexOf('?');
    const query = qi < 0 ? undefined : new URLSearchParams(raw.slice(qi + 1));
    const filter = parseFilterPath(query?.get('filter_path') ?? null);
    let body = await readJsonBody(req, { maxBodyBytes: ctx.limits.maxBodyBytes, maxInflatedBytes: st.limits.max_inflated_body_bytes });
    if (single) body = singleBody(body, single, query?.get('op_type') === 'create');
    const objects = filter !== undefined || single !== undefined;
    const parsed = parseBulk(body, pathIndex, { maxLineBytes: st.limits.max_line_bytes, maxDocuments: st.limits.max_documents_per_request });
    if (parsed.pipeline || query?.get('pipeline')) {
      st.warnOnce('pipeline', '_bulk: an ingest pipeline was named (pipeline parameter or action metadata); logship stores documents as sent and ignores it (use aggregator pipelines on read)');
    }

    const slots: Slot[] = parsed.ops.map((op) => ({ op }));
    await resolveTopics(ctx, req, slots, held);

    // Parse documents; collect the ids to hold.
    const recs: DocRecord[] = [];
    const docs: Array<{ host: string; timestamp: number } | undefined> = new Array(slots.length);
    const client = req.socket.remoteAddress ?? 'unknown';
    const keys = new Set<string>();
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (s.error) continue;
      const { op } = s;
      if (op.action === 'update' || op.action === 'delete') {
        s.error = { status: 400, type: 'illegal_argument_exception', reason: `${op.action} is not supported: logship stores a log, which is append-only (index or create a new document instead)` };
        continue;
      }
      if (op.end - op.start > st.limits.max_line_bytes) {
        s.error = { status: 413, type: 'document_too_large', reason: `the document is ${op.end - op.start} bytes, more than limits.max_line_bytes (${st.limits.max_line_bytes})` };
        continue;
      }
      const d = scanDocument(body, op.start, op.end);
      if (d.error !== undefined) {
        s.error = { status: 400, type: 'document_parsing_exception', reason: `failed to parse the document of line [${op.line + 1}]: ${d.error}` };
        continue;
      }
      docs[i] = { host: usableHost(d.host) ?? client, timestamp: timeOf(d.timestamp) ?? started };
      if (op.id !== undefined) keys.add(bulkKey(s.topic!, op.id));
    }

    unlock = await st.ids.lock([...keys]);
    const lines = new StoredLineWriter();
    const overlay = new Map<string, { entry: HeldEntry; slot: number }>();
    const now = Date.now();
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      const d = docs[i];
      if (s.error || !d) continue;
      const { op } = s;
      const line = body.subarray(op.start, op.end);
      const rec: DocRecord = { topic: s.topic!, partition: 0, line, host: d.host, timestamp: d.timestamp, source: '_bulk', ownTime: true };
      if (op.id !== undefined) {
        const key = bulkKey(s.topic!, op.id);
        const hash = hashBytes(line);
        const mine = overlay.get(key);
        const cur = mine?.entry ?? st.ids.get(key);
        if (mine) s.dependsOn = mine.slot;
        if (cur && op.action === 'create') {
          s.result = 'conflict';
          s.version = cur.version;
          continue;
        }
        if (cur && cur.hash === hash) {
          s.result = 'noop';
          s.version = cur.version;
          continue;
        }
        s.result = cur ? 'updated' : 'created';
        s.version = (cur?.version ?? 0) + 1;
        const entry: HeldEntry = { at: now, hash, version: s.version };
        overlay.set(key, { entry, slot: i });
        rec.held = { key, entry };
      } else {
        s.result = 'created';
        s.version = 1;
      }
      rec.line = lines.write(body, op.start, op.end, d.timestamp, op.id);
      const t = held.get(s.topic!)!;
      rec.partition = partitionFor(rec.host, s.topic!, t.partitions.length);
      s.rec = recs.length;
      recs.push(rec);
    }

    const stored = await storeRecords(ctx, recs, held, { flags: FLAG_JSON, ids: st.ids, maxBatchBytes: Math.min(8 << 20, ctx.limits.maxDecompressedBatchBytes) });
    st.metrics.idEntries.set(st.ids.size);

    const items: unknown[] = new Array(slots.length);
    const quoted = new Map<string, string>();
    let errors = false;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      let err = s.error;
      const r = s.rec !== undefined ? stored[s.rec]! : undefined;
      if (!err && r && 'error' in r) err = { status: r.error.status, type: r.error.status === 507 ? 'es_rejected_execution_exception' : r.error.type, reason: r.error.reason };
      if (!err && s.dependsOn !== undefined) {
        const dep = slots[s.dependsOn]!;
        const dr = dep.rec !== undefined ? stored[dep.rec] : undefined;
        if (dr && 'error' in dr) err = { status: 503, type: 'unavailable', reason: 'an earlier operation of this request with the same _id was not stored; retry' };
      }
      const index = s.topic ?? s.op.index ?? null;
      if (err) {
        errors = true;
        st.metrics.items.inc({ route: 'bulk', result: 'error' });
        items[i] = { [s.op.action]: { _index: index, _id: s.op.id ?? null, status: err.status, error: { type: err.type, reason: err.reason, index_uuid: '_na_', index } } };
        continue;
      }
      if (s.result === 'conflict') {
        errors = true;
        st.metrics.items.inc({ route: 'bulk', result: 'conflict' });
        const reason = `[${s.op.id}]: version conflict, document already exists (current version [${s.version}])`;
        items[i] = { [s.op.action]: { _index: index, _id: s.op.id, status: 409, error: { type: 'version_conflict_engine_exception', reason, index_uuid: '_na_', shard: '0', index } } };
        continue;
      }
      st.metrics.items.inc({ route: 'bulk', result: s.result! });
      if (s.result === 'noop') {
        items[i] = { [s.op.action]: { _index: index, _id: s.op.id, _version: s.version, result: 'noop', _shards: SHARDS, _primary_term: 1, status: 200 } };
        continue;
      }
      const rec = recs[s.rec!]!;
      const offset = (r as { offset: number }).offset;
      const id = s.op.id ?? `${rec.partition}-${offset}`;
      const status = s.result === 'created' ? 201 : 200;
      if (objects) {
        items[i] = { [s.op.action]: { _index: index, _id: id, _version: s.version, result: s.result, _shards: SHARDS, _seq_no: offset, _primary_term: 1, status } };
      } else {
        // The common answer, written directly (the same bytes JSON.stringify gives for the object above).
        let q = quoted.get(index!);
        if (q === undefined) quoted.set(index!, (q = JSON.stringify(index)));
        items[i] = `{"${s.op.action}":{"_index":${q},"_id":${s.op.id === undefined ? `"${id}"` : JSON.stringify(id)},"_version":${s.version},"result":"${s.result}","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":${offset},"_primary_term":1,"status":${status}}}`;
      }
    }
    if (single) return answerSingle(res, items[0] as Record<string, Record<string, unknown>>);
    const took = Date.now() - started;
    if (filter) sendEs(res, 200, applyFilterPath({ took, errors, items }, filter));
    else sendEs(res, 200, `{"took":${took},"errors":${errors},"items":[${items.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',')}]}`);
  } finally {
    unlock();
    for (const name of held.keys()) ctx.storage.release(name);
    leave();
  }
}

/** Judges every index named (name rules, the token's topics, auto-creation) and opens the usable ones. */
async function resolveTopics(ctx: ServerContext, req: IncomingMessage, slots: Slot[], held: Map<string, TopicHandle>): Promise<void> {
  const verdict = new Map<string, ItemError | undefined>();
  for (const s of slots) {
    const name = s.op.index;
    if (name === undefined) {
      s.error = { status: 400, type: 'action_request_validation_exception', reason: 'Validation Failed: 1: index is missing (name it in the action line or the path: /{index}/_bulk);' };
      continue;
    }
    if (!verdict.has(name)) verdict.set(name, await judge(ctx, req, name, held));
    const e = verdict.get(name);
    if (e) s.error = e;
    else s.topic = name;
  }
}

async function judge(ctx: ServerContext, req: IncomingMessage, name: string, held: Map<string, TopicHandle>): Promise<ItemError | undefined> {
  const problem = topicNameProblem(name);
  if (problem) return { status: 400, type: 'invalid_index_name_exception', reason: `Invalid index name [${name.slice(0, 100)}]: ${problem} (the index name is the topic)` };
  try {
    ctx.auth.requireTopic(req, name);
  } catch (err) {
    return { status: 403, type: 'security_exception', reason: (err as Error).message };
  }
  try {
    if (!ctx.storage.has(name)) ctx.topicPolicy.checkCreate([name], ctx.storage.count(), () => `index [${name}]`);
    const t = await ctx.storage.acquire(name, true);
    if (!t) return { status: 404, type: 'index_not_found_exception', reason: `no such index [${name}]` };
    held.set(name, t);
    return undefined;
  } catch (err) {
    const e = err instanceof HttpError ? err : undefined;
    if (e?.type === 'topic_not_allowed') return { status: 404, type: 'index_not_found_exception', reason: `no such index [${name}]: ${e.reason}` };
    return { status: e?.status ?? 503, type: e?.type ?? 'unavailable', reason: (err as Error).message };
  }
}

/** The _id and document hash of a stored _bulk line that carries an _id (the recovery scan), else undefined. */
export function bulkRecordOf(line: Buffer): { id: string; hash: string } | undefined {
  if (line.indexOf('"bulk_id":') < 0) return undefined;
  try {
    const o = JSON.parse(line.toString('utf8')) as { message?: unknown; bulk_id?: unknown };
    if (typeof o.bulk_id === 'string' && typeof o.message === 'string') return { id: o.bulk_id, hash: hashBytes(Buffer.from(o.message)) };
  } catch {
    /* not one of ours */
  }
  return undefined;
}

/** The bulk body of a single-document request: its action line, then the document on one line. */
function singleBody(doc: Buffer, single: SingleDoc, opTypeCreate: boolean): Buffer {
  let e = doc.length;
  while (e > 0 && (doc[e - 1] === 10 || doc[e - 1] === 13 || doc[e - 1] === 32 || doc[e - 1] === 9)) e--;
  const inner = doc.subarray(0, e);
  if (inner.includes(10)) {
    // A pretty-printed document: one line of its own (documents are stored as one line).
    let v: unknown;
    try {
      v = JSON.parse(inner.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, 'document_parsing_exception', `failed to parse the document: ${(err as Error).message}`);
    }
    return Buffer.from(`${JSON.stringify({ [opTypeCreate ? 'create' : single.action]: single.id === undefined ? {} : { _id: single.id } })}\n${JSON.stringify(v)}\n`);
  }
  const action = Buffer.from(`${JSON.stringify({ [opTypeCreate ? 'create' : single.action]: single.id === undefined ? {} : { _id: single.id } })}\n`);
  return Buffer.concat([action, inner, Buffer.from('\n')]);
}

/** Elasticsearch's answer to a single-document request: the item without `status` (rsyslog reads a top-level status as failure), or its error. */
function answerSingle(res: ServerResponse, item: Record<string, Record<string, unknown>>): void {
  const v = Object.values(item)[0]!;
  const status = v.status as number;
  const err = v.error as { type: string; reason: string } | undefined;
  if (err) {
    sendEs(res, status, { error: { root_cause: [{ type: err.type, reason: err.reason }], type: err.type, reason: err.reason }, status });
    return;
  }
  const { status: _drop, ...rest } = v;
  void _drop;
  sendEs(res, status, rest);
}
