/**
 * Worker threads for payload jobs (payload-jobs.ts): ingest checks and reader
 * decoding run here, off the event loop, so /healthz and small requests stay
 * fast while a big or hostile batch is inflated. Each job's input is copied
 * into one ArrayBuffer and moved to the worker. A worker that dies is replaced
 * and its jobs fail with LSH_ERR_UNAVAILABLE (the client retries); one that
 * keeps dying at start is not respawned in a loop: after three quick deaths
 * the pool runs jobs in-process and reports it through onDegraded.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LogshipError } from '../errors.js';
import { runJob, type CheckJob, type CheckResult, type ExtraJob, type Job, type RecordsJob, type RecordsResult } from './payload-jobs.js';

/** The compiled worker: beside this module in dist/, or dist's copy when this module runs from source (tests). */
function workerUrl(): URL | undefined {
  for (const rel of ['./payload-worker.js', '../../dist/lib/protocol/payload-worker.js']) {
    const u = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(u))) return u;
  }
  return undefined;
}

const QUICK_DEATH_MS = 2_000;

interface Slot {
  spawnedAt: number;
  quickDeaths: number;
  worker: Worker;
  pending: Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>;
}

export class PayloadPool {
  #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;
  #inline: boolean;
  #url: URL | undefined;
  #onDegraded: (reason: string) => void;
  #spares = new SparePool();

