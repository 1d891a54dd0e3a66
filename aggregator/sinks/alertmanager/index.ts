/**
 * Alertmanager notifier: POST /api/v2/alerts (an array of postable alerts) to
 * every URL, since an HA pair deduplicates only what each member has seen.
 * A change (fire, resolve) is sent at once; every firing alert is sent again
 * every resend_interval with endsAt = now + 4 x resend_interval (a lease that
 * survives a few lost sends; if logship dies, Alertmanager resolves it when the
 * lease runs out). A resolve is sent with endsAt = the resolve time and
 * repeated with the resends for 15 minutes, so an Alertmanager that was
 * restarted or unreachable still learns it. Each URL has its own schedule and
 * backoff: one slow member never delays the other. HTTP 400 is a bug on our
 * side: logged with Alertmanager's answer, not retried until the next resend.
 */
import type { AlertNotice } from '../../alerts/types.js';
import { SendError, type Notifier, type NotifierContext } from '../../alerts/notifier.js';
import { checkStatus, postJson, redact } from '../../alerts/http-post.js';
import type { AlertmanagerSinkConfig } from './config.js';

const RESOLVED_REPEAT_MS = 15 * 60_000;
const BATCH = 64;

interface Target {
  url: string;
  /** notices changed since the last successful send to this URL */
  changed: Map<string, AlertNotice>;
  nextResend: number;
  failures: number;
  wake?: () => void;
  timer?: NodeJS.Timeout;
  run?: Promise<void>;
}

export class AlertmanagerNotifier implements Notifier {
  readonly type = 'alertmanager';
  readonly name: string;
  #cfg: AlertmanagerSinkConfig;
  #ctx: NotifierContext;
  #alerts = new Map<string, AlertNotice>();
  #targets: Target[];
  #closed = false;
  /** wall clock, ms (startsAt/endsAt are wall times) */
  #now: () => number;

  constructor(cfg: AlertmanagerSinkConfig, ctx: NotifierContext, now: () => number = Date.now) {
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.#now = now;
    this.name = cfg.name;
    this.#targets = cfg.urls.map((u) => ({ url: new URL('api/v2/alerts', u.endsWith('/') ? u : `${u}/`).toString(), changed: new Map(), nextResend: 0, failures: 0 }));
  }

  async start(): Promise<void> {
    for (const t of this.#targets) t.run = this.#loop(t);
  }

  notify(n: AlertNotice): void {
    if (this.#closed) return;
    // Restored or new, firing or resolved: Alertmanager takes a re-post of the same labels as an update.
    this.#alerts.set(n.key, n);
    for (const t of this.#targets) {
      t.changed.set(n.key, n);
      t.wake?.();
    }
  }

  queued(): number {
    return Math.max(0, ...this.#targets.map((t) => t.changed.size));
  }

  /** The postable alert for `n` at `now`. */
  #postable(n: AlertNotice, now: number) {
    const endsAt = n.status === 'resolved' ? (n.endsAt ?? now) : now + 4 * this.#cfg.resend_interval;
    return {
      labels: n.labels,
      annotations: n.annotations,
      startsAt: new Date(Math.min(n.startsAt, endsAt)).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      generatorURL: n.generatorURL,
    };
  }

  async #loop(t: Target): Promise<void> {
    while (!this.#closed) {
      const now = this.#now();
      if (t.changed.size === 0 && now < t.nextResend) {
        await this.#sleep(t, t.nextResend - now);
        continue;
      }
      for (const [k, n] of this.#alerts) if (n.status === 'resolved' && now - (n.endsAt ?? now) > RESOLVED_REPEAT_MS) this.#alerts.delete(k);
      const sending = new Map(t.changed);
      t.changed.clear();
      const all = [...this.#alerts.values()];
      try {
        for (let i = 0; i < all.length; i += BATCH) {
          const body = all.slice(i, i + BATCH).map((n) => this.#postable(n, now));
          checkStatus(`Alertmanager ${redact(t.url)}`, await postJson(t.url, body, { timeoutMs: this.#cfg.timeout }));
        }
        t.failures = 0;
        t.nextResend = now + this.#cfg.resend_interval;
        for (const n of sending.values()) this.#ctx.onResult(this.name, { notice: n, ok: true, latencyMs: this.#ctx.clock() - n.createdAt });
      } catch (err) {
        const message = (err as Error).message;
        for (const n of sending.values()) this.#ctx.onResult(this.name, { notice: n, ok: false, error: message });
        if (err instanceof SendError && err.permanent) {
          this.#ctx.logger.error({ sink: this.name, url: redact(t.url), err: message }, 'Alertmanager refused the alerts (HTTP 4xx): not retried until the next resend. This is a logship bug or a proxy in the way; the answer is above');
          t.nextResend = now + this.#cfg.resend_interval;
          continue;
        }
        // keep what changed meanwhile; what we were sending is sent again with everything else
        for (const [k, n] of sending) if (!t.changed.has(k)) t.changed.set(k, n);
        t.failures++;
        const delay = Math.min(this.#cfg.resend_interval, 500 * 2 ** Math.min(t.failures - 1, 16));
        this.#ctx.logger.warn({ sink: this.name, url: redact(t.url), err: message, retry_in_ms: delay }, 'Alertmanager unreachable or failing; retrying');
        await this.#sleep(t, delay, true);
      }
    }
  }

  /** Sleeps up to ms; a change wakes it early unless `backoff`. */
  #sleep(t: Target, ms: number, backoff = false): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t.timer);
        t.wake = undefined;
        resolve();
      };
      t.timer = setTimeout(done, Math.max(1, ms));
      t.wake = backoff ? () => (this.#closed ? done() : undefined) : done;
    });
  }

  async close(graceMs = 2_000): Promise<void> {
    if (this.#closed) return;
    const until = this.#ctx.clock() + graceMs;
    while (this.queued() > 0 && this.#ctx.clock() < until) await new Promise((r) => setTimeout(r, 50));
    this.#closed = true;
    for (const t of this.#targets) {
      clearTimeout(t.timer);
      const w = t.wake;
      t.wake = undefined;
      w?.();
    }
    // a request in flight ends by its own timeout; do not wait for it
  }
}
