/**
 * Adaptive concurrency for bulk requests (AIMD, after Vector's adaptive
 * concurrency): the limit grows by one per limit's worth of fast answers and
 * halves on a 429, a whole-request failure or a latency well above the
 * observed baseline. acquire() waits (FIFO) while `limit` requests are in flight.
 */
export interface LimiterOptions {
  min: number;
  max: number;
  /** starting limit; default min */
  initial?: number;
}

export class AimdLimiter {
  #min: number;
  #max: number;
  #limit: number;
  #inFlight = 0;
  #waiters: Array<() => void> = [];
  /** exponentially weighted moving average of fast-path latency (ms) */
  #baseline: number | undefined;
  #credit = 0;

  constructor(o: LimiterOptions) {
    this.#min = o.min;
    this.#max = Math.max(o.min, o.max);
    this.#limit = Math.min(this.#max, Math.max(this.#min, o.initial ?? o.min));
  }

  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  async acquire(): Promise<void> {
    if (this.#inFlight < this.#limit) {
      this.#inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Ends one request: `ok` false for 429 / whole-request failures (multiplicative decrease). */
  release(ok: boolean, latencyMs: number): void {
    this.#inFlight--;
    if (!ok) this.#decrease();
    else {
      const base = this.#baseline;
      this.#baseline = base === undefined ? latencyMs : base * 0.9 + latencyMs * 0.1;
      if (base !== undefined && latencyMs > base * 2 + 50) this.#decrease();
      else if (++this.#credit >= this.#limit) {
        this.#credit = 0;
        if (this.#limit < this.#max) this.#limit++;
      }
    }
    this.#wake();
  }

  #decrease(): void {
    this.#credit = 0;
    this.#limit = Math.max(this.#min, Math.floor(this.#limit / 2));
  }

  #wake(): void {
    while (this.#inFlight < this.#limit && this.#waiters.length > 0) {
      this.#inFlight++;
      this.#waiters.shift()!();
    }
  }
}