  /**
   * @param size workers; 0 runs jobs in-process (tests of the pure logic only).
   * @param onDegraded called once if workers cannot run and jobs fall back to the event loop.
   */
  constructor(size: number, onDegraded: (reason: string) => void = () => undefined) {
    this.#onDegraded = onDegraded;
    this.#url = workerUrl();
    this.#inline = size === 0 || this.#url === undefined;
    if (this.#inline && size > 0) onDegraded('the payload worker script is missing (run npm run build); checking payloads on the event loop');
    if (!this.#inline) for (let i = 0; i < size; i++) this.#slots.push(this.#spawn(0));
  }

  #spawn(quickDeaths: number): Slot {
    const worker = new Worker(this.#url!, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), spawnedAt: Date.now(), quickDeaths };
    worker.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(new LogshipError('LSH_ERR_UNAVAILABLE', `payload worker: ${m.error}`));
      else p.resolve(m.result);
    });
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      for (const p of slot.pending.values()) p.reject(new LogshipError('LSH_ERR_UNAVAILABLE', `payload worker failed: ${err.message}`));
      slot.pending.clear();
      const i = this.#slots.indexOf(slot);
      if (i < 0 || this.#closed) return;
      const quick = Date.now() - slot.spawnedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
      if (quick < 3) {
        this.#slots[i] = this.#spawn(quick);
        return;
      }
      this.#slots.splice(i, 1);
      if (this.#slots.length === 0 && !this.#inline) {
        this.#inline = true;
        this.#onDegraded(`payload workers keep failing at start (${err.message}); checking payloads on the event loop`);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    return slot;
  }

  /**
   * Spread over the workers (one request's latency is what the agent waits
   * for); the first failing batch wins. With `body`, a buffer that owns its
   * whole ArrayBuffer and holds every payload (a request body), the first part
   * moves it to a worker instead of copying it; it comes back as
   * `result.body`, and the caller must take its payloads from there (the
   * views it had are detached).
   */
  async check(job: Omit<CheckJob, 'op'>, body?: Buffer): Promise<CheckResult & { body?: ArrayBuffer }> {
    // Only a plain ArrayBuffer can be moved (a SharedArrayBuffer in a transfer list throws).
    const own = body && !this.#inline && body.buffer instanceof ArrayBuffer && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && job.batches.every((b) => b.payload.buffer === body.buffer) ? (body.buffer as ArrayBuffer) : undefined;
    const n = Math.min(this.#slots.length, job.batches.length);
    if (n <= 1) return (await this.#run({ op: 'check', ...job }, job.batches, own)) as CheckResult;
    let total = 0;
    for (const b of job.batches) total += b.payload.byteLength;
    const parts: Array<{ from: number; batches: CheckJob['batches'] }> = [];
    let cur: CheckJob['batches'] = [];
    let from = 0;
    let bytes = 0;
    job.batches.forEach((b, i) => {
      cur.push(b);
      bytes += b.payload.byteLength;
      if (bytes >= (total * (parts.length + 1)) / n && parts.length < n - 1) {
        parts.push({ from, batches: cur });
        cur = [];
        from = i + 1;
      }
    });
    if (cur.length) parts.push({ from, batches: cur });
    // The other parts copy their payloads first: the move detaches the body's views.
    const later = parts.slice(1).map((p) => this.#run({ op: 'check', batches: p.batches, maxRaw: job.maxRaw }, p.batches) as Promise<CheckResult>);
    const first = this.#run({ op: 'check', batches: parts[0]!.batches, maxRaw: job.maxRaw }, parts[0]!.batches, own) as Promise<CheckResult & { body?: ArrayBuffer }>;
    const results = await Promise.all([first, ...later]);
    const moved = results[0]!.body;
    for (let k = 0; k < parts.length; k++) if (results[k]!.index >= 0) return { index: parts[k]!.from + results[k]!.index, reason: results[k]!.reason, body: moved };
    return { index: -1, body: moved };
  }

  /** Copy buffers kept for reuse (tests, diagnostics). */
  get spareBuffers(): number {
    return this.#spares.size;
  }

  records(job: Omit<RecordsJob, 'op'>): Promise<RecordsResult> {
    return this.#run({ op: 'records', ...job }, job.batches) as Promise<RecordsResult>;
  }

  /** A job kind registered with registerJob (payload-jobs.ts); its payloads are copied to the worker. */
  run<T>(job: ExtraJob): Promise<T> {
    return this.#run(job, job.batches) as Promise<T>;
  }

  /** `move`: the ArrayBuffer every payload views, given to the worker (and sent back) instead of copied. */
  #run(job: Job, batches: Array<{ payload: Uint8Array }>, move?: ArrayBuffer): Promise<unknown> {
    if (this.#closed) return Promise.reject(new LogshipError('LSH_ERR_CLOSED', 'payload pool closed'));
    if (this.#inline) {
      try {
        return Promise.resolve(runJob(job));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const slot = this.#slots.reduce((a, s) => (s.pending.size < a.pending.size ? s : a));
    const id = this.#nextId++;
    if (move) {
      return new Promise((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.ref();
        slot.worker.postMessage({ id, job, back: true }, [move]);
      });
    }
    // One copy of every payload into an ArrayBuffer that the worker then owns. A check (ingest:
    // the inputs are not needed afterwards) sends it back and it is reused by the next copy.
    let size = 0;
    for (const b of batches) size += b.payload.byteLength;
    const recycle = job.op === 'check';
    const ab = (recycle && this.#spares.take(size)) || new ArrayBuffer(recycle ? SparePool.capacity(size) : size);
    const all = Buffer.from(ab, 0, size);
    let p = 0;
    for (const b of batches) {
      const at = p;
      p += Buffer.from(b.payload.buffer, b.payload.byteOffset, b.payload.byteLength).copy(all, p);
      b.payload = all.subarray(at, p);
    }
    return new Promise((resolve, reject) => {
      const done = recycle
        ? (r: unknown) => {
            const res = r as { body?: ArrayBuffer };
            if (res.body) this.#spares.give(res.body);
            delete res.body;
            resolve(res);
          }
        : resolve;
      slot.pending.set(id, { resolve: done, reject });
      slot.worker.ref();
      // An empty copy has no payload to carry the buffer back: nothing to reuse then.
      slot.worker.postMessage({ id, job, back: recycle && size > 0 }, [ab]);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}

/**
 * ArrayBuffers that copied payloads went to a worker in and came back from it, kept for the next
 * copy: a fresh buffer of a few MiB costs a page fault and a zeroed page per 4 KiB on first touch,
 * which on a loaded VM was the main thread's largest cost on the ingest path (perf: clear_page).
 * Bounded: at most MAX_SPARES buffers, none above MAX_SPARE_BYTES.
 */
class SparePool {
  static readonly MAX_SPARES = 4;
  static readonly MAX_SPARE_BYTES = 32 << 20;
  #free: ArrayBuffer[] = [];

  /** The size to allocate for `size` bytes: rounded up to a whole MiB, so the next request of about that size fits too. */
  static capacity(size: number): number {
    const MiB = 1 << 20;
    return size <= SparePool.MAX_SPARE_BYTES ? Math.max(MiB, Math.ceil(size / MiB) * MiB) : size;
  }

  /** The smallest spare of at least `size` bytes, taken out of the pool; undefined when none fits. */
  take(size: number): ArrayBuffer | undefined {
    let best = -1;
    for (let i = 0; i < this.#free.length; i++) {
      const n = this.#free[i]!.byteLength;
      if (n >= size && (best < 0 || n < this.#free[best]!.byteLength)) best = i;
    }
    return best < 0 ? undefined : this.#free.splice(best, 1)[0];
  }

  give(ab: ArrayBuffer): void {
    if (ab.byteLength > SparePool.MAX_SPARE_BYTES || ab.byteLength === 0) return;
    this.#free.push(ab);
    if (this.#free.length > SparePool.MAX_SPARES) {
      // keep the biggest: they fit every request the smaller ones fit
      let small = 0;
      for (let i = 1; i < this.#free.length; i++) if (this.#free[i]!.byteLength < this.#free[small]!.byteLength) small = i;
      this.#free.splice(small, 1);
    }
  }

  get size(): number {
    return this.#free.length;
  }
}
