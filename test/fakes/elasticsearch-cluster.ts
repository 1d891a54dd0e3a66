/**
 * The fake's cluster state: composable index templates, indices, data streams and their
 * documents, and how one bulk item is indexed against them.
 *
 * Auto-creation, as Elasticsearch does it: a write to a name that is neither an index nor
 * a data stream creates it from the highest-priority template whose index_patterns match;
 * a template with `data_stream: {}` makes it a data stream (backing index
 * `.ds-<name>-<yyyy.MM.dd>-000001`), otherwise (or with no template) a plain index. ES
 * ships `logs-*-*` and `metrics-*-*` (priority 100) with data streams; OpenSearch does
 * not, so there a data stream needs a template you PUT first. Only `create` may write to
 * a data stream, every document there needs a parseable `@timestamp`, and constant_keyword
 * fields (data_stream.type/dataset/namespace in the built-in templates) must equal the
 * stream name's parts. Field types follow a small dynamic mapping (object vs value, number,
 * boolean, date detection, explicit template `properties`): a document that contradicts
 * the mapping fails its item with a mapping error, as Elasticsearch's would.
 */
import { randomBytes } from 'node:crypto';
import type { BulkItem } from './elasticsearch-bulk.js';
import type { FlavorTraits } from './elasticsearch-flavors.js';

export interface IndexTemplate {
  index_patterns: string[];
  priority?: number;
  data_stream?: Record<string, unknown>;
  template?: { mappings?: Mappings; settings?: unknown; aliases?: unknown };
  [k: string]: unknown;
}
interface Mappings { properties?: Record<string, MappingField>; date_detection?: boolean; [k: string]: unknown }
interface MappingField { type?: string; properties?: Record<string, MappingField>; value?: unknown; [k: string]: unknown }

type FieldKind = 'object' | 'long' | 'double' | 'boolean' | 'date' | 'text' | 'keyword' | 'constant_keyword' | 'other';
interface FieldNode { kind: FieldKind; value?: unknown; children?: Map<string, FieldNode> }

export interface StoredDoc { _id: string; _index: string; _version: number; _seq_no: number; source: unknown }

export interface IndexState {
  name: string;
  uuid: string;
  dataStream?: string;
  docs: Map<string, StoredDoc>;
  seqNo: number;
  /** the mapping as a tree: object fields have children */
  mapping: FieldNode;
  dateDetection: boolean;
}

export interface DataStreamState { name: string; template: string; generation: number; writeIndex: string }

export interface ItemResult { [op: string]: Record<string, unknown> }

const INVALID_CHARS = ['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(name);
}

export function indexNameProblem(name: string): string | undefined {
  if (name !== name.toLowerCase()) return `Invalid index name [${name}], must be lowercase`;
  if (INVALID_CHARS.some((c) => name.includes(c))) return `Invalid index name [${name}], must not contain the following characters [${INVALID_CHARS.join(', ')}]`;
  if (/^[_\-+]/.test(name)) return `Invalid index name [${name}], must not start with '_', '-', or '+'`;
  if (name === '.' || name === '..') return `Invalid index name [${name}], must not be '.' or '..'`;
  if (Buffer.byteLength(name) > 255) return `Invalid index name [${name}], index name is too long, (${Buffer.byteLength(name)} > 255)`;
  return undefined;
}

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/;
export function isDate(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'string') return false;
  if (/^-?\d+$/.test(v)) return true; // epoch_millis as a string
  return ISO.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T')));
}

function builtinTemplates(): Map<string, IndexTemplate> {
  const mappings: Mappings = {
    date_detection: false,
    properties: {
      '@timestamp': { type: 'date' },
      data_stream: { properties: { type: { type: 'constant_keyword' }, dataset: { type: 'constant_keyword' }, namespace: { type: 'constant_keyword' } } },
      message: { type: 'match_only_text' },
    },
  };
  const t = (p: string): IndexTemplate => ({ index_patterns: [p], priority: 100, data_stream: {}, template: { mappings }, _meta: { managed: true } });
  return new Map([['logs', t('logs-*-*')], ['metrics', t('metrics-*-*')]]);
}

