/**
 * The jobs payload workers run (payload-worker.ts), also callable in-process
 * for tests: checking a request's batches (ingest) and decoding stored
 * batches into records from an offset, about maxBytes of them (readers).
 * Inputs and outputs are plain data (buffers, typed arrays) so they cross
 * threads by transfer.
 */
import { iterateRecords } from './records.js';
import { inflateChecked, payloadProblem, type PayloadHeader } from './payload.js';

export interface CheckJob {
  op: 'check';
  batches: Array<PayloadHeader & { payload: Uint8Array }>;
  maxRaw: number;
}
/** The first batch that disagrees with its header, or index -1. */
export interface CheckResult {
  index: number;
  reason?: string;
}

export interface StoredInput extends PayloadHeader {
  payload: Uint8Array;
  baseOffset: number;
  sourceOffset: number;
}
export interface RecordsJob {
  op: 'records';
  batches: StoredInput[];
  /** first offset wanted; records before it are skipped */
  from: number;
  /** stop once this many bytes of messages (plus 64 per record) are collected */
  maxBytes: number;
  maxRaw: number;
}
export interface RecordsResult {
  /** message bytes of every returned record, back to back */
  data: Uint8Array;
  /** per record: offset, source offset, message length, record flags */
  meta: Float64Array;
  /** batches whose payload disagrees with its header: skipped by readers */
  skipped: Array<{ baseOffset: number; lines: number; reason: string }>;
  /** the offset after the last record or skipped batch covered */
  next: number;
}

/**
 * Other job kinds live in their own modules and register here (registerJob)
 * when imported; payload-worker.ts imports them so workers know them too.
 * Their results cross back by transfer: typed arrays that own their whole
 * ArrayBuffer (allocUnsafeSlow, Float64Array.from) are moved, not copied.
 */
export interface ExtraJob {
  op: string;
  batches: Array<{ payload: Uint8Array }>;
}
const extraJobs = new Map<string, (job: ExtraJob) => object>();

export function registerJob<J extends ExtraJob>(op: string, run: (job: J) => object): void {
  // two modules with one name would silently run each other's jobs
  if (op === 'check' || op === 'records' || (extraJobs.has(op) && extraJobs.get(op) !== run)) throw new Error(`payload job "${op}" is registered twice`);
  extraJobs.set(op, run as (job: ExtraJob) => object);
}

export type Job = CheckJob | RecordsJob | ExtraJob;

const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export function runCheck(job: CheckJob): CheckResult {
  for (let i = 0; i < job.batches.length; i++) {
    const b = job.batches[i]!;
    const reason = payloadProblem(buf(b.payload), b, job.maxRaw);
    if (reason) return { index: i, reason };
  }
  return { index: -1 };
}

export function runRecords(job: RecordsJob): RecordsResult {
  const parts: Buffer[] = [];
  const meta: number[] = [];
  const skipped: RecordsResult['skipped'] = [];
  let bytes = 0;
  let size = 0;
  let next = job.from;
  outer: for (const b of job.batches) {
    const end = b.baseOffset + b.lines;
    if (end <= next) continue;
    const raw = inflateChecked(buf(b.payload), b, job.maxRaw);
    if (typeof raw === 'string') {
      skipped.push({ baseOffset: b.baseOffset, lines: b.lines, reason: raw });
      next = end;
      continue;
    }
    let o = b.baseOffset;
    for (const r of iterateRecords(raw, b.flags, b.sourceOffset)) {
      if (o >= next) {
        // Always return at least one record, so a reader makes progress whatever max_bytes says.
        if (meta.length > 0 && bytes >= job.maxBytes) break outer;
        meta.push(o, r.sourceOffset, r.message.length, r.flags);
        parts.push(r.message);
        size += r.message.length;
        bytes += r.message.length + 64;
        next = o + 1;
      }
      o++;
    }
    next = Math.max(next, end);
    if (bytes >= job.maxBytes) break;
  }
  // Its own ArrayBuffer (never a pooled slab), so it can be moved across threads.
  const data = Buffer.allocUnsafeSlow(size);
  let p = 0;
  for (const part of parts) p += part.copy(data, p);
  return { data, meta: Float64Array.from(meta), skipped, next };
}

export function runJob(job: Job): object {
  if (job.op === 'check') return runCheck(job as CheckJob);
  if (job.op === 'records') return runRecords(job as RecordsJob);
  const run = extraJobs.get(job.op);
  if (!run) throw new Error(`unknown payload job "${job.op}"`);
  return run(job);
}
