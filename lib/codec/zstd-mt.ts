/**
 * Compression on zstd's own thread: no second V8 isolate.
 *
 * libzstd (as zstd-napi builds it, with ZSTD_MULTITHREAD) can run a frame's
 * compression on a POSIX thread of its own (`nbWorkers`). Its calls stay
 * synchronous, but they do not all wait for that thread:
 *  - `compressStream2(out, input, continue)` copies the input into zstd's
 *    own buffer and, once a whole job's worth is there, hands the job to the
 *    thread and returns at once. The job size is set per frame to the
 *    batch's size, so one batch is one job, started by that first call.
 *  - `compressStream2(out, <nothing>, continue)` copies out what the job has
 *    produced so far and returns 0 once the job is done and all copied out;
 *    it waits only while the job has produced nothing new (zstd publishes a
 *    job's output every 512 KiB of input), so it is called when the job
 *    should be done (the measured speed times the size), and once more if it
 *    was not.
 *  - `compressStream2(out, <nothing>, end)` then writes the frame's last,
 *    empty block (3 bytes), without a job.
 * The caller's input is free again as soon as the first call returns, and
 * the result comes back through a Promise, as from a worker.
 *
 * Why: a worker thread is a whole V8 isolate, 6.5 MiB of heap and ~6 MiB of
 * node's pages at full speed in the agent; zstd's thread holds only its
 * buffers (~3 MiB for 1 MiB jobs). And nothing is posted between isolates.
 *
 * zstd does not start a thread for less than ZSTDMT_JOBSIZE_MIN (512 KiB);
 * smaller inputs are the caller's to compress (ZstdPool does it inline).
 * Frames run one after another per context (one frame is in a context at a
 * time); `contexts` contexts run that many at once.
 */
import binding from 'zstd-napi/binding.js';

/** zstd runs a frame of at most ZSTDMT_JOBSIZE_MIN (512 KiB) on the calling thread, whatever nbWorkers says. */
export const THREAD_MIN_BYTES = 512 * 1024 + 1;
/** Contexts (each with its zstd thread and buffers) idle this long are dropped; the next job makes new ones. */
const IDLE_STOP_MS = 10_000;
const EMPTY = Buffer.alloc(0);
/** The first guess of zstd level 1's speed here (~3 CPU s/GiB), before a job has been timed. */
const FIRST_NS_PER_BYTE = 3;

interface Job {
  data: Buffer;
  level: number;
  /** called with the input once zstd has copied it (it may be reused) */
  done?: () => void;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface Context {
  cctx: InstanceType<typeof binding.CCtx>;
  level: number;
  out: Buffer;
  pos: number;
  job?: Job;
  /** the job was looked at before it was done */
  looked: boolean;
  timer?: NodeJS.Timeout;
}

export class ZstdThreads {
  #contexts: Context[] = [];
  #max: number;
  #queue: Job[] = [];
  #closed = false;
  #alloc: (n: number) => Buffer;
  /** when to look at a job: ns per input byte, adjusted so that about one look in ten comes early */
  #nsPerByte: number;
  #idleTimer: NodeJS.Timeout | undefined;
  /** looks that found the job still running (test and metrics) */
  early = 0;
  jobs = 0;

  /** the current estimate, ns per input byte */
  get nsPerByte(): number {
    return this.#nsPerByte;
  }

  /** @param opts.nsPerByte the first estimate of zstd's speed (tests make it wrong on purpose) */
  constructor(opts: { contexts?: number; alloc?: (n: number) => Buffer; nsPerByte?: number } = {}) {
    this.#max = Math.max(1, opts.contexts ?? 1);
    this.#nsPerByte = opts.nsPerByte ?? FIRST_NS_PER_BYTE;
    this.#alloc = opts.alloc ?? ((n) => Buffer.allocUnsafeSlow(n));
  }

  /** zstd threads started so far (each context has one, from its first job on) */
  get threads(): number {
    return this.#contexts.length;
  }

