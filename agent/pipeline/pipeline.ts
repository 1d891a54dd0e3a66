/**
 * From read batches to the durable buffer, in read order: compression runs on
 * zstd's own threads (several batches at once; lib/codec/zstd-mt.ts), appends happen strictly in
 * submission order and every batch that is ready joins one append (one fsync); in a backlog a
 * ready batch waits for the one being compressed behind it, so an append holds two or more.
 * A failed append (disk full) is retried with backoff, never skipped.
 *
 * A compressed payload may come from the buffer's payload slabs (the pool's `alloc`): the pipeline
 * holds that reference until the append returns, then gives it back. After stop() the payloads
 * still queued keep theirs (an append may be writing them; the process is ending).
 */
import type { Logger } from '../../lib/obs/logger.js';
import { CODEC_ZSTD } from '../../lib/protocol/batches.js';
import type { ZstdPool } from '../../lib/codec/zstd-pool.js';
import { DiskBuffer } from '../buffer/disk-buffer.js';
import type { BufferedMeta } from '../buffer/buffered-meta.js';

export interface PipelineItem {
  meta: BufferedMeta;
  raw: Buffer;
  /** raw's memory may be handed to compression (it is reused for other reads afterwards) */
  owned?: boolean;
  timestamp: number;
  /** called once the batch is durably in the buffer, in order */
  onDurable: (bufferOffset: number) => void;
}

interface Entry {
  item: PipelineItem;
  rawLength: number;
  payload?: Buffer;
  failed?: unknown;
}

export class Pipeline {
  #queue: Entry[] = [];
  #appending = false;
  #stop = new AbortController();
  #inFlightBytes = 0;
  #pool: ZstdPool;
  #buffer: DiskBuffer;
  #level: number;
  #maxInFlight: number;
  #logger: Logger;
  #idle: Array<() => void> = [];
  #onCapacity: () => void;

  constructor(opts: { pool: ZstdPool; buffer: DiskBuffer; level: number; maxInFlightBytes: number; logger: Logger; onCapacity: () => void }) {
    this.#pool = opts.pool;
    this.#buffer = opts.buffer;
    this.#level = opts.level;
    this.#maxInFlight = opts.maxInFlightBytes;
    this.#logger = opts.logger;
    this.#onCapacity = opts.onCapacity;
  }

  hasCapacity(): boolean {
    return this.#inFlightBytes < this.#maxInFlight && this.#buffer.acceptsMore();
  }

  /** Batches submitted and not yet durable. */
  get pendingBatches(): number {
    return this.#queue.length;
  }

  /** Appends done so far (the watchdog compares it between looks). */
  get appendCount(): number {
    return this.#appends;
  }

  /** An append is failing and being retried (disk full?). */
  get retrying(): boolean {
    return this.#retrying;
  }

  #appends = 0;
  #retrying = false;
  #hold: { released: Promise<void>; release: () => void } | undefined;

  /**
   * Test hook (LOGSHIP_TEST_HOOKS=1 and SIGUSR2, bin/logship.ts): holds appends to the buffer, so
   * the pipeline is wedged the way a bug would wedge it and the watchdogs can be seen to react.
   */
  holdAppends(on: boolean): void {
    if (on && !this.#hold) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      this.#hold = { released, release };
    } else if (!on && this.#hold) {
      this.#hold.release();
      this.#hold = undefined;
    }
  }

