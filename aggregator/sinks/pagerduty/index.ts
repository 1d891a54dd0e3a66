/**
 * PagerDuty Events API v2 notifier: `trigger` when a group fires, `resolve`
 * when it resolves, both with the group's dedup_key (rule + group values,
 * aggregator/alerts/identity.ts), so a resolve closes its own trigger and a
 * retried or repeated trigger never opens a second incident.
 *
 * payload.source = host; payload.severity from the rule's `severity` label:
 *   critical, fatal, page, emergency, alert  -> critical
 *   error, err, high, major                 -> error
 *   warning, warn, medium, minor            -> warning
 *   info, informational, low, none, notice  -> info
 *   anything else or no label               -> error
 * summary: the `summary` annotation (or "RULE on HOST"), at most 1024
 * characters; custom_details: labels, annotations, count, value and the
 * matched lines' offsets (dropped if the event would exceed 512 000 bytes).
 *
 * 429, 5xx and network errors are retried with backoff (same dedup_key: no
 * second incident); 400 is logged with PagerDuty's answer and never retried.
 * The routing key is read from routing_key_file at start and never logged.
 */
import { LogshipError } from '../../../lib/errors.js';
import { readSecretFile, SecretFileError, trimAsciiSpace } from '../../../lib/config/secrets.js';
import type { AlertNotice } from '../../alerts/types.js';
import { DeliveryQueue, SendError, type Notifier, type NotifierContext } from '../../alerts/notifier.js';
import { checkStatus, postJson, redact } from '../../alerts/http-post.js';
import type { PagerDutySinkConfig } from './config.js';

const SEVERITY: Record<string, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical', fatal: 'critical', page: 'critical', emergency: 'critical', alert: 'critical',
  error: 'error', err: 'error', high: 'error', major: 'error',
  warning: 'warning', warn: 'warning', medium: 'warning', minor: 'warning',
  info: 'info', informational: 'info', low: 'info', none: 'info', notice: 'info',
};

export function pagerdutySeverity(label: string | undefined): 'critical' | 'error' | 'warning' | 'info' {
  const s = label?.toLowerCase();
  return (s !== undefined && Object.hasOwn(SEVERITY, s) ? SEVERITY[s] : undefined) ?? 'error';
}

const MAX_EVENT_BYTES = 512_000;
const MAX_SUMMARY = 1024;

/** The Events API v2 body for a notice. */
export function pagerdutyEvent(n: AlertNotice, routingKey: string): Record<string, unknown> {
  if (n.status === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: n.key };
  let summary = n.annotations.summary || `${n.rule} on ${n.host || 'all hosts'}`;
  if (summary.length > MAX_SUMMARY) summary = `${summary.slice(0, MAX_SUMMARY - 3)}...`;
  const event = {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: n.key,
    payload: {
      summary,
      source: n.host || 'logship',
      severity: pagerdutySeverity(n.labels.severity),
      timestamp: new Date(n.startsAt).toISOString(),
      class: n.rule,
      component: n.labels.component ?? undefined,
      custom_details: {
        labels: n.labels,
        annotations: n.annotations,
        count: n.count,
        ...(n.value !== undefined ? { value: n.value } : {}),
        matched_lines: n.evidence,
      } as Record<string, unknown>,
    },
    client: 'logship',
    client_url: n.generatorURL,
  };
  if (Buffer.byteLength(JSON.stringify(event)) > MAX_EVENT_BYTES) {
    event.payload.custom_details = { note: 'custom details dropped: the event would exceed PagerDuty\'s 512 KB limit', labels: n.labels };
  }
  return event;
}

export function readRoutingKey(cfg: PagerDutySinkConfig): string {
  if (cfg.routing_key !== undefined) return cfg.routing_key.trim();
  try {
    const key = trimAsciiSpace(readSecretFile(cfg.routing_key_file!)).toString('utf8');
    if (key.length === 0) throw new LogshipError('LSH_ERR_CONFIG', `sinks "${cfg.name}": routing_key_file ${cfg.routing_key_file} is empty`);
    return key;
  } catch (err) {
    if (err instanceof SecretFileError) throw new LogshipError('LSH_ERR_CONFIG', `sinks "${cfg.name}": ${err.message}`);
    throw err;
  }
}

export class PagerDutyNotifier implements Notifier {
  readonly type = 'pagerduty';
  readonly name: string;
  #cfg: PagerDutySinkConfig;
  #ctx: NotifierContext;
  #key: string;
  #queue: DeliveryQueue;

  constructor(cfg: PagerDutySinkConfig, ctx: NotifierContext, opts: { backoffMs?: { min: number; max: number } } = {}) {
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.name = cfg.name;
    this.#key = readRoutingKey(cfg);
    if (this.#key.length !== 32) ctx.logger.warn({ sink: cfg.name, length: this.#key.length }, 'the PagerDuty routing key is not 32 characters long; PagerDuty will likely answer 400');
    this.#queue = new DeliveryQueue({ name: cfg.name, ctx, send: (n) => this.#send(n), backoffMs: opts.backoffMs ?? { min: 1_000, max: 120_000 } });
  }

  async start(): Promise<void> {}

  notify(n: AlertNotice, restored = false): void {
    // PagerDuty keeps one alert per dedup_key: what it already accepted needs no resend after a restart.
    if (restored) return;
    this.#queue.push(n);
  }

  queued(): number {
    return this.#queue.size;
  }

  async #send(n: AlertNotice): Promise<void> {
    const r = await postJson(this.#cfg.url, pagerdutyEvent(n, this.#key), { timeoutMs: 10_000 });
    try {
      checkStatus(`PagerDuty ${redact(this.#cfg.url)} ${n.status === 'firing' ? 'trigger' : 'resolve'} ${n.key}`, r);
    } catch (err) {
      if (err instanceof SendError && err.permanent) {
        this.#ctx.logger.error({ sink: this.name, dedup_key: n.key, status: r.status, body: r.body.slice(0, 1000) }, 'PagerDuty refused the event: not retried (fix the rule, labels or routing key; PagerDuty\'s answer is in body)');
      }
      throw err;
    }
  }

  close(graceMs = 2_000): Promise<void> {
    return this.#queue.close(graceMs);
  }
}
