/**
 * Payload job "es-sink-bulk": stored batches -> `_bulk` request bodies, on the
 * payload workers (lib/protocol/payload-pool.ts), so the event loop only
 * sends them. Per record it writes the two NDJSON lines documentJson and
 * actionLine (document.ts, bulk.ts) would, byte for byte, straight from the
 * inflated batch: no record object, no string per line. A message that is
 * ASCII without control characters is written with its `"` and `\` escaped
 * in one pass over its bytes; any other goes through the string path (utf8 decoding replaces bad bytes, JSON.stringify
 * escapes), so documents and `_id`s are exactly those of the record path.
 * The `_id` key (document.ts) is hashed from a reused buffer, one call per
 * document. Bodies are cut into requests (batch_max_docs / batch_max_bytes)
 * here and gzipped here too when the sink gzips.
 *
 * Topics with a pipeline that has a byte plan (aggregator/pipelines/bytes.ts:
 * the access presets and fast-plan steps after them) come here too: each
 * line's document is written from its bytes by the plan, the document of a
 * line the plan does not take by the pipeline's string or object path
 * (parsedDocument, as the record path does), so the bodies are byte for
 * byte the record path's. Dropped records and records routed to other sinks
 * are left out (and covered: the cursor moves past them). Step failures are
 * counted by the worker's copy of the pipeline and returned (`failures`) for
 * the sink to add to the pipeline's own counts; the raw messages come back
 * too (`messages`), for dead-lettering a parsed document.
 *
 * Structured (JSON) and host-metric batches, and topics whose pipeline has no
 * byte plan, take the record path (index.ts).
 */
