/**
 * The `_bulk` body as Elasticsearch parses it, before any document is indexed.
 *
 * Body: NDJSON. Each operation is an action/metadata line (a JSON object with exactly one
 * key: index | create | update | delete, whose value is an object of metadata), followed by
 * one source line except for delete. Every line, the last included, ends with "\n"; a
 * body that does not is refused whole (400). Blank action lines are skipped, as the real
 * parser skips a line with no JSON token. A malformed action line, an unknown operation or
 * metadata key refuses the whole request (400, illegal_argument_exception or
 * x_content_parse_exception). Missing index, missing source, missing or oversized ids are
 * collected into one action_request_validation_exception (400). Source lines are not parsed
 * here: a broken document fails only its own item, when it is indexed.
 */
import { errorBody } from './elasticsearch-flavors.js';

export type BulkOp = 'index' | 'create' | 'update' | 'delete';

export interface BulkItem {
  op: BulkOp;
  /** 1-based line number of the action line */
  line: number;
  index: string;
  id?: string;
  meta: Record<string, unknown>;
  /** the raw source line (undefined for delete) */
  source?: string;
}

export type ParsedBulk = { ok: true; items: BulkItem[] } | { ok: false; status: number; body: Record<string, unknown> };

const OPS = new Set<BulkOp>(['create', 'delete', 'index', 'update']);
/** metadata keys the bulk parser knows; `_type` is handled by version */
const META = new Set([
  '_index', '_id', 'routing', 'op_type', 'version', 'version_type', 'if_seq_no', 'if_primary_term', 'retry_on_conflict',
  'pipeline', '_source', 'require_alias', 'require_data_stream', 'dynamic_templates', 'list_executed_pipelines',
]);
const SIMPLE = new Set(['_index', '_id', 'routing', 'pipeline', 'op_type', 'version_type']);

function bad(reason: string, type = 'illegal_argument_exception'): ParsedBulk {
  return { ok: false, status: 400, body: errorBody(400, type, reason) };
}

function tokenName(v: unknown): string {
  if (v === null) return 'VALUE_NULL';
  if (Array.isArray(v)) return 'START_ARRAY';
  switch (typeof v) {
    case 'object': return 'START_OBJECT';
    case 'string': return 'VALUE_STRING';
    case 'number': return 'VALUE_NUMBER';
    case 'boolean': return 'VALUE_BOOLEAN';
    default: return 'VALUE_EMBEDDED_OBJECT';
  }
}

export interface ParseOptions {
  /** the `{index}` of `/{index}/_bulk` */
  defaultIndex?: string;
  /** `_type` in action lines is accepted and ignored (ES 7, OpenSearch 1, REST compatibility v7) */
  acceptType: boolean;
}

export function parseBulk(text: string, opts: ParseOptions): ParsedBulk {
  if (text.length === 0) return bad('request body is required', 'parse_exception');
  if (text.charCodeAt(text.length - 1) !== 10) return bad('The bulk request must be terminated by a newline [\\n]');
  const items: BulkItem[] = [];
  const problems: string[] = [];
  let pos = 0;
  let lineNo = 0;
  const nextLine = (): string | undefined => {
    if (pos >= text.length) return undefined;
    const nl = text.indexOf('\n', pos);
    if (nl < 0) return undefined;
    const s = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    return s;
  };
  for (;;) {
    const actionText = nextLine();
    if (actionText === undefined) break;
    const line = lineNo;
    if (actionText.trim() === '') continue;
    let action: unknown;
    try {
      action = JSON.parse(actionText);
    } catch (err) {
      return bad(`[${line}:1] Malformed action/metadata line [${line}]: ${(err as Error).message}`, 'x_content_parse_exception');
    }
    if (action === null || typeof action !== 'object' || Array.isArray(action)) {
      return bad(`Malformed action/metadata line [${line}], expected START_OBJECT or END_OBJECT but found [${tokenName(action)}]`);
    }
    const keys = Object.keys(action);
    if (keys.length === 0) return bad(`Malformed action/metadata line [${line}], expected FIELD_NAME but found [END_OBJECT]`);
    const op = keys[0] as BulkOp;
    if (!OPS.has(op)) return bad(`Malformed action/metadata line [${line}], expected one of [create, delete, index, update] but found [${keys[0]}]`);
    const metaValue = (action as Record<string, unknown>)[op];
    if (metaValue === null || typeof metaValue !== 'object' || Array.isArray(metaValue)) {
      return bad(`Malformed action/metadata line [${line}], expected START_OBJECT but found [${tokenName(metaValue)}]`);
    }
    if (keys.length > 1) return bad(`Malformed action/metadata line [${line}], expected END_OBJECT but found [FIELD_NAME]`);
    const meta = metaValue as Record<string, unknown>;
    for (const [k, v] of Object.entries(meta)) {
      if (k === '_type') {
        if (!opts.acceptType) return bad(`Action/metadata line [${line}] contains an unknown parameter [_type]`);
        continue;
      }
      if (!META.has(k)) return bad(`Action/metadata line [${line}] contains an unknown parameter [${k}]`);
      if (SIMPLE.has(k) && (v === null || typeof v === 'object')) {
        return bad(`Malformed action/metadata line [${line}], expected a simple value for field [${k}] but found [${tokenName(v)}]`);
      }
    }
    const idRaw = meta._id;
    const id = idRaw === undefined ? undefined : String(idRaw);
    const indexRaw = meta._index ?? opts.defaultIndex;
    const index = indexRaw === undefined ? '' : String(indexRaw);
    const n = items.length + 1;
    if (index === '') problems.push(`${n}: index is missing`);
    if (id !== undefined) {
      if (id.length === 0) problems.push(`${n}: if _id is specified it must not be empty`);
      else if (Buffer.byteLength(id) > 512) problems.push(`${n}: id [${id}] is too long, must be no longer than 512 bytes but was: ${Buffer.byteLength(id)}`);
    } else if (op === 'update' || op === 'delete') problems.push(`${n}: id is missing`);
    let source: string | undefined;
    if (op !== 'delete') {
      source = nextLine();
      if (source === undefined) source = '';
      if (source.trim() === '') problems.push(`${n}: source is missing`);
    }
    items.push({ op, line, index, id, meta, source });
  }
  if (items.length === 0) problems.push('1: no requests added');
  if (problems.length > 0) return bad(`Validation Failed: ${problems.join(';')};`, 'action_request_validation_exception');
  return { ok: true, items };
}
