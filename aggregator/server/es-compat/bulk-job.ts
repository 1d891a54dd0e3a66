/**
 * The per-document half of a _bulk request, run as a payload job (on a
 * payload worker thread, lib/protocol/payload-pool.ts) so the event loop
 * never walks a document: one pass over the inflated NDJSON body finds the
 * operations (ndjson.ts), scans each document (doc-scan.ts: a valid object,
 * its host and @timestamp) and writes its stored line (stored-line.ts)
 * straight into the batch payloads the storage appends.
 *
 * Documents are grouped by (index, host): every document of a group lands in
 * one partition (partitionFor hashes host and topic), so the handler maps a
 * group to its partition and appends the group's batches as they are. Within
 * a group, documents keep request order; a group is cut into batches of at
 * most maxBatchBytes.
 *
 * Result layout (plain data and typed arrays that own their buffers, so they
 * move back to the event loop without a copy):
 *   data     the stored lines, each followed by '\n', batch after batch
 *   ops      OP_FIELDS int32 per operation, in request order:
 *            action, index number (-1: none), action line number (1-based),
 *            item error number (-1: none), batch (-1: not stored), rank in
 *            its batch, stored line [start, end) in data
 *   batches  BATCH_FIELDS float64 per batch: index number, host number,
 *            [start, end) in data, lines, timestamp of its first document
 *   indexes, hosts, errors: the strings the numbers above refer to
 *   ids      per operation, its _id or null (empty when no operation has one)
 *   hashes   per operation with an _id, the hash of its document (idempotence)
 */
import { HttpError } from '../http-util.js';
import { parseBulk, type BulkAction } from './ndjson.js';
import { scanDocument } from './doc-scan.js';
import { hashBytes, timeOf, usableHost } from './documents.js';
import { encodeStoredLine, storedLineWorst } from './stored-line.js';
import { registerJob } from '../../../lib/protocol/payload-jobs.js';

export const BULK_JOB = 'es-bulk';

export interface BulkJob {
  op: typeof BULK_JOB;
  /** one: the inflated request body */
  batches: Array<{ payload: Uint8Array }>;
  pathIndex: string | undefined;
  /** host of documents that name none (the client's address) */
  client: string;
  /** timestamp of documents without a usable @timestamp (ms) */
  now: number;
  maxLineBytes: number;
  maxDocuments: number;
  maxBatchBytes: number;
}

export interface BulkItemError {
  status: number;
  type: string;
  reason: string;
}

export interface BulkJobResult {
  /** the whole request is refused */
  error?: BulkItemError;
  pipeline: boolean;
  data: Uint8Array;
  ops: Int32Array;
  batches: Float64Array;
  indexes: string[];
  hosts: string[];
  errors: BulkItemError[];
  ids: Array<string | null>;
  hashes: Array<string | null>;
}

export const OP_FIELDS = 8;
export const OP_ACTION = 0;
export const OP_INDEX = 1;
export const OP_LINE = 2;
export const OP_ERROR = 3;
export const OP_BATCH = 4;
export const OP_RANK = 5;
export const OP_START = 6;
export const OP_END = 7;

export const BATCH_FIELDS = 6;
export const B_INDEX = 0;
export const B_HOST = 1;
export const B_START = 2;
export const B_END = 3;
export const B_LINES = 4;
export const B_TIME = 5;

export const ACTIONS: readonly BulkAction[] = ['index', 'create', 'update', 'delete'];

/**
 * The stored lines are written into a buffer kept from job to job (then
 * copied out at their exact size): a fresh multi-MiB buffer per request
 * costs a page fault per 4 KiB touched. Up to SCRATCH_KEEP is kept.
 */
let scratch = Buffer.alloc(0);
const SCRATCH_KEEP = 32 << 20;

function scratchBuffer(size: number): Buffer {
  if (size <= scratch.length) return scratch;
  const b = Buffer.allocUnsafeSlow(Math.max(size, Math.min(2 * scratch.length, SCRATCH_KEEP)));
  if (b.length <= SCRATCH_KEEP) scratch = b;
  return b;
}

