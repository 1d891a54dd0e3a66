/**
 * A strict fake of PagerDuty's Events API v2 (`POST /v2/enqueue`), written from its OpenAPI
 * description and PagerDuty's documented semantics, for the alerting tests.
 *
 * Requests: a JSON object (Content-Type application/json, at most 512 KB) with
 *  - routing_key: string of exactly 32 characters;
 *  - event_action: "trigger" | "acknowledge" | "resolve";
 *  - dedup_key: string of 1-255 characters; required for acknowledge and resolve;
 *  - payload: required for trigger: summary (1-1024 characters), source (non-empty),
 *    severity "critical" | "error" | "warning" | "info"; optional timestamp (ISO 8601),
 *    component, group, class (strings), custom_details (object);
 *  - optional client, client_url (strings), links [{href, text?}], images [{src, href?, alt?}].
 * Answers: 202 {status:"success", message:"Event processed", dedup_key} (a trigger without a
 * dedup_key gets a generated one); 400 {status:"invalid event", message, errors[]} for anything
 * malformed (never processed); injected 429 / 5xx answers, queued by the test, are answered
 * before validation and the event is not processed (as PagerDuty drops a throttled event).
 * Fields the schema does not list are accepted and reported in `warnings` (PagerDuty ignores them).
 *
 * Incidents are kept per (routing_key, dedup_key) the way PagerDuty de-duplicates: a trigger
 * while one is open adds to it (`triggers` counts them); acknowledge/resolve of an open one
 * changes its state; acknowledge/resolve with nothing open is dropped (still 202, as the real
 * API is asynchronous); a trigger after a resolve opens a new incident. So "one incident" is
 * `incidents().length === 1`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const ENQUEUE_PATH = '/v2/enqueue';
export const MAX_BODY_BYTES = 512 * 1024;
export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export const EVENT_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;

const TOP_KEYS = new Set(['routing_key', 'event_action', 'dedup_key', 'payload', 'client', 'client_url', 'links', 'images']);
const PAYLOAD_KEYS = new Set(['summary', 'source', 'severity', 'timestamp', 'component', 'group', 'class', 'custom_details']);
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

export interface PagerDutyEvent {
  routing_key: string;
  event_action: (typeof EVENT_ACTIONS)[number];
  dedup_key?: string;
  payload?: {
    summary: string;
    source: string;
    severity: (typeof SEVERITIES)[number];
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  client?: string;
  client_url?: string;
  links?: Array<{ href: string; text?: string }>;
  images?: Array<{ src: string; href?: string; alt?: string }>;
}

/** Every request the fake answered, in order. */
export interface ReceivedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The parsed body, or the raw text when it was not JSON. */
  body: unknown;
  status: number;
  answer: unknown;
  /** True when the answer was an injected failure (the event was not looked at). */
  injected: boolean;
  /** Set when the event was valid and processed. */
  event?: PagerDutyEvent;
  /** What processing did with a valid event. */
  outcome?: 'opened' | 'deduplicated' | 'acknowledged' | 'resolved' | 'dropped';
  errors: string[];
  warnings: string[];
}

export interface Incident {
  /** 1, 2, ... in the order they were opened. */
  number: number;
  routingKey: string;
  dedupKey: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  /** Trigger events applied to this incident (the first included). */
  triggers: number;
  /** The first trigger's payload. */
  payload: NonNullable<PagerDutyEvent['payload']>;
  /** Every event applied to it, in order. */
  events: PagerDutyEvent[];
  openedAt: number;
  resolvedAt?: number;
}

interface Injection {
  status: number;
  remaining: number;
  when?: (body: unknown) => boolean;
}

