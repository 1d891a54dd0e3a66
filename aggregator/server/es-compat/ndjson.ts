/**
 * The _bulk body: NDJSON, an action line per operation, then (except for
 * delete) its document line. Lines are found by scanning the buffer for '\n';
 * only action lines are parsed here (they are small); documents stay as byte
 * ranges of the body until the handler needs them.
 *
 * Refused as a whole (400), as Elasticsearch refuses them: a body that does
 * not end with '\n', no operations at all, an action line that is not JSON,
 * not an object with exactly one known operation, or with an unknown
 * metadata key; an operation missing its document line.
 */
import { HttpError } from '../http-util.js';

export type BulkAction = 'index' | 'create' | 'update' | 'delete';

export interface BulkOp {
  action: BulkAction;
  /** target index: the action's _index, else the path's; undefined when neither names one */
  index: string | undefined;
  id: string | undefined;
  /** document line [start, end) in the body, without '\n' (and a trailing '\r'); -1 for delete */
  start: number;
  end: number;
  /** 1-based line number of the action line, for messages */
  line: number;
}

export interface ParsedBulk {
  ops: BulkOp[];
  /** a `pipeline` was named (ignored; the handler warns once) */
  pipeline: boolean;
}

const ACTIONS = new Set(['index', 'create', 'update', 'delete']);
/** Metadata keys Elasticsearch accepts in an action line; all but _index and _id are ignored here. */
const KNOWN_META = new Set([
  '_index', '_id', '_type', 'routing', '_routing', 'pipeline', 'require_alias', 'require_data_stream', 'dynamic_templates',
  'if_seq_no', 'if_primary_term', 'version', '_version', 'version_type', '_version_type', 'retry_on_conflict', '_retry_on_conflict',
  '_source', 'list_executed_pipelines', 'op_type', 'parent', '_parent',
]);
/** Elasticsearch's own limit on _id. */
const MAX_ID_BYTES = 512;

export interface ScanLimits {
  maxLineBytes: number;
  maxDocuments: number;
}

const bad = (reason: string) => new HttpError(400, 'illegal_argument_exception', reason);

export function parseBulk(body: Buffer, pathIndex: string | undefined, limits: ScanLimits): ParsedBulk {
  if (body.length > 0 && body[body.length - 1] !== 10) throw bad('The bulk request must be terminated by a newline [\\n]');
  const ops: BulkOp[] = [];
  const cache = new Map<string, { action: BulkAction; index: string | undefined; id: string | undefined }>();
  let pipeline = false;
  let pos = 0;
  let lineNo = 0;
  while (pos < body.length) {
    const nl = body.indexOf(10, pos);
    lineNo++;
    const [s, e] = trimLine(body, pos, nl);
    pos = nl + 1;
    if (s === e) continue; // blank line
    if (e - s > limits.maxLineBytes) throw bad(`action/metadata line [${lineNo}] is ${e - s} bytes, more than limits.max_line_bytes (${limits.maxLineBytes})`);
    const text = body.toString('utf8', s, e);
    const seen = cache.get(text);
    if (seen) {
      lineNo = addOp(body, ops, seen.action, seen.index ?? pathIndex, seen.id, lineNo, pos, (p) => (pos = p));
      if (ops.length > limits.maxDocuments) throw tooMany(limits.maxDocuments);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, 'x_content_parse_exception', `Malformed action/metadata line [${lineNo}]: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad(`Malformed action/metadata line [${lineNo}], expected START_OBJECT`);
    const keys = Object.keys(parsed);
    if (keys.length !== 1) throw bad(`Malformed action/metadata line [${lineNo}], expected one operation (index, create, update or delete), found ${keys.length} keys`);
    const action = keys[0]!;
    if (!ACTIONS.has(action)) throw bad(`Malformed action/metadata line [${lineNo}], expected one of [index, create, update, delete] but found [${action.slice(0, 40)}]`);
    const meta = (parsed as Record<string, unknown>)[action];
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw bad(`Malformed action/metadata line [${lineNo}], expected START_OBJECT after [${action}]`);
    let index: string | undefined;
    let id: string | undefined;
    for (const [k, v] of Object.entries(meta)) {
      if (!KNOWN_META.has(k)) throw bad(`Action/metadata line [${lineNo}] contains an unknown parameter [${k.slice(0, 60)}]`);
      if (k === '_index') {
        if (typeof v !== 'string') throw bad(`Action/metadata line [${lineNo}]: _index must be a string`);
        index = v;
      } else if (k === '_id') {
        if (v === null) continue;
        if (typeof v !== 'string' && typeof v !== 'number') throw bad(`Action/metadata line [${lineNo}]: _id must be a string`);
        id = String(v);
        if (Buffer.byteLength(id) > MAX_ID_BYTES) throw bad(`Action/metadata line [${lineNo}]: id [${id.slice(0, 40)}...] is too long, must be no longer than ${MAX_ID_BYTES} bytes`);
        if (id === '') throw bad(`Action/metadata line [${lineNo}]: if _id is specified it must not be empty`);
      } else if (k === 'pipeline' && v !== null && v !== '') pipeline = true;
    }
    // Shippers repeat the same action line (same index, no _id): parse each distinct one once.
    if (id === undefined && cache.size < 256) cache.set(text, { action: action as BulkAction, index, id });
    lineNo = addOp(body, ops, action as BulkAction, index ?? pathIndex, id, lineNo, pos, (p) => (pos = p));
    if (ops.length > limits.maxDocuments) throw tooMany(limits.maxDocuments);
  }
  if (ops.length === 0) throw new HttpError(400, 'action_request_validation_exception', 'Validation Failed: 1: no requests added;');
  return { ops, pipeline };
}

const tooMany = (max: number) => new HttpError(413, 'too_large', `more than ${max} operations in one _bulk request (limits.max_documents_per_request); send smaller requests`);

/** Adds the operation of the action line numbered `lineNo`, taking its document line from `pos`; returns the last line number used. */
function addOp(body: Buffer, ops: BulkOp[], action: BulkAction, index: string | undefined, id: string | undefined, lineNo: number, pos: number, setPos: (p: number) => void): number {
  const op: BulkOp = { action, index, id, start: -1, end: -1, line: lineNo };
  if (action !== 'delete') {
    if (pos >= body.length) throw bad(`The bulk request's ${action} operation on line [${lineNo}] has no document line`);
    const dnl = body.indexOf(10, pos);
    lineNo++;
    [op.start, op.end] = trimLine(body, pos, dnl);
    setPos(dnl + 1);
  }
  ops.push(op);
  return lineNo;
}

/** [start, end) of the line from `pos` to `nl` without a trailing '\r' and surrounding blanks. */
function trimLine(b: Buffer, pos: number, nl: number): [number, number] {
  let s = pos;
  let e = nl;
  while (s < e && (b[s] === 32 || b[s] === 9)) s++;
  while (e > s && (b[e - 1] === 13 || b[e - 1] === 32 || b[e - 1] === 9)) e--;
  return [s, e];
}