export function runBulkJob(job: BulkJob): BulkJobResult {
  const u = job.batches[0]!.payload;
  const body = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  let parsed;
  try {
    parsed = parseBulk(body, job.pathIndex, { maxLineBytes: job.maxLineBytes, maxDocuments: job.maxDocuments });
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { error: { status: err.status, type: err.type, reason: err.reason }, pipeline: false, data: new Uint8Array(0), ops: new Int32Array(0), batches: new Float64Array(0), indexes: [], hosts: [], errors: [], ids: [], hashes: [] };
  }
  const n = parsed.ops.length;
  const ops = new Int32Array(n * OP_FIELDS);
  const indexes: string[] = [];
  const indexNo = new Map<string, number>();
  const hosts: string[] = [];
  const hostNo = new Map<string, number>();
  const errors: BulkItemError[] = [];
  const anyId = parsed.ops.some((o) => o.id !== undefined);
  const ids: Array<string | null> = anyId ? new Array<string | null>(n).fill(null) : [];
  const hashes: Array<string | null> = anyId ? new Array<string | null>(n).fill(null) : [];
  const times = new Float64Array(n);
  // group of each stored document: (index, host) -> number; documents per group in request order
  const groupNo = new Map<number, Map<number, number>>();
  const groups: Array<{ index: number; host: number; docs: number[] }> = [];
  let docBytes = 0;

  for (let i = 0; i < n; i++) {
    const op = parsed.ops[i]!;
    const f = i * OP_FIELDS;
    ops[f + OP_ACTION] = ACTIONS.indexOf(op.action);
    ops[f + OP_LINE] = op.line;
    ops[f + OP_ERROR] = -1;
    ops[f + OP_BATCH] = -1;
    let ix = -1;
    if (op.index !== undefined) {
      ix = indexNo.get(op.index) ?? -1;
      if (ix < 0) {
        ix = indexes.push(op.index) - 1;
        indexNo.set(op.index, ix);
      }
    }
    ops[f + OP_INDEX] = ix;
    if (anyId && op.id !== undefined) ids[i] = op.id;
    if (ix < 0) continue; // the handler answers "index is missing"
    let err: BulkItemError | undefined;
    if (op.action === 'update' || op.action === 'delete') {
      err = { status: 400, type: 'illegal_argument_exception', reason: `${op.action} is not supported: logship stores a log, which is append-only (index or create a new document instead)` };
    } else if (op.end - op.start > job.maxLineBytes) {
      err = { status: 413, type: 'document_too_large', reason: `the document is ${op.end - op.start} bytes, more than limits.max_line_bytes (${job.maxLineBytes})` };
    } else {
      const d = scanDocument(body, op.start, op.end);
      if (d.error !== undefined) err = { status: 400, type: 'document_parsing_exception', reason: `failed to parse the document of line [${op.line + 1}]: ${d.error}` };
      else {
        const host = usableHost(d.host) ?? job.client;
        let h = hostNo.get(host);
        if (h === undefined) {
          h = hosts.push(host) - 1;
          hostNo.set(host, h);
        }
        times[i] = timeOf(d.timestamp) ?? job.now;
        let byHost = groupNo.get(ix);
        if (!byHost) groupNo.set(ix, (byHost = new Map()));
        let g = byHost.get(h);
        if (g === undefined) {
          g = groups.push({ index: ix, host: h, docs: [] }) - 1;
          byHost.set(h, g);
        }
        groups[g]!.docs.push(i);
        if (op.id !== undefined) hashes[i] = hashBytes(body.subarray(op.start, op.end));
        docBytes += op.end - op.start;
      }
    }
    if (err) ops[f + OP_ERROR] = errors.push(err) - 1;
  }

  // Sized for what documents usually take (escaping adds a little), grown when a document might not fit:
  // a body of control bytes (six times its size escaped) costs memory only as it is written.
  let out = scratchBuffer(Math.ceil(docBytes * 1.5) + 4096 * (groups.length + 1));
  const batches: number[] = [];
  let o = 0;
  let lastMs = NaN;
  const isoBuf = Buffer.allocUnsafe(32);
  let iso = isoBuf.subarray(0, 0);
  for (const g of groups) {
    let bStart = o;
    let bTime = 0;
    let lines = 0;
    for (const i of g.docs) {
      const op = parsed.ops[i]!;
      const ts = times[i]!;
      if (ts !== lastMs) {
        lastMs = ts;
        iso = isoBuf.subarray(0, isoBuf.write(new Date(ts).toISOString(), 0, 'latin1'));
      }
      const need = o + storedLineWorst(op.end - op.start, op.id === undefined ? 0 : Buffer.byteLength(op.id)) + 1;
      if (need > out.length) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(need, 2 * out.length));
        out.copy(bigger, 0, 0, o);
        out = bigger;
      }
      const at = o;
      o = encodeStoredLine(out, o, body, op.start, op.end, iso, op.id === undefined ? undefined : JSON.stringify(op.id));
      const f = i * OP_FIELDS;
      ops[f + OP_START] = at;
      ops[f + OP_END] = o;
      out[o++] = 0x0a;
      // at most maxBatchBytes a batch, unless one document alone is bigger
      if (lines > 0 && o - bStart > job.maxBatchBytes) {
        batches.push(g.index, g.host, bStart, at, lines, bTime);
        bStart = at;
        lines = 0;
      }
      if (lines === 0) bTime = ts;
      ops[f + OP_BATCH] = batches.length / BATCH_FIELDS;
      ops[f + OP_RANK] = lines++;
    }
    if (lines > 0) batches.push(g.index, g.host, bStart, o, lines, bTime);
  }
  // Its own ArrayBuffer, exactly the size written, so it moves across threads.
  const data = Buffer.allocUnsafeSlow(o);
  out.copy(data, 0, 0, o);
  return { pipeline: parsed.pipeline, data, ops, batches: Float64Array.from(batches), indexes, hosts, errors, ids, hashes };
}

registerJob(BULK_JOB, runBulkJob);
