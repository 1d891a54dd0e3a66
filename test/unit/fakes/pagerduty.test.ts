/** The strict fake PagerDuty Events API v2 the alerting tests page into: its validation, answers, injections and incident book-keeping. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePagerDuty, validateEvent } from '../../fakes/pagerduty.js';

const KEY = 'a'.repeat(32);
const trigger = (over: Record<string, unknown> = {}) => ({
  routing_key: KEY,
  event_action: 'trigger',
  dedup_key: 'ErrorBurst/web-01',
  payload: { summary: 'web-01: 11 errors in 1m', source: 'web-01', severity: 'critical' },
  ...over,
});

let pd: FakePagerDuty;
beforeAll(async () => {
  pd = await FakePagerDuty.start();
});
afterAll(async () => {
  await pd.close();
});

async function send(body: unknown, contentType = 'application/json'): Promise<{ status: number; json: any }> {
  const res = await fetch(pd.enqueueUrl, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describe('validateEvent', () => {
  it('accepts the documented example shapes', () => {
    expect(validateEvent(trigger()).errors).toEqual([]);
    expect(validateEvent({ routing_key: KEY, event_action: 'resolve', dedup_key: 'k' }).errors).toEqual([]);
    expect(validateEvent({ routing_key: KEY, event_action: 'acknowledge', dedup_key: 'k' }).errors).toEqual([]);
    const full = trigger({
      client: 'logship',
      client_url: 'http://127.0.0.1:9400/v1/alerts',
      links: [{ href: 'http://x', text: 'x' }],
      images: [{ src: 'https://x/y.png' }],
      payload: { summary: 's', source: 'h', severity: 'info', timestamp: '2026-12-01T18:00:00.123Z', component: 'c', group: 'g', class: 'k', custom_details: { offsets: [1, 2] } },
    });
    expect(validateEvent(full)).toEqual({ errors: [], warnings: [] });
  });

  it.each([
    ['a 31-character routing_key', trigger({ routing_key: 'a'.repeat(31) }), /routing_key: must be 32 characters, got 31/],
    ['a 33-character routing_key', trigger({ routing_key: 'a'.repeat(33) }), /routing_key: must be 32 characters, got 33/],
    ['no routing_key', trigger({ routing_key: undefined }), /routing_key: required string/],
    ['an unknown event_action', trigger({ event_action: 'resolved' }), /event_action: must be one of trigger, acknowledge, resolve, got "resolved"/],
    ['a resolve without dedup_key', { routing_key: KEY, event_action: 'resolve' }, /dedup_key: required for resolve/],
    ['an acknowledge without dedup_key', { routing_key: KEY, event_action: 'acknowledge' }, /dedup_key: required for acknowledge/],
    ['a 256-character dedup_key', trigger({ dedup_key: 'k'.repeat(256) }), /dedup_key: must be 1-255 characters, got 256/],
    ['a trigger without payload', trigger({ payload: undefined }), /payload: required for trigger/],
    ['a 1025-character summary', trigger({ payload: { summary: 's'.repeat(1025), source: 'h', severity: 'info' } }), /payload.summary: at most 1024 characters, got 1025/],
    ['no source', trigger({ payload: { summary: 's', severity: 'info' } }), /payload.source: required/],
    ['severity "CRITICAL"', trigger({ payload: { summary: 's', source: 'h', severity: 'CRITICAL' } }), /payload.severity: must be one of critical, error, warning, info/],
    ['severity "page"', trigger({ payload: { summary: 's', source: 'h', severity: 'page' } }), /payload.severity/],
    ['a timestamp that is not ISO 8601', trigger({ payload: { summary: 's', source: 'h', severity: 'info', timestamp: 'yesterday' } }), /payload.timestamp/],
    ['custom_details that is an array', trigger({ payload: { summary: 's', source: 'h', severity: 'info', custom_details: [1] } }), /custom_details: must be an object/],
    ['a link without href', trigger({ links: [{ text: 'x' }] }), /links\[0\].href: required string/],
    ['a JSON array', [trigger()], /must be a JSON object/],
  ])('refuses %s', (_name, body, re) => {
    expect(validateEvent(body).errors.join('\n')).toMatch(re);
  });

  it('a 1024-character summary and a 255-character dedup_key are allowed', () => {
    expect(validateEvent(trigger({ dedup_key: 'k'.repeat(255), payload: { summary: 's'.repeat(1024), source: 'h', severity: 'warning' } })).errors).toEqual([]);
  });

  it('reports fields the schema does not list as warnings, not errors', () => {
    expect(validateEvent(trigger({ dedupKey: 'x' }))).toEqual({ errors: [], warnings: ['unknown field "dedupKey"'] });
  });
});

describe('FakePagerDuty over HTTP', () => {
  it('answers 202 with the dedup_key, generates one for a trigger without, and keeps one incident per dedup_key', async () => {
    const a = await send(trigger({ dedup_key: 'one' }));
    expect(a).toEqual({ status: 202, json: { status: 'success', message: 'Event processed', dedup_key: 'one' } });
    const b = await send(trigger({ dedup_key: 'one' }));
    expect(b.status).toBe(202);
    const c = await send(trigger({ dedup_key: undefined }));
    expect(c.status).toBe(202);
    expect(c.json.dedup_key).toMatch(/^[0-9a-f]{32}$/);
    const one = pd.incidents().filter((i) => i.dedupKey === 'one');
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ status: 'triggered', triggers: 2, routingKey: KEY, payload: { source: 'web-01' } });
    expect(pd.incidents().filter((i) => i.dedupKey === c.json.dedup_key)).toHaveLength(1);
  });

  it('a resolve closes the incident; a resolve with nothing open is dropped; a trigger after a resolve opens a new incident', async () => {
    await send(trigger({ dedup_key: 'two' }));
    expect((await send({ routing_key: KEY, event_action: 'resolve', dedup_key: 'two' })).status).toBe(202);
    expect(pd.incidents().filter((i) => i.dedupKey === 'two').map((i) => i.status)).toEqual(['resolved']);
    await send({ routing_key: KEY, event_action: 'resolve', dedup_key: 'two' });
    expect(pd.requests().at(-1)!.outcome).toBe('dropped');
    await send(trigger({ dedup_key: 'two' }));
    expect(pd.incidents().filter((i) => i.dedupKey === 'two').map((i) => i.status)).toEqual(['resolved', 'triggered']);
    // the same dedup_key under another routing key is another incident, and a resolve from it does not close ours
    const other = 'b'.repeat(32);
    await send({ routing_key: other, event_action: 'resolve', dedup_key: 'two' });
    expect(pd.requests().at(-1)!.outcome).toBe('dropped');
    expect(pd.incidents().filter((i) => i.dedupKey === 'two').map((i) => i.status)).toEqual(['resolved', 'triggered']);
  });

  it('acknowledge keeps the incident open; later triggers are folded into it', async () => {
    await send(trigger({ dedup_key: 'ack' }));
    await send({ routing_key: KEY, event_action: 'acknowledge', dedup_key: 'ack' });
    await send(trigger({ dedup_key: 'ack' }));
    const i = pd.incidents().filter((x) => x.dedupKey === 'ack');
    expect(i).toHaveLength(1);
    expect(i[0]).toMatchObject({ status: 'acknowledged', triggers: 2 });
  });

  it('answers 400 with errors for an invalid event, a non-JSON body or a wrong content type, and processes none of them', async () => {
    const before = pd.incidents().length;
    const bad = await send(trigger({ routing_key: 'short', dedup_key: 'bad' }));
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ status: 'invalid event', message: 'Event object is invalid' });
    expect(bad.json.errors.join()).toMatch(/routing_key: must be 32 characters, got 5/);
    const notJson = await send('{"routing_key":');
    expect(notJson.status).toBe(400);
    expect(notJson.json.errors).toEqual(['JSON parse error']);
    const ct = await send(trigger({ dedup_key: 'bad' }), 'text/plain');
    expect(ct.status).toBe(400);
    expect(ct.json.errors.join()).toMatch(/Content-Type must be application\/json/);
    expect(pd.incidents().length).toBe(before);
  });

  it('answers 400 to a body over 512 KB', async () => {
    const big = trigger({ dedup_key: 'big', payload: { summary: 's', source: 'h', severity: 'info', custom_details: { x: 'y'.repeat(600 * 1024) } } });
    const r = await send(big);
    expect(r.status).toBe(400);
    expect(r.json.errors.join()).toMatch(/larger than 524288 bytes/);
  });

  it('404 for another path, 405 for another method', async () => {
    expect((await fetch(`${pd.url}/v1/enqueue`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(pd.enqueueUrl)).status).toBe(405);
  });

  it('injected 429 and 500 answers are used in order, only for matching events, and the events are not processed', async () => {
    pd.inject(429, 2);
    pd.inject(500, 1, (b) => (b as { dedup_key?: string }).dedup_key === 'inj');
    expect(pd.pendingInjections()).toBe(3);
    const r1 = await send(trigger({ dedup_key: 'inj' }));
    expect(r1.status).toBe(429);
    expect(r1.json.status).toBe('throttle event');
    expect((await send(trigger({ dedup_key: 'inj' }))).status).toBe(429);
    expect((await send(trigger({ dedup_key: 'other-inj' }))).status).toBe(202);
    expect((await send(trigger({ dedup_key: 'inj' }))).status).toBe(500);
    expect(pd.pendingInjections()).toBe(0);
    expect(pd.incidents().filter((i) => i.dedupKey === 'inj')).toHaveLength(0);
    expect((await send(trigger({ dedup_key: 'inj' }))).status).toBe(202);
    expect(pd.incidents().filter((i) => i.dedupKey === 'inj')).toEqual([expect.objectContaining({ triggers: 1, status: 'triggered' })]);
    expect(pd.requests().filter((r) => r.injected).map((r) => r.status)).toEqual([429, 429, 500]);
  });

  it('waitFor resolves when a request arrives and times out with the requests listed', async () => {
    const waiting = pd.waitFor('the wait incident', (p) => p.incidents().find((i) => i.dedupKey === 'wait'), 10_000);
    await send(trigger({ dedup_key: 'wait' }));
    expect((await waiting)!.dedupKey).toBe('wait');
    await expect(pd.waitFor('something that never happens', () => false, 200)).rejects.toThrow(/timed out after 200 ms waiting for something that never happens; requests so far:\n.*POST \/v2\/enqueue -> 202/);
  });
});
