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
import { applyFilterPath, parseFilterPath } from './filter-path.js';
import { hashBytes } from './documents.js';
import { BULK_SOURCE, bulkKey, type Committed, type HeldEntry } from './id-store.js';
import { appendDurable } from './store.js';
import { checkJsonContentType } from './request-limits.js';
import { sendEs } from './product.js';
import type { JsonIngestState } from './state.js';
import { FLAG_JSON } from '../../../lib/protocol/json-records.js';
import type { PartitionHandle, PlainItem } from '../../storage/types.js';
import { ACTIONS, B_END, B_HOST, B_INDEX, B_LINES, B_START, B_TIME, BATCH_FIELDS, BULK_JOB, OP_ACTION, OP_BATCH, OP_END, OP_ERROR, OP_FIELDS, OP_INDEX, OP_RANK, OP_START, type BulkItemError, type BulkJob, type BulkJobResult } from './bulk-job.js';

type ItemError = BulkItemError;

const SHARDS = { total: 1, successful: 1, failed: 0 };
const SHARDS_TEXT = '"_shards":{"total":1,"successful":1,"failed":0}';

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

// Answers per operation (R_*), besides an item error.
const R_NONE = 0;
const R_CREATED = 1;
const R_UPDATED = 2;
const R_NOOP = 3;
const R_CONFLICT = 4;
const RESULT_NAMES = ['', 'created', 'updated', 'noop', 'conflict'] as const;

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
    const maxBatchBytes = Math.min(8 << 20, ctx.limits.maxDecompressedBatchBytes);
    // Finding the operations, checking and writing every document: a payload worker's work (bulk-job.ts).
    const job: BulkJob = { op: BULK_JOB, batches: [{ payload: body }], pathIndex, client: req.socket.remoteAddress ?? 'unknown', now: started, maxLineBytes: st.limits.max_line_bytes, maxDocuments: st.limits.max_documents_per_request, maxBatchBytes };
    const r = await ctx.payloads.run<BulkJobResult>(job);
    if (r.error) throw new HttpError(r.error.status, r.error.type, r.error.reason);
    if (r.pipeline || query?.get('pipeline')) {
      st.warnOnce('pipeline', '_bulk: an ingest pipeline was named (pipeline parameter or action metadata); logship stores documents as sent and ignores it (use aggregator pipelines on read)');
    }
    const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    const { ops, batches, indexes, hosts, ids, hashes } = r;
    const n = ops.length / OP_FIELDS;
    const nb = batches.length / BATCH_FIELDS;

    // Item errors: the worker's, then the index's (-1: none), numbered in `errors`.
    const errors = r.errors.slice();
    const verdicts = await resolveTopics(ctx, req, indexes, held);
    const verdictNo = verdicts.map((v) => (v ? errors.push(v) - 1 : -1));
    const missingNo = errors.push({ status: 400, type: 'action_request_validation_exception', reason: 'Validation Failed: 1: index is missing (name it in the action line or the path: /{index}/_bulk);' }) - 1;
    const errOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const f = i * OP_FIELDS;
      const ix = ops[f + OP_INDEX]!;
      errOf[i] = ix < 0 ? missingNo : verdictNo[ix]! >= 0 ? verdictNo[ix]! : ops[f + OP_ERROR]!;
    }

    // The idempotence window: only operations with an _id look at it.
    const result = new Uint8Array(n);
    const version = new Int32Array(n).fill(1);
    const dependsOn = ids.length > 0 ? new Int32Array(n).fill(-1) : undefined;
    const heldOf: Array<{ key: string; entry: HeldEntry } | undefined> = [];
    /** batches with an operation that stores nothing (noop, conflict): rebuilt from what is stored */
    let dropped: Set<number> | undefined;
    if (ids.length > 0) {
      // each key built once (they are looked up, locked and committed)
      const keyOf: Array<string | undefined> = new Array(n);
      const keys = new Set<string>();
      for (let i = 0; i < n; i++) {
        if (errOf[i]! >= 0 || ids[i] === null) continue;
        const k = bulkKey(indexes[ops[i * OP_FIELDS + OP_INDEX]!]!, ids[i]!);
        keyOf[i] = k;
        keys.add(k);
      }
      unlock = await st.ids.lock([...keys]);
      const overlay = new Map<string, { entry: HeldEntry; slot: number }>();
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        if (errOf[i]! >= 0) continue;
        const id = ids[i];
        if (id === null) {
          result[i] = R_CREATED;
          continue;
        }
        const f = i * OP_FIELDS;
        const key = keyOf[i]!;
        const hash = hashes[i]!;
        const mine = overlay.get(key);
        const cur = mine?.entry ?? st.ids.get(key);
        if (mine) dependsOn![i] = mine.slot;
        if (cur && (ACTIONS[ops[f + OP_ACTION]!] === 'create' || cur.hash === hash)) {
          result[i] = ACTIONS[ops[f + OP_ACTION]!] === 'create' ? R_CONFLICT : R_NOOP;
          version[i] = cur.version;
          (dropped ??= new Set()).add(ops[f + OP_BATCH]!);
          continue;
        }
        result[i] = cur ? R_UPDATED : R_CREATED;
        version[i] = (cur?.version ?? 0) + 1;
        const entry: HeldEntry = { at: now, hash, version: version[i]! };
        overlay.set(key, { entry, slot: i });
        heldOf[i] = { key, entry };
      }
    } else {
      for (let i = 0; i < n; i++) if (errOf[i]! < 0) result[i] = R_CREATED;
    }

    // Batches to append, per partition; a batch with dropped documents is rebuilt from the rest.
    const rank = dropped ? new Int32Array(n) : undefined;
    const byBatch: number[][] | undefined = dropped ? Array.from({ length: nb }, () => []) : undefined;
    if (byBatch) for (let i = 0; i < n; i++) if (ops[i * OP_FIELDS + OP_BATCH]! >= 0) byBatch[ops[i * OP_FIELDS + OP_BATCH]!]!.push(i);
    const perPartition = new Map<PartitionHandle, { items: PlainItem[]; batchNos: number[]; held: Committed[] }>();
    const partOf = new Map<number, number>();
    const ppOf: Array<{ held: Committed[] } | undefined> = new Array(nb);
    for (let b = 0; b < nb; b++) {
      const g = b * BATCH_FIELDS;
      const ix = batches[g + B_INDEX]!;
      if (verdictNo[ix]! >= 0) continue;
      const topic = indexes[ix]!;
      const host = hosts[batches[g + B_HOST]!]!;
      const t = held.get(topic)!;
      const pk = ix * hosts.length + batches[g + B_HOST]!;
      let pn = partOf.get(pk);
      if (pn === undefined) partOf.set(pk, (pn = partitionFor(host, topic, t.partitions.length)));
      const p = t.partitions[pn]!;
      let payload = data.subarray(batches[g + B_START]!, batches[g + B_END]!);
      let lines = batches[g + B_LINES]!;
      let timestamp = batches[g + B_TIME]!;
      if (dropped?.has(b)) {
        const parts: Buffer[] = [];
        lines = 0;
        for (const i of byBatch![b]!) {
          if (result[i] === R_NOOP || result[i] === R_CONFLICT) continue;
          if (lines === 0) timestamp = batches[g + B_TIME]!;
          parts.push(data.subarray(ops[i * OP_FIELDS + OP_START]!, ops[i * OP_FIELDS + OP_END]! + 1));
          rank![i] = lines++;
        }
        if (lines === 0) continue;
        payload = Buffer.concat(parts);
      }
      let pp = perPartition.get(p);
      if (!pp) perPartition.set(p, (pp = { items: [], batchNos: [], held: [] }));
      ppOf[b] = pp;
      pp.items.push({ meta: { flags: FLAG_JSON, codec: 0, host, source: BULK_SOURCE, sourceOffset: 0, rawLength: payload.length }, payload, lines, timestamp });
      pp.batchNos.push(b);
    }
    // Id entries go with the partition that stores their record (committed once it is durable).
    for (let i = 0; i < heldOf.length; i++) {
      const h = heldOf[i];
      if (h) ppOf[ops[i * OP_FIELDS + OP_BATCH]!]?.held.push(h);
    }

    // Appended and durable: each batch's first offset, or the error that kept it out.
    const batchOffset = new Float64Array(nb).fill(-1);
    const batchError: Array<HttpError | undefined> = new Array(nb);
    await Promise.all(
      [...perPartition].map(async ([p, pp]) => {
        const got = await appendDurable(ctx, p, pp.items, pp.held, st.ids, () => {}, (offsets) => {
          for (let k = 0; k < pp.batchNos.length; k++) batchOffset[pp.batchNos[k]!] = offsets[k]!;
        });
        if (!Array.isArray(got)) for (const b of pp.batchNos) batchError[b] = got;
      }),
    );
    st.metrics.idEntries.set(st.ids.size);

    const items: unknown[] = new Array(n);
    const quoted = indexes.map((x) => JSON.stringify(x));
    const counts = [0, 0, 0, 0, 0, 0];
    let anyError = false;
    for (let i = 0; i < n; i++) {
      const f = i * OP_FIELDS;
      const action = ACTIONS[ops[f + OP_ACTION]!]!;
      const ix = ops[f + OP_INDEX]!;
      const b = ops[f + OP_BATCH]!;
      let err: ItemError | undefined = errOf[i]! >= 0 ? errors[errOf[i]!] : undefined;
      const id = ids.length > 0 ? (ids[i] ?? undefined) : undefined;
      if (!err && (result[i] === R_CREATED || result[i] === R_UPDATED) && batchError[b]) {
        const e = batchError[b]!;
        err = { status: e.status, type: e.status === 507 ? 'es_rejected_execution_exception' : e.type, reason: e.reason };
      }
      if (!err && dependsOn && dependsOn[i]! >= 0) {
        const d = dependsOn[i]!;
        const db = ops[d * OP_FIELDS + OP_BATCH]!;
        if ((result[d] === R_CREATED || result[d] === R_UPDATED) && batchError[db]) err = { status: 503, type: 'unavailable', reason: 'an earlier operation of this request with the same _id was not stored; retry' };
      }
      const index = ix < 0 ? null : indexes[ix]!;
      if (err) {
        anyError = true;
        counts[5]!++;
        items[i] = { [action]: { _index: index, _id: id ?? null, status: err.status, error: { type: err.type, reason: err.reason, index_uuid: '_na_', index } } };
        continue;
      }
      const res = result[i]!;
      counts[res]!++;
      if (res === R_CONFLICT) {
        anyError = true;
        const reason = `[${id}]: version conflict, document already exists (current version [${version[i]}])`;
        items[i] = { [action]: { _index: index, _id: id, status: 409, error: { type: 'version_conflict_engine_exception', reason, index_uuid: '_na_', shard: '0', index } } };
        continue;
      }
      if (res === R_NOOP) {
        items[i] = { [action]: { _index: index, _id: id, _version: version[i], result: 'noop', _shards: SHARDS, _primary_term: 1, status: 200 } };
        continue;
      }
      const offset = batchOffset[b]! + (dropped?.has(b) ? rank![i]! : ops[f + OP_RANK]!);
      const pn = partOf.get(ix * hosts.length + batches[b * BATCH_FIELDS + B_HOST]!)!;
      const docId = id ?? `${pn}-${offset}`;
      const status = res === R_CREATED ? 201 : 200;
      const name = RESULT_NAMES[res]!;
      if (filter !== undefined || single !== undefined) {
        items[i] = { [action]: { _index: index, _id: docId, _version: version[i], result: name, _shards: SHARDS, _seq_no: offset, _primary_term: 1, status } };
      } else {
        // The common answer, written directly (the same bytes JSON.stringify gives for the object above).
        items[i] = `{"${action}":{"_index":${quoted[ix]},"_id":${id === undefined ? `"${docId}"` : JSON.stringify(docId)},"_version":${version[i]},"result":"${name}",${SHARDS_TEXT},"_seq_no":${offset},"_primary_term":1,"status":${status}}}`;
      }
    }
    for (let k = 1; k < counts.length; k++) if (counts[k]! > 0) st.metrics.items.inc({ route: 'bulk', result: k === 5 ? 'error' : RESULT_NAMES[k]! }, counts[k]!);
    if (single) return answerSingle(res, items[0] as Record<string, Record<string, unknown>>);
    const took = Date.now() - started;
    if (filter) sendEs(res, 200, applyFilterPath({ took, errors: anyError, items }, filter));
    else sendEs(res, 200, `{"took":${took},"errors":${anyError},"items":[${items.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',')}]}`);
  } finally {
    unlock();
    for (const name of held.keys()) ctx.storage.release(name);
    leave();
  }
}

/** Judges every index named (name rules, the token's topics, auto-creation) and opens the usable ones: per index, its item error or undefined. */
async function resolveTopics(ctx: ServerContext, req: IncomingMessage, indexes: readonly string[], held: Map<string, TopicHandle>): Promise<Array<ItemError | undefined>> {
  const out: Array<ItemError | undefined> = [];
  for (const name of indexes) out.push(await judge(ctx, req, name, held));
  return out;
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
