/**
 * Webhook notifier: POSTs Alertmanager's webhook payload (version "4"), one
 * alert per message, so receivers written for Alertmanager work unchanged:
 * {version, groupKey, truncatedAlerts, status, receiver, groupLabels,
 * commonLabels, commonAnnotations, externalURL, alerts: [{status, labels,
 * annotations, startsAt, endsAt, generatorURL, fingerprint}]}. As Alertmanager
 * does, a firing alert's endsAt is the zero time 0001-01-01T00:00:00Z.
 * 5xx, 429 and network errors are retried with backoff; other 4xx are not.
 */
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';
import { LogshipError } from '../../../lib/errors.js';
import { readSecretFile, SecretFileError, trimAsciiSpace } from '../../../lib/config/secrets.js';
import type { AlertNotice } from '../../alerts/types.js';
import { DeliveryQueue, type Notifier, type NotifierContext } from '../../alerts/notifier.js';
import { checkStatus, postJson, redact } from '../../alerts/http-post.js';
import { fingerprint } from '../../alerts/identity.js';
import type { WebhookSinkConfig } from './config.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

const quote = (labels: Record<string, string>) =>
  `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

/** The version-4 message for one notice. */
export function webhookMessage(n: AlertNotice, receiver: string, externalURL: string): Record<string, unknown> {
  const groupLabels: Record<string, string> = { alertname: n.rule };
  if (n.labels.host !== undefined) groupLabels.host = n.labels.host;
  return {
    version: '4',
    groupKey: `{}:${quote(groupLabels)}`,
    truncatedAlerts: 0,
    status: n.status,
    receiver,
    groupLabels,
    commonLabels: n.labels,
    commonAnnotations: n.annotations,
    externalURL,
    alerts: [
      {
        status: n.status,
        labels: n.labels,
        annotations: n.annotations,
        startsAt: new Date(n.startsAt).toISOString(),
        endsAt: n.status === 'resolved' ? new Date(n.endsAt ?? Date.now()).toISOString() : ZERO_TIME,
        generatorURL: n.generatorURL,
        fingerprint: fingerprint(n.labels),
      },
    ],
  };
}

function secret(cfg: WebhookSinkConfig): string | undefined {
  if (cfg.bearer_token !== undefined) return cfg.bearer_token.trim();
  if (cfg.bearer_token_file === undefined) return undefined;
  try {
    return trimAsciiSpace(readSecretFile(cfg.bearer_token_file)).toString('utf8');
  } catch (err) {
    if (err instanceof SecretFileError) throw new LogshipError('LSH_ERR_CONFIG', `sinks "${cfg.name}": ${err.message}`);
    throw err;
  }
}

export class WebhookNotifier implements Notifier {
  readonly type = 'webhook';
  readonly name: string;
  #cfg: WebhookSinkConfig;
  #queue: DeliveryQueue;
  #headers: Record<string, string> = {};
  #dispatcher: Dispatcher | undefined;
  #externalURL: () => string;

  constructor(cfg: WebhookSinkConfig, ctx: NotifierContext, externalURL: () => string, opts: { backoffMs?: { min: number; max: number } } = {}) {
    this.#cfg = cfg;
    this.name = cfg.name;
    this.#externalURL = externalURL;
    const token = secret(cfg);
    if (token) this.#headers.authorization = `Bearer ${token}`;
    const tls = cfg.tls;
    if (tls) {
      try {
        this.#dispatcher = new Agent({
          connect: {
            ...(tls.ca_file ? { ca: readFileSync(tls.ca_file) } : {}),
            ...(tls.cert_file ? { cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file!) } : {}),
          },
        });
      } catch (err) {
        throw new LogshipError('LSH_ERR_CONFIG', `sinks "${cfg.name}".tls: ${(err as Error).message}`);
      }
    }
    this.#queue = new DeliveryQueue({ name: cfg.name, ctx, send: (n) => this.#send(n), backoffMs: opts.backoffMs ?? { min: 1_000, max: 60_000 } });
  }

  async start(): Promise<void> {}

  notify(n: AlertNotice, restored = false): void {
    if (restored) return; // the receiver has it already
    this.#queue.push(n);
  }

  queued(): number {
    return this.#queue.size;
  }

  async #send(n: AlertNotice): Promise<void> {
    const r = await postJson(this.#cfg.url, webhookMessage(n, this.name, this.#externalURL()), {
      headers: this.#headers,
      timeoutMs: this.#cfg.timeout,
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    });
    checkStatus(`webhook ${redact(this.#cfg.url)}`, r);
  }

  async close(graceMs = 2_000): Promise<void> {
    await this.#queue.close(graceMs);
    await this.#dispatcher?.close().catch(() => undefined);
  }
}