/** Checks one decoded body against the Events API v2 rules; returns the problems (empty = valid) and unknown fields. */
export function validateEvent(body: unknown): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { errors: ['the event must be a JSON object'], warnings };
  const e = body as Record<string, unknown>;
  for (const k of Object.keys(e)) if (!TOP_KEYS.has(k)) warnings.push(`unknown field "${k}"`);
  if (typeof e.routing_key !== 'string') errors.push('routing_key: required string');
  else if (e.routing_key.length !== 32) errors.push(`routing_key: must be 32 characters, got ${e.routing_key.length}`);
  const action = e.event_action;
  if (!EVENT_ACTIONS.includes(action as never)) errors.push(`event_action: must be one of ${EVENT_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
  if (e.dedup_key !== undefined) {
    if (typeof e.dedup_key !== 'string') errors.push('dedup_key: must be a string');
    else if (e.dedup_key.length === 0 || e.dedup_key.length > 255) errors.push(`dedup_key: must be 1-255 characters, got ${e.dedup_key.length}`);
  } else if (action === 'acknowledge' || action === 'resolve') errors.push(`dedup_key: required for ${action}`);
  if (action === 'trigger' && e.payload === undefined) errors.push('payload: required for trigger');
  if (e.payload !== undefined && action === 'trigger') checkPayload(e.payload, errors, warnings);
  for (const k of ['client', 'client_url'] as const) if (e[k] !== undefined && typeof e[k] !== 'string') errors.push(`${k}: must be a string`);
  checkList(e.links, 'links', 'href', ['text'], errors);
  checkList(e.images, 'images', 'src', ['href', 'alt'], errors);
  return { errors, warnings };
}

function checkPayload(p: unknown, errors: string[], warnings: string[]): void {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    errors.push('payload: must be an object');
    return;
  }
  const o = p as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!PAYLOAD_KEYS.has(k)) warnings.push(`unknown field "payload.${k}"`);
  if (typeof o.summary !== 'string' || o.summary.length === 0) errors.push('payload.summary: required non-empty string');
  else if (o.summary.length > 1024) errors.push(`payload.summary: at most 1024 characters, got ${o.summary.length}`);
  if (typeof o.source !== 'string' || o.source.length === 0) errors.push('payload.source: required non-empty string');
  if (!SEVERITIES.includes(o.severity as never)) errors.push(`payload.severity: must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(o.severity)}`);
  if (o.timestamp !== undefined && (typeof o.timestamp !== 'string' || !ISO_8601.test(o.timestamp) || Number.isNaN(Date.parse(o.timestamp)))) {
    errors.push(`payload.timestamp: must be an ISO 8601 date-time, got ${JSON.stringify(o.timestamp)}`);
  }
  for (const k of ['component', 'group', 'class'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') errors.push(`payload.${k}: must be a string`);
  if (o.custom_details !== undefined && (typeof o.custom_details !== 'object' || o.custom_details === null || Array.isArray(o.custom_details))) {
    errors.push('payload.custom_details: must be an object');
  }
}

function checkList(v: unknown, name: string, required: string, optional: string[], errors: string[]): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) {
    errors.push(`${name}: must be an array`);
    return;
  }
  v.forEach((item, i) => {
    if (typeof item !== 'object' || item === null) return void errors.push(`${name}[${i}]: must be an object`);
    const o = item as Record<string, unknown>;
    if (typeof o[required] !== 'string') errors.push(`${name}[${i}].${required}: required string`);
    for (const k of optional) if (o[k] !== undefined && typeof o[k] !== 'string') errors.push(`${name}[${i}].${k}: must be a string`);
  });
}

export class FakePagerDuty {
  readonly #server: Server;
  readonly #requests: ReceivedRequest[] = [];
  readonly #incidents: Incident[] = [];
  readonly #injections: Injection[] = [];
  readonly #waiters = new Set<() => void>();
  #url = '';

  private constructor() {
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  /** Listens on 127.0.0.1 on a free port. */
  static async start(): Promise<FakePagerDuty> {
    const f = new FakePagerDuty();
    await new Promise<void>((res, rej) => {
      f.#server.once('error', rej);
      f.#server.listen(0, '127.0.0.1', () => res());
    });
    f.#url = `http://127.0.0.1:${(f.#server.address() as AddressInfo).port}`;
    return f;
  }

  /** Base URL, e.g. http://127.0.0.1:40123. */
  get url(): string {
    return this.#url;
  }

  /** What a pagerduty sink's `url` takes. */
  get enqueueUrl(): string {
    return this.#url + ENQUEUE_PATH;
  }

  /** The next `count` enqueue requests (those `when` accepts, if given) are answered `status` and not processed. */
  inject(status: 429 | 500 | 502 | 503, count = 1, when?: (body: unknown) => boolean): void {
    this.#injections.push({ status, remaining: count, when });
  }

  /** Injected answers not yet used. */
  pendingInjections(): number {
    return this.#injections.reduce((a, i) => a + i.remaining, 0);
  }

  requests(): ReceivedRequest[] {
    return [...this.#requests];
  }

  /** Valid events that were processed (202), in order. */
  events(): PagerDutyEvent[] {
    return this.#requests.filter((r) => r.event).map((r) => r.event!);
  }

  incidents(): Incident[] {
    return [...this.#incidents];
  }

  /** Waits (bounded) until pred(this) is truthy; re-checked after every request. */
  async waitFor<T>(what: string, pred: (pd: FakePagerDuty) => T, timeoutMs = 30_000): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred(this);
      if (v) return v as NonNullable<T>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; requests so far:\n${this.describe()}`);
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(t);
          this.#waiters.delete(done);
          r();
        };
        const t = setTimeout(done, Math.min(left, 500));
        this.#waiters.add(done);
      });
    }
  }

  /** One line per request, for failure messages. */
  describe(): string {
    return this.#requests
      .map((r) => {
        const b = r.body as Partial<PagerDutyEvent> | undefined;
        const what = b && typeof b === 'object' ? `${b.event_action} ${b.dedup_key ?? '(no dedup_key)'}` : JSON.stringify(r.body).slice(0, 80);
        return `${new Date(r.at).toISOString()} ${r.method} ${r.path} -> ${r.status}${r.injected ? ' (injected)' : ''} ${what}${r.outcome ? ` [${r.outcome}]` : ''}${r.errors.length ? ` errors: ${r.errors.join('; ')}` : ''}`;
      })
      .join('\n');
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0]!;
    const rec: ReceivedRequest = { at: Date.now(), method: req.method ?? '', path, headers: req.headers, body: text, status: 0, answer: undefined, injected: false, errors: [], warnings: [] };
    try {
      rec.body = JSON.parse(text);
    } catch {
      // kept as text
    }
    const answer = (status: number, body: unknown) => {
      rec.status = status;
      rec.answer = body;
      this.#requests.push(rec);
      const s = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
      res.end(s);
      for (const w of [...this.#waiters]) w();
    };
    if (path !== ENQUEUE_PATH) return answer(404, { status: 'not found', message: `no such endpoint ${path}` });
    if (req.method !== 'POST') return answer(405, { status: 'method not allowed', message: 'use POST' });
    const inj = this.#injections.find((i) => i.remaining > 0 && (!i.when || i.when(rec.body)));
    if (inj) {
      inj.remaining--;
      if (inj.remaining === 0) this.#injections.splice(this.#injections.indexOf(inj), 1);
      rec.injected = true;
      return answer(
        inj.status,
        inj.status === 429
          ? { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' }
          : { status: 'error', message: `injected ${inj.status}` },
      );
    }
    const invalid = (errors: string[], status = 'invalid event', message = 'Event object is invalid') => {
      rec.errors = errors;
      return answer(400, { status, message, errors });
    };
    if (tooBig) return invalid([`the request is larger than ${MAX_BODY_BYTES} bytes`]);
    const ct = String(req.headers['content-type'] ?? '');
    if (!/^application\/json\s*(;|$)/i.test(ct)) return invalid([`Content-Type must be application/json, got ${JSON.stringify(ct)}`]);
    if (typeof rec.body === 'string') return invalid(['JSON parse error'], 'Unrecognized object', 'Event object format is unrecognized');
    const { errors, warnings } = validateEvent(rec.body);
    rec.warnings = warnings;
    if (errors.length) return invalid(errors);
    const ev = rec.body as PagerDutyEvent;
    rec.event = ev;
    const dedupKey = ev.dedup_key ?? randomBytes(16).toString('hex');
    rec.outcome = this.#apply(ev, dedupKey, rec.at);
    return answer(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }

  #apply(ev: PagerDutyEvent, dedupKey: string, at: number): NonNullable<ReceivedRequest['outcome']> {
    const open = this.#incidents.find((i) => i.routingKey === ev.routing_key && i.dedupKey === dedupKey && i.status !== 'resolved');
    if (ev.event_action === 'trigger') {
      if (open) {
        open.triggers++;
        open.events.push(ev);
        return 'deduplicated';
      }
      this.#incidents.push({ number: this.#incidents.length + 1, routingKey: ev.routing_key, dedupKey, status: 'triggered', triggers: 1, payload: ev.payload!, events: [ev], openedAt: at });
      return 'opened';
    }
    if (!open) return 'dropped';
    open.events.push(ev);
    if (ev.event_action === 'acknowledge') {
      open.status = 'acknowledged';
      return 'acknowledged';
    }
    open.status = 'resolved';
    open.resolvedAt = at;
    return 'resolved';
  }
}