  get appendsHeld(): boolean {
    return this.#hold !== undefined;
  }

  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  submit(item: PipelineItem): void {
    const e: Entry = { item, rawLength: item.raw.length };
    this.#queue.push(e);
    this.#inFlightBytes += e.rawLength;
    this.#pool.compress(item.raw, this.#level, item.owned === true).then(
      (p) => {
        e.payload = p;
        this.#drain().catch(() => undefined);
      },
      (err) => {
        e.failed = err;
        this.#drain().catch(() => undefined);
      },
    );
  }

  async #drain(): Promise<void> {
    if (this.#appending) return;
    this.#appending = true;
    try {
      while (!this.#stop.signal.aborted && this.#queue.length && (this.#queue[0]!.payload || this.#queue[0]!.failed)) {
        const head = this.#queue[0]!;
        // Wait until the first ready batch fits under buffer.max_bytes (acknowledgements and trims make room).
        if (head.payload) await this.#buffer.waitForSpace(this.#stop.signal, DiskBuffer.frameBytes(head.item.meta, head.payload.length));
        if (this.#stop.signal.aborted) break;
        // Join every ready batch that fits into one append (one fsync): the buffer bound holds.
        let n = 0;
        let bytes = 0;
        let raw = 0;
        while (n < this.#queue.length && this.#queue[n]!.payload) {
          const size = DiskBuffer.frameBytes(this.#queue[n]!.item.meta, this.#queue[n]!.payload!.length);
          if (n > 0 && this.#buffer.sizeBytes + bytes + size > this.#buffer.maxBytes) break;
          bytes += size;
          raw += this.#queue[n]!.rawLength;
          n++;
        }
        // While the batch after the ready ones is being compressed and they hold less than half the
        // in-flight bound, wait for it (its completion drains again): one append and one fsync for
        // two batches or more instead of one each. The wait is one compression at most, and only
        // when batches come faster than they compress (a backlog), never for a lone batch.
        const next = this.#queue[n];
        if (n > 0 && next && !next.payload && !next.failed && raw < this.#maxInFlight / 2) break;
        if (n === 0) {
          // Compression failed (a zstd call threw): compress on this thread instead.
          const e = this.#queue[0]!;
          if (e.item.owned) {
            // The bytes were given up with the job (their memory may hold another read now). They are in no
            // buffer yet, so a restart reads them again.
            this.#logger.fatal({ err: e.failed }, 'compression failed holding a batch; exiting so the lines are read again from their files at restart');
            process.exit(70);
          }
          this.#logger.error({ err: e.failed }, 'compression failed; compressing on the main thread');
          const { compressSync } = await import('../../lib/codec/zstd-pool.js');
          e.payload = compressSync(e.item.raw, this.#level);
          e.failed = undefined;
          continue;
        }
        const batch = this.#queue.slice(0, n);
        if (this.#hold) {
          await this.#hold.released;
          if (this.#stop.signal.aborted) break;
        }
        const offsets = await this.#appendWithRetry(batch);
        this.#appends++;
        this.#queue.splice(0, n);
        for (let i = 0; i < n; i++) {
          const e = batch[i]!;
          // The buffer holds its own reference now (agent/buffer/payload-slabs.ts): give back the one the compression took.
          this.#buffer.releasePayload(e.payload!);
          this.#inFlightBytes -= e.rawLength;
          e.item.onDurable(offsets[i]!);
        }
        this.#onCapacity();
      }
    } finally {
      this.#appending = false;
    }
    if (this.#queue.length === 0) {
      const w = this.#idle;
      this.#idle = [];
      for (const f of w) f();
    }
  }

  async #appendWithRetry(batch: Entry[]): Promise<number[]> {
    let delay = 100;
    for (;;) {
      try {
        const r = await this.#buffer.append(
          batch.map((e) => ({ meta: { ...e.item.meta, codec: CODEC_ZSTD }, payload: e.payload!, timestamp: e.item.timestamp })),
        );
        this.#retrying = false;
        return r;
      } catch (err) {
        if (this.#stop.signal.aborted) throw err;
        this.#retrying = true;
        this.#logger.error({ err }, 'cannot write to the agent buffer (disk full?); reading is paused and the write is retried. Free space in the agent data_dir');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  /** Stops appending (after close nothing more reaches the buffer; unappended lines are read again at restart). */
  stop(): void {
    this.#stop.abort();
    this.holdAppends(false);
  }

  /** Resolves when everything submitted so far is durable. */
  flush(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
