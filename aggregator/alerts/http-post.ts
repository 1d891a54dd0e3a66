/** One JSON POST for the notifiers: bounded in time, body read (bounded) for error messages. */
import { request, type Dispatcher } from 'undici';
import { SendError } from './notifier.js';

export interface PostResult {
  status: number;
  body: string;
}

const MAX_ERROR_BODY = 2_000;

export async function postJson(url: string, body: unknown, o: { headers?: Record<string, string>; timeoutMs?: number; dispatcher?: Dispatcher } = {}): Promise<PostResult> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'user-agent': 'logship-alerts', ...o.headers },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
    });
  } catch (err) {
    throw new SendError(`POST ${redact(url)}: ${(err as Error).message}`, false);
  }
  let text = '';
  try {
    for await (const chunk of res.body) {
      if (text.length < MAX_ERROR_BODY) text += (chunk as Buffer).toString('utf8');
    }
  } catch {
    /* the status is what counts */
  }
  return { status: res.statusCode, body: text.slice(0, MAX_ERROR_BODY) };
}

/** A URL as it may be logged: no user info, no query. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** 429, 5xx: try again; other non-2xx: permanent. */
export function checkStatus(what: string, r: PostResult): void {
  if (r.status >= 200 && r.status < 300) return;
  const transient = r.status === 429 || r.status >= 500;
  throw new SendError(`${what}: HTTP ${r.status}${r.body ? `: ${r.body.replace(/\s+/g, ' ').slice(0, 500)}` : ''}`, !transient);
}
