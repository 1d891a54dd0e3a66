/**
 * Record -> Elasticsearch document (ECS), `_id` and target name. Kept apart
 * from the sending so a parsing pipeline can add fields to the document later
 * (buildDocument takes extra fields).
 *
 * Document shape (JSON, nested objects as Beats send them):
 *   @timestamp     the record's timestamp (its own time when the record carries
 *                  one, else the time the agent read it), UTC, milliseconds
 *   message        the line (absent on host-metric documents)
 *   host.name      the agent id that shipped it
 *   log.file.path  the source (file records only: sources that are absolute paths)
 *   log.offset     byte offset of the line's first byte in that file
 *   event.dataset  the topic (the data stream's dataset when writing to one)
 *   event.kind     "event", or "metric" for host-metric records
 *   agent.type "logship", agent.version (this aggregator's version), agent.id (the agent id)
 *   data_stream.type/dataset/namespace  when the target is a data stream
 *   metrics.<name>                   host-metric samples without labels: the value
 *   metrics.<name>.<k=v,k=v>         samples with labels (label pairs sorted, `.` as `_`)
 *   labels.*, other fields           fields a structured (JSON) record carried, beside them
 *
 * `_id` (20 characters, base64url of the first 15 bytes of a SHA-1):
 *   file records:  host \0 source \0 source_offset \0 message
 *     (the message is part of the identity because a path is reused: after a
 *     rotation by rename+create the new file starts again at offset 0)
 *   other records: "tpo" \0 topic \0 partition \0 offset
 * Either way a record delivered twice (a crash before the cursor commit)
 * gets the same id, and `create` answers 409 for the second copy.
 */
import { hash } from 'node:crypto';
import type { StoredRecord } from '../../storage/record-decoder.js';
import { ExtraFields, type Pipeline } from '../../pipelines/index.js';
import { parts } from './document-parts.js';

/** Fields the record decoder owns; anything else on a record came from a structured (JSON) line. */
const OWNED = new Set(['offset', 'timestamp', 'host', 'source', 'source_offset', 'message', 'metrics', 'flags']);

export interface Target {
  /** the data stream or index name for this record */
  name: string;
  /** set when the target is a data stream whose name splits into type-dataset-namespace */
  stream?: { type: string; dataset: string; namespace: string };
}

/** Resolves `{topic}` and date patterns; data stream parts are computed once per topic. */
export class TargetNamer {
  #pattern: string;
  #dataStream: boolean;
  #dated: boolean;
  #perTopic = new Map<string, Target>();

  constructor(pattern: string, dataStream: boolean) {
    this.#pattern = pattern;
    this.#dataStream = dataStream;
    this.#dated = !dataStream && /\{(?!topic\})[^}]*\}/.test(pattern);
  }

  get dataStream(): boolean {
    return this.#dataStream;
  }

  /** The pattern with `{topic}` and dates as `*`: what an index template matches. */
  wildcard(): string {
    return this.#pattern.replace(/\{[^}]*\}/g, '*');
  }

  target(topic: string, timestamp: string): Target {
    let t = this.#perTopic.get(topic);
    if (!t) {
      const name = this.#pattern.replaceAll('{topic}', this.#dataStream ? topicForStream(topic) : topic.toLowerCase());
      t = { name };
      if (this.#dataStream) {
        const parts = name.split('-');
        if (parts.length === 3) t.stream = { type: parts[0]!, dataset: parts[1]!, namespace: parts[2]! };
      }
      this.#perTopic.set(topic, t);
    }
    if (!this.#dated) return t;
    return { name: formatDate(t.name, timestamp) };
  }
}

/** Data stream datasets are lower case and may not contain `-`. */
export function topicForStream(topic: string): string {
  return topic.toLowerCase().replaceAll('-', '_');
}

/** `{yyyy.MM.dd}`-style patterns from an ISO timestamp (UTC): yyyy, MM, dd, HH, mm. */
export function formatDate(pattern: string, iso: string): string {
  return pattern.replace(/\{([^}]*)\}/g, (_m, f: string) =>
    f
      .replace('yyyy', iso.slice(0, 4))
      .replace('MM', iso.slice(5, 7))
      .replace('dd', iso.slice(8, 10))
      .replace('HH', iso.slice(11, 13))
      .replace('mm', iso.slice(14, 16)),
  );
}

/** Whether a record came from a file (its source is an absolute path): it gets log.file.path, log.offset and a source-based id. */
export function isFileRecord(r: StoredRecord): boolean {
  return r.metrics === undefined && r.source.charCodeAt(0) === 47; /* '/' */
}

export function documentId(topic: string, partition: number, r: StoredRecord): string {
  const key = isFileRecord(r) ? `${r.host}\0${r.source}\0${r.source_offset}\0${r.message}` : `tpo\0${topic}\0${partition}\0${r.offset}`;
  return hash('sha1', key, 'base64url').slice(0, 20);
}

export interface DocumentContext {
  topic: string;
  target: Target;
  /** this aggregator's version (agent.version) */
  version: string;
}

/**
 * The document as a JSON string (one NDJSON line without its newline).
 * Built as a string: no intermediate object per record on the hot path,
 * except for the rare record with extra fields or metrics.
 */