  /**
   * Compresses `data` (at least THREAD_MIN_BYTES) into one zstd frame. `onCopied` runs once zstd holds
   * its own copy of the input: from then on the caller may reuse `data`.
   */
  compress(data: Buffer, level: number, onCopied?: () => void): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new Error('zstd threads closed'));
    if (data.byteLength < THREAD_MIN_BYTES) return Promise.reject(new Error(`zstd threads take ${THREAD_MIN_BYTES} bytes or more, not ${data.byteLength}`));
    return new Promise<Buffer>((resolve, reject) => {
      this.#queue.push({ data, level, done: onCopied, resolve, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#queue.length) clearTimeout(this.#idleTimer);
    while (this.#queue.length) {
      let c = this.#contexts.find((x) => !x.job);
      if (!c) {
        if (this.#contexts.length >= this.#max) return;
        c = { cctx: new binding.CCtx(), level: -1, out: EMPTY, pos: 0, looked: false };
        c.cctx.setParameter(binding.CParameter.nbWorkers, 1);
        this.#contexts.push(c);
      }
      this.#start(c, this.#queue.shift()!);
    }
  }

  #start(c: Context, job: Job): void {
    const n = job.data.byteLength;
    try {
      if (c.level !== job.level) {
        c.cctx.setParameter(binding.CParameter.compressionLevel, job.level);
        c.level = job.level;
      }
      // One job per frame: it starts on the first call, with the whole batch.
      c.cctx.setParameter(binding.CParameter.jobSize, n);
      c.cctx.setPledgedSrcSize(n);
      const bound = binding.compressBound(n) + 64;
      if (c.out.byteLength < bound) c.out = Buffer.allocUnsafeSlow(bound);
      c.pos = 0;
      c.job = job;
      c.looked = false;
      let fed = 0;
      // zstd takes up to one job's worth a call; the job is exactly the input, so one call takes it all.
      for (let i = 0; fed < n && i < 4; i++) {
        const [, produced, consumed] = c.cctx.compressStream2(c.out.subarray(c.pos), job.data.subarray(fed), binding.EndDirective.continue);
        c.pos += produced;
        fed += consumed;
      }
      if (fed < n) throw new Error(`zstd took ${fed} of ${n} input bytes`);
    } catch (err) {
      this.#fail(c, err as Error);
      return;
    }
    job.done?.();
    this.jobs++;
    this.#wait(c, n * this.#nsPerByte);
  }

  #wait(c: Context, ns: number): void {
    c.timer = setTimeout(() => this.#look(c), Math.max(1, Math.round(ns / 1e6)));
  }

  #look(c: Context): void {
    c.timer = undefined;
    const job = c.job;
    if (!job) return;
    try {
      const [left, produced] = c.cctx.compressStream2(c.out.subarray(c.pos), EMPTY, binding.EndDirective.continue);
      c.pos += produced;
      if (left !== 0) {
        this.early++;
        if (!c.looked) this.#nsPerByte = Math.min(50, this.#nsPerByte * 1.1);
        c.looked = true;
        // Not done: look again after a tenth of the whole estimate.
        this.#wait(c, (job.data.byteLength * this.#nsPerByte) / 10);
        return;
      }
      const [rest, last] = c.cctx.compressStream2(c.out.subarray(c.pos), EMPTY, binding.EndDirective.end);
      c.pos += last;
      if (rest !== 0) throw new Error('zstd frame did not end');
    } catch (err) {
      this.#fail(c, err as Error);
      return;
    }
    // Done at the first look: look a little sooner next time. A look that came early (above) made the
    // estimate longer by 10 %; so about one look in ten is early.
    if (!c.looked) this.#nsPerByte = Math.max(0.2, this.#nsPerByte * 0.99);
    const result = this.#alloc(c.pos);
    c.out.copy(result, 0, 0, c.pos);
    c.job = undefined;
    job.resolve(result);
    this.#next();
    if (!this.#queue.length && this.#contexts.every((x) => !x.job)) this.#idleSoon();
  }

  /** With nothing to do for IDLE_STOP_MS, the contexts go (zstd frees them, joining their threads, when V8 collects them). */
  #idleSoon(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#contexts.every((x) => !x.job)) this.#contexts = [];
    }, IDLE_STOP_MS);
    this.#idleTimer.unref();
  }

  #fail(c: Context, err: Error): void {
    const job = c.job;
    c.job = undefined;
    clearTimeout(c.timer);
    try {
      c.cctx.reset(binding.ResetDirective.sessionOnly);
    } catch {
      // a context that cannot even reset is dropped
      this.#contexts = this.#contexts.filter((x) => x !== c);
    }
    job?.reject(err);
    this.#next();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    for (const c of this.#contexts) {
      clearTimeout(c.timer);
      c.job?.reject(new Error('zstd threads closed'));
      c.job = undefined;
    }
    for (const j of this.#queue) j.reject(new Error('zstd threads closed'));
    this.#queue = [];
  }
}
