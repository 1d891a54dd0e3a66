/**
 * A webhook receiver for the alerting tests: records every POST and checks that its body is an
 * Alertmanager webhook message, version "4", the shape existing receivers parse:
 *   {version: "4", groupKey, truncatedAlerts (integer >= 0), status: "firing"|"resolved",
 *    receiver, groupLabels, commonLabels, commonAnnotations (string maps), externalURL,
 *    alerts: [{status, labels, annotations, startsAt, endsAt (RFC 3339), generatorURL, fingerprint}]}
 * plus the relations Alertmanager itself keeps: the message is "firing" when any alert fires,
 * "resolved" otherwise; commonLabels / commonAnnotations are shared by every alert; a resolved
 * alert's endsAt is a real time (Alertmanager sends the zero time 0001-01-01 for firing ones).
 * Each delivery keeps its problems; the receiver answers 200 either way (unless a failure
 * status was injected), so a test sees every attempt and asserts `problems` itself.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookMessage {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

export interface WebhookDelivery {
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON, or the raw text when it was not JSON. */
  body: unknown;
  /** Empty when the body is a well-formed version 4 message. */
  problems: string[];
  /** The status answered. */
  status: number;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** The problems with a webhook body (empty when it is a well-formed Alertmanager version 4 message). */
export function webhookProblems(body: unknown): string[] {
  const p: string[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['the body is not a JSON object'];
  const m = body as Record<string, unknown>;
  if (m.version !== '4') p.push(`version: expected "4", got ${JSON.stringify(m.version)}`);
  for (const k of ['groupKey', 'receiver', 'externalURL'] as const) if (typeof m[k] !== 'string') p.push(`${k}: expected a string`);
  if (!Number.isInteger(m.truncatedAlerts) || (m.truncatedAlerts as number) < 0) p.push('truncatedAlerts: expected an integer >= 0');
  if (m.status !== 'firing' && m.status !== 'resolved') p.push(`status: expected "firing" or "resolved", got ${JSON.stringify(m.status)}`);
  for (const k of ['groupLabels', 'commonLabels', 'commonAnnotations'] as const) if (!isStringMap(m[k])) p.push(`${k}: expected an object of strings`);
  if (!Array.isArray(m.alerts) || m.alerts.length === 0) {
    p.push('alerts: expected a non-empty array');
    return p;
  }
  m.alerts.forEach((a: unknown, i) => {
    const at = `alerts[${i}]`;
    if (typeof a !== 'object' || a === null) return void p.push(`${at}: expected an object`);
    const x = a as Record<string, unknown>;
    if (x.status !== 'firing' && x.status !== 'resolved') p.push(`${at}.status: expected "firing" or "resolved", got ${JSON.stringify(x.status)}`);
    if (!isStringMap(x.labels) || Object.keys(x.labels).length === 0) p.push(`${at}.labels: expected a non-empty object of strings`);
    if (!isStringMap(x.annotations)) p.push(`${at}.annotations: expected an object of strings`);
    for (const k of ['startsAt', 'endsAt'] as const) {
      if (typeof x[k] !== 'string' || !RFC3339.test(x[k] as string)) p.push(`${at}.${k}: expected an RFC 3339 time, got ${JSON.stringify(x[k])}`);
    }
    if (x.status === 'resolved' && typeof x.endsAt === 'string' && ZERO_TIME.test(x.endsAt)) p.push(`${at}.endsAt: a resolved alert needs its real end time, got the zero time`);
    if (typeof x.generatorURL !== 'string') p.push(`${at}.generatorURL: expected a string`);
    if (typeof x.fingerprint !== 'string' || x.fingerprint.length === 0) p.push(`${at}.fingerprint: expected a non-empty string`);
    for (const k of ['commonLabels', 'commonAnnotations'] as const) {
      const own = k === 'commonLabels' ? x.labels : x.annotations;
      if (isStringMap(m[k]) && isStringMap(own)) {
        for (const [n, v] of Object.entries(m[k] as Record<string, string>)) if (own[n] !== v) p.push(`${k}.${n}="${v}" is not on ${at}`);
      }
    }
  });
  const anyFiring = (m.alerts as Array<{ status?: unknown }>).some((a) => a?.status === 'firing');
  if ((m.status === 'firing') !== anyFiring) p.push(`status: "${String(m.status)}" but ${anyFiring ? 'an alert is firing' : 'no alert is firing'}`);
  return p;
}

export class WebhookReceiver {
  readonly #server: Server;
  readonly #deliveries: WebhookDelivery[] = [];
  readonly #failures: number[] = [];
  #url = '';

  private constructor() {
    this.#server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      const problems = req.method === 'POST' ? webhookProblems(body) : [`method ${req.method}: expected POST`];
      const ct = String(req.headers['content-type'] ?? '');
      if (!/^application\/json\s*(;|$)/i.test(ct)) problems.push(`Content-Type: expected application/json, got ${JSON.stringify(ct)}`);
      const status = this.#failures.shift() ?? 200;
      this.#deliveries.push({ at: Date.now(), path: req.url ?? '/', headers: req.headers, body, problems, status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'injected failure');
    });
  }

  /** Listens on 127.0.0.1 on a free port. */
  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await new Promise<void>((res, rej) => {
      r.#server.once('error', rej);
      r.#server.listen(0, '127.0.0.1', () => res());
    });
    r.#url = `http://127.0.0.1:${(r.#server.address() as AddressInfo).port}`;
    return r;
  }

  /** Base URL; any path is accepted and recorded. */
  get url(): string {
    return this.#url;
  }

  /** The next deliveries are answered with these statuses (e.g. 500), in order, then 200 again. */
  failNext(...statuses: number[]): void {
    this.#failures.push(...statuses);
  }

  deliveries(): WebhookDelivery[] {
    return [...this.#deliveries];
  }

  /** Every alert of every delivery, with the message status beside it, in arrival order. */
  alerts(): Array<WebhookAlert & { messageStatus: string; at: number }> {
    return this.#deliveries.flatMap((d) => {
      const m = d.body as Partial<WebhookMessage>;
      return Array.isArray(m?.alerts) ? m.alerts.map((a) => ({ ...a, messageStatus: String(m.status), at: d.at })) : [];
    });
  }

  /** Waits (bounded) until pred(this) is truthy. */
  async waitFor<T>(what: string, pred: (r: WebhookReceiver) => T, timeoutMs = 30_000): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred(this);
      if (v) return v as NonNullable<T>;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; deliveries so far:\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  describe(): string {
    return this.#deliveries.map((d) => `${new Date(d.at).toISOString()} ${d.path} -> ${d.status} ${JSON.stringify(d.body).slice(0, 400)}${d.problems.length ? ` problems: ${d.problems.join('; ')}` : ''}`).join('\n');
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
