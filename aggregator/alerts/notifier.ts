/**
 * The notifier seam: what an alert sink (aggregator/sinks/{alertmanager,
 * pagerduty,webhook}/index.ts) implements, and the delivery queue they share.
 *
 * Delivery never blocks evaluation or ingest: notify() only puts the notice in
 * the sink's queue and returns. The queue keeps the latest notice per alert
 * key (only the latest state matters: a resolve replaces an unsent trigger's
 * successor, never the other way round unless newer), is bounded
 * (MAX_QUEUED keys; beyond, the oldest is dropped and counted), and one worker
 * per sink sends in order, retrying what failed with capped exponential
 * backoff. A permanent failure (e.g. HTTP 400) is reported and dropped.
 */
import type { Logger } from '../../lib/obs/logger.js';
import type { AlertNotice } from './types.js';

export interface DeliveryResult {
  notice: AlertNotice;
  ok: boolean;
  /** why not (never contains a secret) */
  error?: string;
  /** ms from the transition to acceptance */
  latencyMs?: number;
}

export interface NotifierContext {
  logger: Logger;
  /** every delivery outcome (the engine records it in the state and the metrics) */
  onResult(sink: string, r: DeliveryResult): void;
  /** a notice dropped because the queue was full */
  onDropped(sink: string): void;
  /** monotonic ms */
  clock(): number;
}

export interface Notifier {
  readonly name: string;
  readonly type: string;
  start(): Promise<void>;
  /** Queue a notice; returns at once. `restored`: sent before a restart, re-announced (the sink decides whether to resend). */
  notify(n: AlertNotice, restored?: boolean): void;
  /** Graceful: tries what is queued for at most `graceMs`, then stops. Idempotent. */
  close(graceMs?: number): Promise<void>;
  /** queued notices */
  queued(): number;
}

/** A send failed: retry it (transient) or drop it (permanent). */
export class SendError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export const MAX_QUEUED = 10_000;

export interface QueueOptions {
  name: string;
  ctx: NotifierContext;
  send(n: AlertNotice): Promise<void>;
  backoffMs?: { min: number; max: number };
  /** give up on a notice after failing this long (ms); default 30 min */
  giveUpMs?: number;
}

/** Latest notice per key, sent one at a time in arrival order, retried with backoff. */
export class DeliveryQueue {
  #o: QueueOptions;
  #q = new Map<string, AlertNotice>();
  #wake: (() => void) | undefined;
  #closed = false;
  #run: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: QueueOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#q.size;
  }

  push(n: AlertNotice): void {
    if (this.#closed) return;
    this.#q.delete(n.key); // re-insert: keeps arrival order of the latest state
    this.#q.set(n.key, n);
    if (this.#q.size > MAX_QUEUED) {
      const oldest = this.#q.keys().next().value as string;
      this.#q.delete(oldest);
      this.#o.ctx.onDropped(this.#o.name);
    }
    this.#run ??= this.#loop();
    this.#wake?.();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    let firstFailure = 0;
    while (!this.#closed) {
      const next = this.#q.entries().next();
      if (next.done) {
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = undefined;
        continue;
      }
      const [key, n] = next.value;
      try {
        await this.#o.send(n);
        if (this.#q.get(key) === n) this.#q.delete(key);
        this.#o.ctx.onResult(this.#o.name, { notice: n, ok: true, latencyMs: this.#o.ctx.clock() - n.createdAt });
        failures = 0;
      } catch (err) {
        const permanent = err instanceof SendError && err.permanent;
        const message = (err as Error).message;
        if (failures === 0) firstFailure = this.#o.ctx.clock();
        failures++;
        const gaveUp = !permanent && this.#o.ctx.clock() - firstFailure > (this.#o.giveUpMs ?? 30 * 60_000);
        this.#o.ctx.onResult(this.#o.name, { notice: n, ok: false, error: message });
        if (permanent || gaveUp) {
          if (this.#q.get(key) === n) this.#q.delete(key);
          failures = 0;
          continue;
        }
        // a newer state for this key replaces the failed one; it goes to the back so others get a turn
        if (this.#q.get(key) === n) {
          this.#q.delete(key);
          this.#q.set(key, n);
        }
        const { min, max } = this.#o.backoffMs ?? { min: 1_000, max: 60_000 };
        const delay = Math.min(max, min * 2 ** Math.min(failures - 1, 16)) * (0.8 + Math.random() * 0.4);
        await new Promise<void>((r) => {
          this.#timer = setTimeout(r, delay);
          this.#wake = r;
        });
        clearTimeout(this.#timer);
        this.#wake = undefined;
      }
    }
  }

  /** Waits until empty or `graceMs`, then stops the worker. */
  async close(graceMs = 0): Promise<void> {
    const until = this.#o.ctx.clock() + graceMs;
    while (this.#q.size > 0 && this.#o.ctx.clock() < until) await new Promise((r) => setTimeout(r, 50));
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wake?.();
  }
}