function kindOfMapping(type: string | undefined): FieldKind {
  switch (type) {
    case 'long': case 'integer': case 'short': case 'byte': case 'unsigned_long': return 'long';
    case 'double': case 'float': case 'half_float': case 'scaled_float': return 'double';
    case 'boolean': return 'boolean';
    case 'date': case 'date_nanos': return 'date';
    case 'text': case 'match_only_text': case 'wildcard': return 'text';
    case 'keyword': return 'keyword';
    case 'constant_keyword': return 'constant_keyword';
    case 'object': case 'nested': case 'flattened': case undefined: return type === 'flattened' ? 'other' : 'object';
    default: return 'other';
  }
}

export class FakeCluster {
  readonly templates = new Map<string, IndexTemplate>();
  readonly builtins: Map<string, IndexTemplate>;
  readonly indices = new Map<string, IndexState>();
  readonly dataStreams = new Map<string, DataStreamState>();
  /** create/index attempts that met an _id already stored */
  duplicates = 0;
  #traits: FlavorTraits;

  constructor(traits: FlavorTraits) {
    this.#traits = traits;
    this.builtins = traits.builtinDataStreamTemplates ? builtinTemplates() : new Map();
  }

  /** PUT /_index_template/{name}: an error reason (400), or undefined when stored. */
  putTemplate(name: string, body: unknown, createOnly: boolean): { type: string; reason: string } | undefined {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return { type: 'parse_exception', reason: 'request body is required' };
    const b = body as Record<string, unknown>;
    let patterns = b.index_patterns;
    if (typeof patterns === 'string') patterns = [patterns];
    if (!Array.isArray(patterns) || patterns.length === 0 || patterns.some((p) => typeof p !== 'string')) {
      return { type: 'action_request_validation_exception', reason: 'Validation Failed: 1: index patterns are missing;' };
    }
    if (b.data_stream !== undefined && (b.data_stream === null || typeof b.data_stream !== 'object')) {
      return { type: 'x_content_parse_exception', reason: '[1:1] [index_template] failed to parse field [data_stream]' };
    }
    if (createOnly && this.templates.has(name)) return { type: 'illegal_argument_exception', reason: `index template [${name}] already exists` };
    const priority = typeof b.priority === 'number' ? b.priority : 0;
    for (const [other, t] of this.templates) {
      if (other === name || (t.priority ?? 0) !== priority) continue;
      const overlap = (patterns as string[]).some((p) => t.index_patterns.some((q) => p === q || globMatch(p, q) || globMatch(q, p)));
      if (overlap) {
        return {
          type: 'illegal_argument_exception',
          reason: `index template [${name}] has index patterns ${JSON.stringify(patterns)} matching patterns from existing templates [${other}] with patterns (${other} => ${JSON.stringify(t.index_patterns)}) that have the same priority [${priority}], multiple index templates may not match during index creation, please use a different priority`,
        };
      }
    }
    this.templates.set(name, { ...(b as IndexTemplate), index_patterns: patterns as string[] });
    return undefined;
  }

  /** The template a new index or data stream called `name` would be created from. */
  matchTemplate(name: string): { name: string; template: IndexTemplate } | undefined {
    let best: { name: string; template: IndexTemplate } | undefined;
    for (const [n, t] of [...this.templates, ...this.builtins]) {
      if (!t.index_patterns.some((p) => globMatch(p, name))) continue;
      if (!best || (t.priority ?? 0) > (best.template.priority ?? 0)) best = { name: n, template: t };
    }
    return best;
  }