import { hash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { registerJob } from '../../../lib/protocol/payload-jobs.js';
import type { StoredInput } from '../../../lib/protocol/payload-jobs.js';
import { inflateChecked } from '../../../lib/protocol/payload.js';
import { FLAG_FRAMED } from '../../../lib/protocol/codes.js';
import { documentParts } from './document-parts.js';
import { parsedDocument, sinkFields, sinkValues, type DocumentContext } from './document.js';
import { Pipeline } from '../../pipelines/pipeline.js';
import { BYTES_DROPPED, BYTES_OK, ByteBuffer, type BytePlan } from '../../pipelines/bytes.js';
import type { StepConfig } from '../../pipelines/types.js';
import type { StoredRecord } from '../../storage/record-decoder.js';

export const ES_BULK_OP = 'es-sink-bulk';

export interface EsBulkBatchInfo {
  host: string;
  source: string;
  /** the batch time, ISO 8601 (every record's @timestamp) */
  iso: string;
  /** the target (index or data stream) name for this batch */
  target: string;
  stream?: { type: string; dataset: string; namespace: string };
}

export interface EsBulkJob {
  op: typeof ES_BULK_OP;
  batches: StoredInput[];
  info: EsBulkBatchInfo[];
  topic: string;
  partition: number;
  version: string;
  from: number;
  maxBytes: number;
  maxRaw: number;
  maxDocs: number;
  maxBodyBytes: number;
  gzip: boolean;
  /** the topic's pipeline (its steps; it must have a byte plan) and this sink's name (for route steps) */
  pipeline?: { name: string; steps: StepConfig[]; sink: string };
}

/** Per document in `meta`: offset, source offset, record flags, end of its lines in `body`, batch index. */
export const META_FIELDS = 5;
/** Per request in `chunks`: first document, end document, start and end of its body in `wire`. */
export const CHUNK_FIELDS = 4;

export interface EsBulkResult {
  /** every document's two NDJSON lines, back to back, in its first bodyLength bytes */
  body: Uint8Array;
  bodyLength: number;
  meta: Float64Array;
  chunks: Float64Array;
  /** the request bodies as sent (gzipped when job.gzip; else empty and the body ranges are used) */
  wire: Uint8Array;
  skipped: Array<{ baseOffset: number; lines: number; reason: string }>;
  next: number;
  count: number;
  /** pipeline jobs: each document's raw message back to back, and where each ends */
  messages?: Uint8Array;
  messageEnds?: Float64Array;
  /** pipeline jobs: step failures while parsing, [step label, count] */
  failures?: Array<[string, number]>;
}

/** The workers' copies of pipelines, by their steps' JSON; failures counted into `jobFailures` of the job running. */
const pipelines = new Map<string, Pipeline>();
let jobFailures = new Map<string, number>();
function workerPipeline(name: string, steps: StepConfig[]): Pipeline {
  const key = `${name}\0${JSON.stringify(steps)}`;
  let p = pipelines.get(key);
  if (!p) {
    if (pipelines.size >= 32) pipelines.clear();
    p = new Pipeline(name, { topics: [], steps }, (_pl, step) => jobFailures.set(step, (jobFailures.get(step) ?? 0) + 1));
    pipelines.set(key, p);
  }
  return p;
}

const asBuf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** A growable output buffer (at least 64 KiB: never from Node's small-buffer pool) with string writes. */
class Out extends ByteBuffer {
  constructor(size: number) {
    super(Math.max(1 << 16, size));
  }
  latin1(s: string): void {
    this.need(s.length);
    this.p += this.buf.write(s, this.p, 'latin1');
  }
  utf8(s: string): void {
    this.need(s.length * 3);
    this.p += this.buf.write(s, this.p, 'utf8');
  }
}

/**
 * Writes src[s, e) as a JSON string at out.p when it is ASCII without control
 * characters (`"` and `\` escaped as JSON.stringify does); false (nothing
 * written) for anything else, which takes the string path.
 */
function asciiJson(src: Buffer, s: number, e: number, out: Out): boolean {
  out.need(2 * (e - s) + 2);
  const buf = out.buf;
  let p = out.p;
  buf[p++] = 0x22;
  for (let i = s; i < e; i++) {
    const c = src[i]!;
    if (c < 0x20 || c >= 0x80) return false;
    if (c === 0x22 || c === 0x5c) buf[p++] = 0x5c;
    buf[p++] = c;
  }
  buf[p++] = 0x22;
  out.p = p;
  return true;
}

/** Copies src[s, e) to dst at p while it is ASCII: the end, or -1 at the first byte that is not. */
function asciiCopy(src: Buffer, s: number, e: number, dst: Buffer, p: number): number {
  for (let i = s; i < e; i++) {
    const c = src[i]!;
    if (c >= 0x80) return -1;
    dst[p++] = c;
  }
  return p;
}

/** True when the bytes are ASCII (then they are the UTF-8 of the decoded string, as the _id key needs). */
function isAscii(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return false;
  return true;
}

let keyBuf = Buffer.allocUnsafe(1 << 12);

/** Writes a non-negative integer's decimal digits at p; returns the end. */
function writeUint(buf: Buffer, p: number, n: number): number {
  let len = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
  for (let i = p + len - 1; i >= p; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return p + len;
}

const B64URL = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 'latin1');
/** The first 15 bytes of a digest as 20 base64url characters (what document.ts's documentId keeps). */
function base64url15(d: Buffer, buf: Buffer, p: number): number {
  for (let i = 0; i < 15; i += 3) {
    const v = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!;
    buf[p++] = B64URL[v >> 18]!;
    buf[p++] = B64URL[(v >> 12) & 63]!;
    buf[p++] = B64URL[(v >> 6) & 63]!;
    buf[p++] = B64URL[v & 63]!;
  }
  return p;
}

export function runEsBulk(job: EsBulkJob): EsBulkResult {
  // sized for what the read covers (messages up to maxBytes plus about 400 bytes of fields per document), so it rarely grows
  let raws = 0;
  let lines = 0;
  for (const b of job.batches) {
    raws += b.rawLength;
    lines += b.lines;
  }
  const share = Math.min(1, (job.maxBytes * 1.1) / Math.max(1, raws + lines * 64));
  const out = new Out(Math.min(256 << 20, Math.ceil(share * (raws * 1.1 + lines * 400))));
  const meta: number[] = [];
  const skipped: EsBulkResult['skipped'] = [];
  let bytes = 0;
  let count = 0;
  let next = job.from;
  const tpoPrefix = `tpo\0${job.topic}\0${job.partition}\0`;
  const pl = job.pipeline ? workerPipeline(job.pipeline.name, job.pipeline.steps) : undefined;
  const sinkName = job.pipeline?.sink ?? '';
  jobFailures = new Map();
  const msgs = pl ? new Out(Math.min(64 << 20, raws + 1024)) : undefined;
  const msgEnds: number[] = [];
  outer: for (let bi = 0; bi < job.batches.length; bi++) {
    const b = job.batches[bi]!;
    const end = b.baseOffset + b.lines;
    if (end <= next) continue;
    const raw = inflateChecked(asBuf(b.payload), b, job.maxRaw);
    if (typeof raw === 'string') {
      skipped.push({ baseOffset: b.baseOffset, lines: b.lines, reason: raw });
      next = end;
      continue;
    }
    const inf = job.info[bi]!;
    const file = inf.source.charCodeAt(0) === 47; /* '/' */
    const parts = documentParts(inf.host, inf.source, { topic: job.topic, target: { name: inf.target, stream: inf.stream }, version: job.version }, false, file);
    // per batch: the action line up to the id, the document up to the message, the fields after it
    const actionHead = Buffer.from(`{"create":{"_index":${JSON.stringify(inf.target)},"_id":"`, 'utf8');
    const docHead = Buffer.from(`"}}\n{"@timestamp":"${inf.iso}","message":`, 'utf8');
    const head = Buffer.from(parts.head, 'utf8');
    const tail = Buffer.from(`${parts.tail}}\n`, 'utf8');
    const keyPrefix = Buffer.from(`${inf.host}\0${inf.source}\0`, 'utf8');
    // pipeline topics: the document context of this batch and its byte plan
    const dc: DocumentContext = { topic: job.topic, target: { name: inf.target, ...(inf.stream ? { stream: inf.stream } : {}) }, version: job.version };
    let plan: BytePlan | undefined;
    if (pl) {
      plan = pl.bytePlan(sinkFields(dc));
      plan?.context(inf.host, inf.source, inf.iso, sinkValues(dc, inf.host));
    }
    const actionEnd = Buffer.from('"}}\n', 'latin1');
    if (file && keyBuf.length < keyPrefix.length + 32) keyBuf = Buffer.allocUnsafe(keyPrefix.length * 2 + 64);
    if (file) keyPrefix.copy(keyBuf, 0);
    /** One document from the message bytes src[s, e) of record o. */
    const emit = (src: Buffer, s: number, e: number, srcOff: number, flags: number, o: number): void => {
      let ascii: boolean;
      let text: string | undefined;
      let digest: Buffer;
      if (file) {
        const need = keyPrefix.length + 24 + (e - s);
        if (keyBuf.length < need) {
          keyBuf = Buffer.allocUnsafe(need * 2);
          keyPrefix.copy(keyBuf, 0);
        }
        // the key: host \0 source \0 source offset \0 message; the message's bytes copied while checking they are ASCII
        const k = writeUint(keyBuf, keyPrefix.length, srcOff);
        keyBuf[k] = 0;
        const p = asciiCopy(src, s, e, keyBuf, k + 1);
        ascii = p >= 0;
        if (ascii) digest = hash('sha1', keyBuf.subarray(0, p), 'buffer');
        else digest = hash('sha1', `${inf.host}\0${inf.source}\0${srcOff}\0${(text = src.toString('utf8', s, e))}`, 'buffer');
      } else {
        ascii = isAscii(src, s, e);
        digest = hash('sha1', `${tpoPrefix}${o}`, 'buffer');
      }
      if (pl) {
        bytes += e - s + 64;
        next = o + 1;
        if (emitParsed(src, s, e, srcOff, flags, o, digest, text)) {
          meta.push(o, srcOff, flags, out.p, bi);
          msgs!.need(e - s);
          msgs!.p += src.copy(msgs!.buf, msgs!.p, s, e);
          msgEnds.push(msgs!.p);
          count++;
        }
        return;
      }
      out.need(actionHead.length + 20 + docHead.length);
      const buf = out.buf;
      let p = out.p;
      buf.set(actionHead, p);
      p = base64url15(digest, buf, p + actionHead.length);
      buf.set(docHead, p);
      out.p = p + docHead.length;
      if (!ascii || !asciiJson(src, s, e, out)) out.utf8(JSON.stringify(text ?? src.toString('utf8', s, e)));
      p = out.p;
      out.need(head.length + 20 + tail.length);
      out.buf.set(head, p);
      p += head.length;
      if (file) p = writeUint(out.buf, p, srcOff);
      out.buf.set(tail, p);
      out.p = p + tail.length;
      meta.push(o, srcOff, flags, out.p, bi);
      count++;
      bytes += e - s + 64;
      next = o + 1;
    };
    /**
     * A pipeline topic's record: the action line, then its parsed document
     * (byte plan, else parsedDocument of the decoded record). False (nothing
     * written) when a step dropped it or routed it to other sinks.
     */
    const emitParsed = (src: Buffer, s: number, e: number, srcOff: number, flags: number, o: number, digest: Buffer, text: string | undefined): boolean => {
      const start = out.p;
      out.need(actionHead.length + 20 + actionEnd.length);
      out.buf.set(actionHead, out.p);
      out.p = base64url15(digest, out.buf, out.p + actionHead.length);
      out.buf.set(actionEnd, out.p);
      out.p += actionEnd.length;
      const r = plan ? plan.write(src, s, e, srcOff, out) : -1;
      let routes: string[] | undefined;
      if (r === BYTES_OK || r === BYTES_DROPPED) {
        routes = plan!.routes;
        if (r === BYTES_DROPPED) {
          out.p = start;
          return false;
        }
      } else {
        const rec: StoredRecord = { offset: o, timestamp: inf.iso, host: inf.host, source: inf.source, source_offset: srcOff, message: text ?? src.toString('utf8', s, e) };
        if (flags) rec.flags = flags;
        const d = parsedDocument(pl!, rec, dc);
        if (d.dropped) {
          out.p = start;
          return false;
        }
        routes = d.routes;
        out.utf8(d.json);
      }
      if (routes !== undefined && !routes.includes(sinkName)) {
        out.p = start;
        return false;
      }
      out.need(1);
      out.buf[out.p++] = 10;
      return true;
    };
    let o = b.baseOffset;
    let srcOff = b.sourceOffset;
    if (b.flags & FLAG_FRAMED) {
      // length u32, source bytes u32, flags u8, the message (lib/protocol/records.ts)
      for (let p = 0; p + 9 <= raw.length; o++) {
        const len = raw.readUInt32BE(p);
        const srcBytes = raw.readUInt32BE(p + 4);
        if (o >= next) {
          if (count > 0 && bytes >= job.maxBytes) break outer;
          emit(raw, p + 9, p + 9 + len, srcOff, raw[p + 8]!, o);
        }
        srcOff += srcBytes;
        p += 9 + len;
      }
    } else {
      for (let start = 0; start < raw.length; o++) {
        let nl = raw.indexOf(10, start);
        if (nl < 0) nl = raw.length;
        if (o >= next) {
          if (count > 0 && bytes >= job.maxBytes) break outer;
          emit(raw, start, nl, srcOff, 0, o);
        }
        srcOff += nl + 1 - start;
        start = nl + 1;
      }
    }
    next = Math.max(next, end);
    if (bytes >= job.maxBytes) break;
  }
  // the buffer itself is moved back (it owns its ArrayBuffer): no copy; its first bodyLength bytes count
  const body = out.buf;
  const bodyLength = out.p;
  // requests: at most maxDocs documents and about maxBodyBytes (a bigger single document goes alone)
  const chunks: number[] = [];
  const gz: Buffer[] = [];
  let wireLen = 0;
  let first = 0;
  let start = 0;
  const cut = (endDoc: number, endByte: number) => {
    let a = start;
    let z = endByte;
    if (job.gzip) {
      const g = gzipSync(body.subarray(start, endByte), { level: 1 });
      gz.push(g);
      a = wireLen;
      z = wireLen += g.length;
    }
    chunks.push(first, endDoc, a, z);
    first = endDoc;
    start = endByte;
  };
  for (let d = 0; d < count; d++) {
    const docEnd = meta[d * META_FIELDS + 3]!;
    if (d > first && (d - first >= job.maxDocs || docEnd - start > job.maxBodyBytes)) cut(d, meta[(d - 1) * META_FIELDS + 3]!);
  }
  if (count > first) cut(count, bodyLength);
  const wire = Buffer.allocUnsafeSlow(wireLen);
  let p = 0;
  for (const g of gz) p += g.copy(wire, p);
  const result: EsBulkResult = { body, bodyLength, meta: Float64Array.from(meta), chunks: Float64Array.from(chunks), wire, skipped, next, count };
  if (msgs) {
    result.messages = msgs.buf;
    result.messageEnds = Float64Array.from(msgEnds);
    result.failures = [...jobFailures];
  }
  return result;
}

registerJob<EsBulkJob>(ES_BULK_OP, runEsBulk);
