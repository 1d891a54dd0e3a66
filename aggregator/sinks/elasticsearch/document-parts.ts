/**
 * The document fields that depend only on (host, source, topic, target),
 * kept apart from document.ts so the payload workers (bulk-job.ts) load only
 * this and not the pipelines document.ts also uses.
 */
import type { StoredRecord } from '../../storage/record-decoder.js';
import type { DocumentContext } from './document.js';

/**
 * The fields after the message that depend only on (host, source, topic,
 * target): the same for every record of a stored batch, so built once per run
 * of such records. `head` ends just before log.offset's value (file records).
 */
let memo: { host: string; source: string; topic: string; target: string; version: string; kind: number; head: string; tail: string } | undefined;
export function parts(r: StoredRecord, c: DocumentContext, metric: boolean, file: boolean): { head: string; tail: string } {
  const kind = (metric ? 2 : file ? 1 : 0) + (c.target.stream ? 4 : 0);
  const m = memo;
  if (m && m.host === r.host && m.source === r.source && m.topic === c.topic && m.target === c.target.name && m.version === c.version && m.kind === kind) return m;
  const host = quoted(r.host);
  let head = `,"host":{"name":${host}}`;
  let tail = '';
  if (file) {
    head += `,"log":{"file":{"path":${quoted(r.source)}},"offset":`;
    tail = '}';
  }
  const st = c.target.stream;
  tail += `,"event":{"dataset":${JSON.stringify(st ? st.dataset : c.topic)},"kind":"${metric ? 'metric' : 'event'}"}`;
  tail += `,"agent":{"type":"logship","version":${JSON.stringify(c.version)},"id":${host}}`;
  if (st) tail += `,"data_stream":{"type":${JSON.stringify(st.type)},"dataset":${JSON.stringify(st.dataset)},"namespace":${JSON.stringify(st.namespace)}}`;
  memo = { host: r.host, source: r.source, topic: c.topic, target: c.target.name, version: c.version, kind, head, tail };
  return memo;
}

/** parts() for payload jobs (bulk-job.ts), which have the batch's host and source but no record. */
export function documentParts(host: string, source: string, c: DocumentContext, metric: boolean, file: boolean): { head: string; tail: string } {
  return parts({ host, source } as StoredRecord, c, metric, file);
}

/** Hosts and paths repeat record after record: their JSON form is kept (bounded). */
const quotedCache = new Map<string, string>();
function quoted(v: string): string {
  let q = quotedCache.get(v);
  if (q === undefined) {
    if (quotedCache.size >= 4096) quotedCache.clear();
    quotedCache.set(v, (q = JSON.stringify(v)));
  }
  return q;
}
