/**
 * Compression on zstd's own thread: no second V8 isolate.
 *
 * libzstd (as zstd-napi builds it, with ZSTD_MULTITHREAD) can run a frame's
 * compression on a POSIX thread of its own (`nbWorkers`). Its calls stay
 * synchronous, but the first does not wait for that thread:
 *  - `compressStream2(out, input, continue)` copies the input into zstd's
 *    own buffer and, once a whole job's worth is there, hands the job to the
 *    thread and returns. The job size is set per frame to the batch's size,
 *    so one batch is one job, started by that first call.
 *  - `compressStream2(out, <nothing>, end)` waits until the job is done,
 *    copies its output out and writes the frame's last, empty block. It is
 *    called when the job should just be done (a timer set from an estimate of
 *    the time per byte at this level), so this thread waits a fraction of a
 *    millisecond or not at all, and zstd's thread is seldom left idle with a
 *    result nobody collects. A look that waited longer than WAITED_NS makes
 *    the estimate 5 % longer, one that did not 2 % shorter: about three looks
 *    in ten wait, briefly. A look that comes far too early (a first guess
 *    that is wrong) waits for the whole job: as long as compressing here.
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
/**
 * First guesses of zstd's time per input byte at each level, before a job at that level has been timed:
 * compress2 of 1 MiB of the bench's nginx lines, one thread, this machine, 2026-12-03 (quiet).
 * Each look corrects them by 2-5 %; one half the real time costs ~14 looks that wait (as much as compressing here).
 */
const FIRST_NS_PER_BYTE: Record<number, number> = { [-7]: 1.5, [-5]: 1.6, [-3]: 1.6, [-1]: 1.8, 1: 1.9, 2: 2.1, 3: 2.6, 4: 3.1, 5: 6.8, 6: 11.2, 7: 10.8, 8: 12.9, 9: 13.6, 10: 17.1, 12: 24.7, 15: 82, 17: 234, 19: 470 };
/** A look that waited longer than this for its job came too early. */
const WAITED_NS = 300_000;

interface Job {
  data: Buffer;
  level: number;
  /** called once zstd has copied the input (it may be reused) */
  onCopied?: () => void;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface Context {
  cctx: InstanceType<typeof binding.CCtx>;
  level: number;
  out: Buffer;
  pos: number;
  job?: Job;
  timer?: NodeJS.Timeout;
}

export class ZstdThreads {
  #contexts: Context[] = [];
  #max: number;
  #queue: Job[] = [];
  #closed = false;
  #alloc: (n: number) => Buffer;
  /** when to look at a job: ns per input byte, per level (see FIRST_NS_PER_BYTE) */
  #nsPerByte = new Map<number, number>();
  #firstGuess: number | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** looks that waited for the job (came before it was done) */
  early = 0;
  jobs = 0;

  /** the current estimate at a level, ns per input byte */
  nsPerByte(level: number): number {
    let v = this.#nsPerByte.get(level);
    if (v === undefined) {
      v = this.#firstGuess ?? FIRST_NS_PER_BYTE[level] ?? guessBetween(level);
      this.#nsPerByte.set(level, v);
    }
    return v;
  }

  /** @param opts.nsPerByte the first estimate of zstd's speed (tests make it wrong on purpose) */
  constructor(opts: { contexts?: number; alloc?: (n: number) => Buffer; nsPerByte?: number } = {}) {
    this.#max = Math.max(1, opts.contexts ?? 1);
    this.#firstGuess = opts.nsPerByte;
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
      this.#queue.push({ data, level, onCopied, resolve, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#queue.length) clearTimeout(this.#idleTimer);
    while (this.#queue.length) {
      let c = this.#contexts.find((x) => !x.job);
      if (!c) {
        if (this.#contexts.length >= this.#max) return;
        c = { cctx: new binding.CCtx(), level: -1, out: EMPTY, pos: 0 };
        c.cctx.setParameter(binding.CParameter.nbWorkers, 1);
        this.#contexts.push(c);
      }
      this.#start(c, this.#queue.shift()!);
    }
  }

  #start(c: Context, job: Job): void {
    const n = job.data.byteLength;
    c.job = job; // before anything can throw: #fail rejects the context's job
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
    job.onCopied?.();
    this.jobs++;
    c.timer = setTimeout(() => this.#look(c), Math.max(1, Math.round((n * this.nsPerByte(job.level)) / 1e6)));
  }

  #look(c: Context): void {
    c.timer = undefined;
    const job = c.job;
    if (!job) return;
    try {
      const t0 = now();
      const [rest, last] = c.cctx.compressStream2(c.out.subarray(c.pos), EMPTY, binding.EndDirective.end);
      const t1 = now();
      c.pos += last;
      if (rest !== 0) throw new Error(`zstd frame did not end (${rest} bytes left to write)`);
      const est = this.nsPerByte(job.level);
      if (t1 - t0 > WAITED_NS) {
        this.early++;
        this.#nsPerByte.set(job.level, Math.min(10_000, est * 1.05));
      } else {
        this.#nsPerByte.set(job.level, Math.max(0.05, est * 0.98));
      }
    } catch (err) {
      this.#fail(c, err as Error);
      return;
    }
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

function now(): number {
  return Number(process.hrtime.bigint());
}

/** A level missing from the table: the guess of the nearest level below it that is there. */
function guessBetween(level: number): number {
  for (let l = level; l >= -7; l--) if (FIRST_NS_PER_BYTE[l] !== undefined) return FIRST_NS_PER_BYTE[l]!;
  return FIRST_NS_PER_BYTE[1]!;
}