  #newIndex(name: string, template: IndexTemplate | undefined, dataStream?: string): IndexState {
    const idx: IndexState = {
      name, uuid: randomBytes(16).toString('base64url').slice(0, 22), dataStream, docs: new Map(), seqNo: 0,
      mapping: { kind: 'object', children: new Map() },
      dateDetection: template?.template?.mappings?.date_detection !== false,
    };
    const walk = (props: Record<string, MappingField>, into: FieldNode) => {
      for (const [k, f] of Object.entries(props)) {
        let node = into;
        for (const part of k.split('.')) {
          let next = node.children!.get(part);
          if (!next) node.children!.set(part, (next = { kind: 'object', children: new Map() }));
          node = next;
        }
        if (f.properties) walk(f.properties, node);
        else {
          node.kind = kindOfMapping(f.type);
          node.value = f.value;
          if (node.kind !== 'object') delete node.children;
        }
      }
    };
    walk(template?.template?.mappings?.properties ?? {}, idx.mapping);
    if (dataStream) {
      const parts = dataStream.split('-');
      const ds = idx.mapping.children!.get('data_stream')?.children;
      if (parts.length === 3 && ds) {
        for (const [i, k] of ['type', 'dataset', 'namespace'].entries()) {
          const f = ds.get(k);
          if (f?.kind === 'constant_keyword' && f.value === undefined) f.value = parts[i];
        }
      }
    }
    this.indices.set(name, idx);
    return idx;
  }

  /** Creates an index or data stream as a first write would; an error [status, type, reason] or undefined. */
  create(name: string): [number, string, string] | undefined {
    const t = this.#target(name);
    return 'error' in t ? t.error : undefined;
  }

  /** Resolves (auto-creating) the write target of a bulk item. */
  #target(name: string): { index: IndexState } | { error: [number, string, string] } {
    const ds = this.dataStreams.get(name);
    if (ds) return { index: this.indices.get(ds.writeIndex)! };
    const existing = this.indices.get(name);
    if (existing) return { index: existing };
    const problem = indexNameProblem(name);
    if (problem) return { error: [400, 'invalid_index_name_exception', problem] };
    const m = this.matchTemplate(name);
    if (m?.template.data_stream) {
      if (name.startsWith('.ds-')) return { error: [400, 'illegal_argument_exception', `data_stream [${name}] must not start with '.ds-'`] };
      const d = new Date();
      const date = `${d.getUTCFullYear()}.${String(d.getUTCMonth() + 1).padStart(2, '0')}.${String(d.getUTCDate()).padStart(2, '0')}`;
      const writeIndex = `.ds-${name}-${date}-000001`;
      this.dataStreams.set(name, { name, template: m.name, generation: 1, writeIndex });
      return { index: this.#newIndex(writeIndex, m.template, name) };
    }
    return { index: this.#newIndex(name, m?.template) };
  }

  /** Checks a document against the index's mapping, extending it; a mapping error reason or undefined. */
  #map(idx: IndexState, doc: Record<string, unknown>, id: string): string | undefined {
    // fields this document added, taken out again if it fails
    const added: Array<[Map<string, FieldNode>, string]> = [];
    const add = (into: Map<string, FieldNode>, key: string, node: FieldNode) => {
      into.set(key, node);
      added.push([into, key]);
      return node;
    };
    const fail = (reason: string) => {
      for (const [m, k] of added) m.delete(k);
      return reason;
    };
    const preview = (v: unknown) => (typeof v === 'object' ? JSON.stringify(v) : String(v));
    const check = (parent: Map<string, FieldNode>, key: string, prefix: string, v: unknown): string | undefined => {
      if (v === null) return undefined;
      const f = parent.get(key);
      if (typeof v === 'object') {
        if (f && f.kind !== 'object' && f.kind !== 'other') {
          return `failed to parse field [${prefix + key}] of type [${f.kind}] in document with id '${id}'. Preview of field's value: '${preview(v)}'`;
        }
        if (f?.kind === 'other') return undefined;
        const node = f ?? add(parent, key, { kind: 'object', children: new Map() });
        return visit(v as Record<string, unknown>, node.children!, prefix + key + '.');
      }
      if (!f) {
        const kind: FieldKind = typeof v === 'number' ? (Number.isInteger(v) ? 'long' : 'double')
          : typeof v === 'boolean' ? 'boolean'
          : idx.dateDetection && isDate(v) && !/^-?\d+$/.test(v as string) ? 'date' : 'text';
        add(parent, key, { kind });
        return undefined;
      }
      return concrete(f, prefix + key, v);
    };
    const visit = (obj: Record<string, unknown>, into: Map<string, FieldNode>, prefix: string): string | undefined => {
      for (const rawKey in obj) {
        const value = obj[rawKey];
        let parent = into;
        let key = rawKey;
        let path = prefix;
        if (rawKey.indexOf('.') >= 0) {
          // dotted keys are object paths, as Elasticsearch expands them
          const parts = rawKey.split('.');
          for (let i = 0; i < parts.length - 1; i++) {
            const f = parent.get(parts[i]!);
            if (f && f.kind !== 'object') return `tried to parse field [${path + parts[i]}] as object, but found a concrete value`;
            parent = (f ?? add(parent, parts[i]!, { kind: 'object', children: new Map() })).children!;
            path += parts[i] + '.';
          }
          key = parts[parts.length - 1]!;
        }
        if (Array.isArray(value)) {
          for (const v of value) {
            const r = check(parent, key, path, v);
            if (r) return r;
          }
        } else {
          const r = check(parent, key, path, value);
          if (r) return r;
        }
      }
      return undefined;
    };
    const concrete = (f: { kind: FieldKind; value?: unknown }, path: string, v: unknown): string | undefined => {
      const err = (cause: string) => `failed to parse field [${path}] of type [${f.kind}] in document with id '${id}'. Preview of field's value: '${preview(v)}' (${cause})`;
      switch (f.kind) {
        case 'object':
          return `tried to parse field [${path}] as object, but found a concrete value`;
        case 'long':
        case 'double':
          if (typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)))) return undefined;
          return err(`For input string: "${preview(v)}"`);
        case 'boolean':
          if (typeof v === 'boolean' || v === 'true' || v === 'false' || v === '') return undefined;
          return err(`Failed to parse value [${preview(v)}] as only [true] or [false] are allowed.`);
        case 'date':
          if (isDate(v)) return undefined;
          return err(`failed to parse date field [${preview(v)}] with format [strict_date_optional_time||epoch_millis]`);
        case 'constant_keyword':
          if (f.value === undefined) f.value = String(v);
          else if (String(v) !== String(f.value)) {
            return `[constant_keyword] field [${path}] only accepts values that are equal to the value defined in the mappings [${String(f.value)}], but got [${String(v)}]`;
          }
          return undefined;
        default:
          return undefined;
      }
    };
    const r = visit(doc, idx.mapping.children!, '');
    return r === undefined ? undefined : fail(r);
  }

  /** Indexes one bulk item; returns its response entry (keyed by the op) and whether it failed. */
  execute(item: BulkItem, conflict: ((doc: Record<string, unknown>, item: BulkItem) => boolean) | undefined, conflictField: string, retain: (doc: Record<string, unknown>, raw: string) => unknown): ItemResult {
    const traits = this.#traits;
    const head = (index: string, id: string): Record<string, unknown> => (traits.itemType ? { _index: index, _type: '_doc', _id: id } : { _index: index, _id: id });
    const failure = (index: string, id: string, status: number, type: string, reason: string, extra: Record<string, unknown> = {}, idx?: IndexState) => ({
      [item.op]: {
        ...head(index, id), status,
        error: { type, reason, ...(idx ? { index_uuid: idx.uuid, shard: '0', index: idx.name } : {}), ...extra },
      },
    });
    const t = this.#target(item.index);
    const id = item.id ?? randomBytes(15).toString('base64url');
    if ('error' in t) return failure(item.index, id, t.error[0], t.error[1], t.error[2], { index: item.index });
    const idx = t.index;
    if (idx.dataStream && item.op !== 'create') {
      return failure(idx.name, id, 400, 'illegal_argument_exception',
        item.op === 'index' ? 'only write ops with an op_type of create are allowed in data streams' : `${item.op} by id is not allowed for data streams, use the backing index [${idx.name}] instead`);
    }
    if (item.op === 'delete') {
      const had = idx.docs.get(id);
      if (had) idx.docs.delete(id);
      return { delete: { ...head(idx.name, id), _version: (had?._version ?? 0) + 1, result: had ? 'deleted' : 'not_found', _shards: { total: 2, successful: 1, failed: 0 }, _seq_no: idx.seqNo++, _primary_term: 1, status: had ? 200 : 404 } };
    }
    let doc: unknown;
    try {
      doc = JSON.parse(item.source!);
    } catch (err) {
      return failure(idx.name, id, 400, traits.parseErrorType, `[1:1] failed to parse: ${(err as Error).message}`, { caused_by: { type: 'x_content_parse_exception', reason: (err as Error).message } }, idx);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      return failure(idx.name, id, 400, traits.parseErrorType, '[1:1] failed to parse: root value is not an object', { caused_by: { type: 'not_x_content_exception', reason: 'Compressor detection can only be called on some xcontent bytes or compressed xcontent bytes' } }, idx);
    }
    let body = doc as Record<string, unknown>;
    if (item.op === 'update') {
      const existing = idx.docs.get(id);
      const partial = body.doc as Record<string, unknown> | undefined;
      if (!existing) {
        const upsert = (body.doc_as_upsert === true ? partial : body.upsert) as Record<string, unknown> | undefined;
        if (!upsert) return failure(idx.name, id, 404, 'document_missing_exception', `[${id}]: document missing`, {}, idx);
        body = upsert;
      } else body = { ...(typeof existing.source === 'string' ? (JSON.parse(existing.source) as Record<string, unknown>) : {}), ...(partial ?? {}) };
    }
    if (conflict?.(body, item)) {
      const v = String(conflictField.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], body));
      return failure(idx.name, id, 400, traits.parseErrorType,
        `[1:2] failed to parse field [${conflictField}] of type [long] in document with id '${id}'. Preview of field's value: '${v}'`,
        { caused_by: { type: 'illegal_argument_exception', reason: `For input string: "${v}"` } }, idx);
    }
    if (idx.dataStream) {
      const ts = body['@timestamp'];
      if (ts === undefined || ts === null) {
        return failure(idx.name, id, 400, traits.parseErrorType, '[1:2] failed to parse: data stream timestamp field [@timestamp] is missing',
          { caused_by: { type: 'illegal_argument_exception', reason: 'data stream timestamp field [@timestamp] is missing' } }, idx);
      }
    }
    const existing = idx.docs.get(id);
    if (existing && item.op === 'create') {
      this.duplicates++;
      return failure(idx.name, id, 409, 'version_conflict_engine_exception', `[${id}]: version conflict, document already exists (current version [${existing._version}])`, {}, idx);
    }
    const mapping = this.#map(idx, body, id);
    if (mapping) return failure(idx.name, id, 400, traits.parseErrorType, `[1:2] ${mapping}`, {}, idx);
    if (existing) this.duplicates++;
    const version = (existing?._version ?? 0) + 1;
    const seq = idx.seqNo++;
    idx.docs.set(id, { _id: id, _index: idx.name, _version: version, _seq_no: seq, source: retain(body, item.source!) });
    const entry: Record<string, unknown> = traits.itemType
      ? { _index: idx.name, _type: '_doc', _id: id, _version: version, result: existing ? 'updated' : 'created' }
      : { _index: idx.name, _id: id, _version: version, result: existing ? 'updated' : 'created' };
    entry._shards = { total: 2, successful: 1, failed: 0 };
    entry._seq_no = seq;
    entry._primary_term = 1;
    entry.status = existing ? 200 : 201;
    return { [item.op]: entry };
  }

  /** The concrete indices behind a name: the data stream's backing indices, or the index itself. */
  resolve(name: string): IndexState[] {
    const ds = this.dataStreams.get(name);
    if (ds) return [...this.indices.values()].filter((i) => i.dataStream === name);
    const i = this.indices.get(name);
    return i ? [i] : [];
  }
}