export function documentJson(r: StoredRecord, c: DocumentContext, extra?: Record<string, unknown>): string {
  const metric = r.metrics !== undefined;
  const file = !metric && r.source.charCodeAt(0) === 47;
  const p = parts(r, c, metric, file);
  let s = `{"@timestamp":"${r.timestamp}"`;
  if (!metric) s += `,"message":${JSON.stringify(r.message)}`;
  s += file ? `${p.head}${r.source_offset}${p.tail}` : p.head + p.tail;
  if (metric) s += `,"metrics":${JSON.stringify(metricsObject(r.metrics!))}`;
  const more = extraFields(r, extra);
  if (more) s += `,${JSON.stringify(more).slice(1, -1)}`;
  return `${s}}`;
}

/** Fields of a structured record (and a pipeline's) that the document does not already have. */
function extraFields(r: StoredRecord, extra: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const k in r) {
    if (OWNED.has(k) || !Object.hasOwn(r, k)) continue;
    out ??= Object.create(null) as Record<string, unknown>;
    out[k] = (r as unknown as Record<string, unknown>)[k];
  }
  if (extra) {
    out ??= Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(extra)) out[k] = extra[k];
  }
  if (!out) return undefined;
  // The document's own keys win: a JSON line cannot overwrite @timestamp or host.
  for (const k of ['@timestamp', 'message', 'host', 'log', 'event', 'agent', 'data_stream', 'metrics']) delete out[k];
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The document when a pipeline (aggregator/pipelines/) parsed the record: its
 * fields (its @timestamp when it found the line's own time, message,
 * host.name, log.file.path and log.offset already there) plus the fields this
 * sink owns: event.dataset and event.kind, agent.*, data_stream.*.
 */
export function pipelineDocumentJson(doc: Record<string, unknown>, r: StoredRecord, c: DocumentContext): string {
  // (the object path; parsedDocument below writes the same document without objects when it can)
  const st = c.target.stream;
  const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  doc.event = { ...obj(doc.event), dataset: st ? st.dataset : c.topic, kind: r.metrics !== undefined ? 'metric' : 'event' };
  doc.agent = { ...obj(doc.agent), type: 'logship', version: c.version, id: r.host };
  if (st) doc.data_stream = { type: st.type, dataset: st.dataset, namespace: st.namespace };
  if (r.metrics !== undefined) doc.metrics = metricsObject(r.metrics);
  return JSON.stringify(doc);
}

/** The fields pipelineDocumentJson adds, for the pipeline's fast writer (data_stream belongs to this sink alone). */
const SINK_FIELDS = new ExtraFields(['event.dataset', 'event.kind', 'agent.type', 'agent.version', 'agent.id'], ['data_stream']);
const SINK_FIELDS_STREAM = new ExtraFields([...SINK_FIELDS.paths, 'data_stream.type', 'data_stream.dataset', 'data_stream.namespace'], ['data_stream']);

/** The fields this sink adds to a parsed document (for Pipeline.runJson and Pipeline.bytePlan)... */
export function sinkFields(c: DocumentContext): ExtraFields {
  return c.target.stream ? SINK_FIELDS_STREAM : SINK_FIELDS;
}

/** ...and their values for a record of agent `host`. */
export function sinkValues(c: DocumentContext, host: string): string[] {
  const st = c.target.stream;
  return st ? [st.dataset, 'event', 'logship', c.version, host, st.type, st.dataset, st.namespace] : [c.topic, 'event', 'logship', c.version, host];
}

export interface ParsedDocument {
  /** the document's JSON text ('' when dropped) */
  json: string;
  /** a drop or sample step left the record out */
  dropped: boolean;
  /** sinks that route steps named; undefined: every sink */
  routes: string[] | undefined;
}

/**
 * The record through `pipeline` into this sink's document: the JSON of
 * pipelineDocumentJson, written by the pipeline's fast writer
 * (aggregator/pipelines/writer.ts) when it has a plan for the pipeline and
 * the record, else by pipelineDocumentJson from the parsed object.
 */
export function parsedDocument(pipeline: Pipeline, r: StoredRecord, c: DocumentContext): ParsedDocument {
  const p = pipeline.runJson(r, sinkFields(c), sinkValues(c, r.host));
  if (p.dropped) return { json: '', dropped: true, routes: p.routes };
  return { json: p.json ?? pipelineDocumentJson(p.doc!, r, c), dropped: false, routes: p.routes };
}

/** node_exporter samples -> { name: value } or { name: { "k=v,k=v": value } }. */
export function metricsObject(samples: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const s of samples) {
    if (s === null || typeof s !== 'object') continue;
    const { name, labels, value } = s as { name?: unknown; labels?: unknown; value?: unknown };
    if (typeof name !== 'string' || typeof value !== 'number' || !Number.isFinite(value)) continue;
    const key = fieldSafe(name);
    const pairs = labels && typeof labels === 'object' ? Object.entries(labels as Record<string, unknown>).filter(([, v]) => typeof v === 'string') : [];
    if (pairs.length === 0) {
      if (typeof out[key] !== 'object') out[key] = value;
      continue;
    }
    pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const sub = fieldSafe(pairs.map(([k, v]) => `${k}=${v as string}`).join(','));
    let o = out[key];
    if (o === undefined || typeof o !== 'object') out[key] = o = Object.create(null) as Record<string, unknown>;
    (o as Record<string, unknown>)[sub] = value;
  }
  return out;
}

/** Field names: `.` would make an object path in Elasticsearch; empty names are refused by it. */
function fieldSafe(s: string): string {
  const r = s.replaceAll('.', '_');
  return r === '' ? '_' : r;
}
