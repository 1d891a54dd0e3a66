/**
 * When tailers read. A change event or a poll that finds growth asks for a
 * read "soon": after batch.max_wait, so a slow writer's lines go out as one
 * batch instead of one per write; the read then takes everything that is
 * there, in batches of up to batch.max_bytes. A batch is closed by whichever
 * comes first, max_wait or max_bytes: once a whole batch.max_bytes of unread
 * growth is waiting (a busy file), the whole batches are read at once, since
 * waiting longer cannot make them bigger, only later; the shorter rest keeps
 * its max_wait timer. Work that cannot wait (a rotated file draining, a
 * partial line, lag after capacity returns) is read at once, all of it. Such a
 * read cancels the pending "soon" of its file: it takes everything up to the
 * size it finds, which covers every growth seen before it started; growth
 * after it asks again.
 */
import type { Logger } from '../../../lib/obs/logger.js';
import type { Tailer, TailerContext } from './tailer.js';

/** A closed rotated file is kept this long after its last growth once drained. */
export const DRAIN_IDLE_MS = 2_000;
/** How often open tailers are looked at for work. */
export const POLL_MS = 250;
/** Files that grew this recently are polled (cheaply, fstat) as well as watched. */
export const ACTIVE_MS = 3_000;

export class ReadScheduler {
  #ctx: () => TailerContext;
  #logger: Logger;
  #maxWait: number;
  #soon = new Map<Tailer, NodeJS.Timeout>();

  constructor(ctx: () => TailerContext, maxWait: number, logger: Logger) {
    this.#ctx = ctx;
    this.#maxWait = maxWait;
    this.#logger = logger;
  }

  /** Read now (errors are logged; the next poll retries). */
  now(t: Tailer): void {
    const timer = this.#soon.get(t);
    if (timer) {
      clearTimeout(timer);
      this.#soon.delete(t);
    }
    t.pump(this.#ctx()).catch((err) => this.#logger.warn({ err, path: t.path }, 'read failed; will retry'));
  }

  /**
   * Read once batch.max_wait is over (at once when it is 0); one pending read per tailer. The read
   * starts early by the time a batch lately took from read to durable (readHeadroom, at most half of
   * max_wait): max_wait bounds the line's wait in the agent, not only in its file.
   */
  soon(t: Tailer): void {
    if (!this.#maxWait) return this.now(t);
    if (this.#soon.has(t)) return;
    const headroom = Math.min(this.#maxWait / 2, Math.max(0, this.#ctx().readHeadroom?.() ?? 0));
    const timer = setTimeout(() => {
      this.#soon.delete(t);
      this.now(t);
    }, this.#maxWait - headroom);
    timer.unref();
    this.#soon.set(t, timer);
  }

  /**
   * The file was seen at `size` (a change event's stat, the reconcile scan): read at once when a
   * whole batch.max_bytes is waiting unread, otherwise once batch.max_wait is over.
   */
  grew(t: Tailer, size: number): void {
    if (size - t.readOffset >= this.#ctx().maxBatchBytes) this.rest(t);
    else this.soon(t);
  }

  /**
   * Unread growth is waiting: a read of its whole batches now (of all of it when the file stopped
   * growing, see Tailer.pump); the rest waits for max_wait (its timer, kept or started here) or the
   * next full batch.
   */
  rest(t: Tailer): void {
    t.pump(this.#ctx(), true).catch((err) => this.#logger.warn({ err, path: t.path }, 'read failed; will retry'));
    this.soon(t);
  }

  /** Tailers with a read waiting for batch.max_wait. */
  get pending(): number {
    return this.#soon.size;
  }

  /**
   * One poll of the open tailers: releases drained rotated files (via `release`), reads those with
   * work, and looks at recently grown ones even without a change event: inotify events can be
   * coalesced or missed, and the reconcile scan is slow. Idle files are not touched.
   * Returns whether any tailer may still need a poll (work, a drain, recent growth, a read pending
   * or running); when none does, polling can stop until the next file event.
   */
  poll(tailers: Iterable<Tailer>, now: number, release: (t: Tailer) => void): boolean {
    let live = this.#soon.size > 0;
    for (const t of tailers) {
      if (t.detached && t.readOffset >= t.size && now - t.lastGrowth >= DRAIN_IDLE_MS && !t.hasPartial && !t.busy) {
        release(t);
        continue;
      }
      // Unread growth without a max_wait read pending (reading stopped for capacity) is read now;
      // with one, it waits for it, except whole batches and a file that stopped growing (rest).
      if (t.detached || t.hasPartial || t.stalled || (t.lag > 0 && !this.#soon.has(t))) this.now(t);
      else if (t.lag > 0) this.rest(t);
      else if (now - t.lastGrowth < ACTIVE_MS) this.soon(t);
      else if (!t.busy) continue;
      live = true;
    }
    return live;
  }

  close(): void {
    for (const timer of this.#soon.values()) clearTimeout(timer);
    this.#soon.clear();
  }
}
