/**
 * Issue 16, the status page: a real aggregator with tokens and an
 * Elasticsearch sink whose cluster (test/fakes/elasticsearch.ts) stops
 * answering after the first commit, so the sink's lag grows; two agents (hosts web-1 and db-2) ship
 * growing files; one more "host" posts a batch under a name made of HTML.
 * Debian's headless Chromium (/usr/bin/chromium, driven by playwright-core,
 * no browser download) opens /ui, first without a token (the form), then
 * with a wrong one (refused), then the read token typed in; then a second
 * page with the token in the URL fragment and a phone-sized viewport. The
 * page must show both hosts with non-zero rates and the sink's lag, show the
 * HTML host name as text, never send the token in a URL, fetch nothing but
 * 127.0.0.1:<aggregator port> (every request is intercepted; any other is
 * aborted and fails the test), and break no CSP rule. Screenshots go to
 * test-artifacts/status-page.png and status-page-phone.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { access, appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startFakeElasticsearch, type FakeElasticsearch } from '../fakes/elasticsearch.js';
import { batchesBody, freePort, killAll, plainBatch, postBatches, ROOT, spawnLogship, stop, tempDir, waitFor, writeYaml, type Proc } from '../helpers/procs.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const INGEST = 'ingest-token-0123456789abcdef0123456789';
const READ = 'read-token-fedcba9876543210fedcba9876543';
const HOSTILE = '<img src=x onerror="window.__pwned=1">evil';

describe('status page in headless Chromium', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let es: FakeElasticsearch;
  let aggUrl: string;
  let origin: string;
  let agg: Proc;
  const agents: Proc[] = [];
  let browser: Browser | undefined;
  let writing = true;
  let writer: Promise<void> | undefined;
  /** every URL the browser asked for, and those that were not to the aggregator */
  const requested: string[] = [];
  const foreign: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    await access(CHROMIUM).catch(() => {
      throw new Error(`${CHROMIUM} is missing: run bash deploy/test-deps.sh (Debian package chromium)`);
    });
    tmp = await tempDir('logship-ui-');
    es = await startFakeElasticsearch({ flavor: '8', countOnly: true });
    const port = await freePort();
    aggUrl = `http://127.0.0.1:${port}`;
    origin = `127.0.0.1:${port}`;
    const aggConfig = await writeYaml(join(tmp.dir, 'aggregator.yaml'), {
      listen: `127.0.0.1:${port}`,
      data_dir: join(tmp.dir, 'agg-data'),
      topics: { default: { partitions: 2 } },
      auth: {
        tokens: [
          { name: 'agents', token: INGEST, scopes: ['ingest'] },
          { name: 'ui', token: READ, scopes: ['read'] },
        ],
      },
      sinks: [{ name: 'search', type: 'elasticsearch', topics: ['app'], urls: [es.url], data_stream: 'logs-{topic}-default' }],
    });
    agg = spawnLogship(['aggregator', '--config', aggConfig]);
    await waitFor(() => `aggregator ready\n${agg.output()}`, async () => (await fetch(`${aggUrl}/readyz`)).ok, 30_000);

    const logs = join(tmp.dir, 'logs');
    await mkdir(logs);
    for (const host of ['web-1', 'db-2']) {
      const file = join(logs, `${host}.log`);
      await writeFile(file, '');
      const statusPort = await freePort();
      const cfg = await writeYaml(join(tmp.dir, `${host}.yaml`), {
        id: host,
        data_dir: join(tmp.dir, `${host}-data`),
        aggregator: { urls: [aggUrl], token: INGEST, max_backoff: '1s' },
        inputs: [{ type: 'file', topic: 'app', include: [file], start_at: 'beginning' }],
        batch: { max_bytes: '256KiB', max_wait: '100ms' },
        status: { listen: `127.0.0.1:${statusPort}` },
      });
      const p = spawnLogship(['agent', '--config', cfg]);
      agents.push(p);
      await waitFor(() => `agent ${host} status listener\n${p.output()}`, async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status > 0, 30_000);
    }
    // Both files grow for the whole test, so both hosts have rates.
    writer = (async () => {
      let n = 0;
      while (writing) {
        for (const host of ['web-1', 'db-2']) {
          let s = '';
          for (let i = 0; i < 50; i++) s += `${new Date().toISOString()} ${host} GET /api/items/${n + i} 200 ${'x'.repeat(80)}\n`;
          await appendFile(join(logs, `${host}.log`), s);
        }
        n += 50;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // The sink delivers (and commits) at first; then its cluster stops answering, so its lag shows and grows.
    await waitFor(
      () => `the sink's first commit\n${agg.output().slice(-2000)}`,
      async () => Object.keys(((await (await fetch(`${aggUrl}/v1/groups/sink-search/offsets`, { headers: { authorization: `Bearer ${READ}` } })).json()) as { offsets: object }).offsets).length > 0,
      60_000,
      200,
    );
    es.faults.stall = true;
    // A client whose host name is markup: the page must show it as text.
    const hostile = await postBatches(aggUrl, batchesBody({ producer: 'hostile-producer', epoch: 1, host: HOSTILE, batches: [plainBatch({ topic: 'other', source: '/x', seq: 0, lines: ['hello'] })] }), INGEST);
    expect(hostile.status).toBe(200);

    // Beyond the per-request check below: the browser itself resolves no host name at all (its own
    // background traffic included), so nothing can leave the machine even outside a page.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
      timeout: 60_000,
    });
  }, 180_000);

  afterAll(async () => {
    writing = false;
    await writer;
    await browser?.close().catch(() => undefined);
    for (const p of agents) await stop(p, 'SIGKILL');
    if (agg) await stop(agg, 'SIGKILL');
    await killAll();
    await es?.close();
    await tmp?.cleanup();
  });

  /** A page whose every request is checked: only the aggregator's origin is let through. */
  async function openPage(viewport: { width: number; height: number }): Promise<Page> {
    const ctx = await browser!.newContext({ viewport, serviceWorkers: 'block' });
    await ctx.route('**/*', async (route) => {
      const url = route.request().url();
      requested.push(url);
      let host = '';
      try {
        host = new URL(url).host;
      } catch {
        /* not a URL: foreign */
      }
      if (host !== origin) {
        foreign.push(url);
        await route.abort();
        return;
      }
      await route.continue();
    });
    const page = await ctx.newPage();
    page.on('console', (m) => {
      // The wrong token's 401s are expected; anything else (a CSP violation, a script error) is not.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    return page;
  }

  /** One table's rows as arrays of cell texts. */
  const rows = (page: Page, id: string) =>
    page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')));

  const hostRow = (all: string[][], host: string) => all.find((r) => r[0] === host);
  /** Bytes/s and records/s cells that say something other than zero. */
  const moving = (r: string[] | undefined) => r !== undefined && /^[\d.,]+ (B|KiB|MiB)\/s$/.test(r[2]!) && !/^0 B\/s$/.test(r[2]!) && /^[\d.,]+\/s$/.test(r[3]!) && r[3] !== '0/s';

  it('over HTTP: /ui is open static HTML with a strict CSP; /v1/agents needs the read scope and reports what agents send', { timeout: 60_000 }, async () => {
    const ui = await fetch(`${aggUrl}/ui/`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(ui.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await ui.text();
    expect(html).not.toMatch(/https?:\/\//); // nothing to fetch from anywhere
    expect(html).not.toContain('web-1'); // no data in the page itself
    const head = await fetch(`${aggUrl}/ui`, { method: 'HEAD' });
    expect([head.status, (await head.text()).length]).toEqual([200, 0]);
    const post = await fetch(`${aggUrl}/ui`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(400);
    expect(((await post.json()) as { error: { reason: string } }).error.reason).toContain('use GET');

    expect((await fetch(`${aggUrl}/v1/agents`)).status).toBe(401);
    expect((await fetch(`${aggUrl}/v1/agents`, { headers: { authorization: `Bearer ${INGEST}` } })).status).toBe(403);
    type View = { host: string; producer: string; bytes_total: number; records_total: number; buffer_bytes: number | null; buffer_max_bytes: number | null; unacked_batches: number | null; lag_bytes: number | null };
    const agentsNow = async () => {
      const res = await fetch(`${aggUrl}/v1/agents`, { headers: { authorization: `Bearer ${READ}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { agents: View[] }).agents;
    };
    const seen = await waitFor('both agents in /v1/agents', async () => {
      const a = await agentsNow();
      return a.some((x) => x.host === 'web-1' && x.records_total > 0) && a.some((x) => x.host === 'db-2' && x.records_total > 0) && a;
    }, 60_000, 200);
    for (const host of ['web-1', 'db-2']) {
      const v = seen.find((x) => x.host === host)!;
      expect(v.buffer_bytes).toBeGreaterThan(0);
      expect(v.buffer_max_bytes).toBe(2 * 1024 ** 3); // the agent's default buffer.max_bytes
      expect(v.unacked_batches).toBeGreaterThanOrEqual(0);
      expect(v.lag_bytes).toBeGreaterThanOrEqual(0);
    }
    // The hostile client sent no status header: nothing is made up for it.
    expect(seen.find((x) => x.host === HOSTILE)).toMatchObject({ producer: 'hostile-producer', bytes_total: 6, records_total: 1, buffer_bytes: null, lag_bytes: null });
  });

  it('shows both hosts with their rates, the sink lag and topic rates; asks for a token; sends nothing elsewhere', { timeout: 240_000 }, async () => {
    const page = await openPage({ width: 1280, height: 900 });
    const res = await page.goto(`${aggUrl}/ui`);
    expect(res?.status()).toBe(200);
    const csp = res!.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe');

    // No token yet: the form asks for one.
    await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
    await page.fill('#token', 'not-the-right-token-0000000000000000');
    await page.click('#login button[type=submit]');
    await waitFor('the wrong token refused', async () => (await page.textContent('#state'))?.includes('refused'), 20_000);
    await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });

    await page.fill('#token', READ);
    await page.click('#login button[type=submit]');
    const agentRows = await waitFor(
      async () => `both hosts with rates; agents table: ${JSON.stringify(await rows(page, 'agents').catch(() => []))}, state ${await page.textContent('#state').catch(() => '')}`,
      async () => {
        const r = await rows(page, 'agents');
        return moving(hostRow(r, 'web-1')) && moving(hostRow(r, 'db-2')) && r;
      },
      90_000,
      500,
    );
    for (const host of ['web-1', 'db-2']) {
      const r = hostRow(agentRows, host)!;
      expect(r[1]).toMatch(/s ago$/);
      expect(r[4]).toMatch(/^[\d.]+ (B|KiB|MiB) \/ [\d.]+ (MiB|GiB)$/); // buffer / its bound, as the agent reports them
      expect(r[5]).toMatch(/^[\d.]+ (B|KiB|MiB)$/); // lag the agent reports
    }

    // The sink: degraded or not, its lag on topic app is more than zero records.
    const sinkRow = await waitFor(
      async () => `the sink's lag; sinks table: ${JSON.stringify(await rows(page, 'sinks').catch(() => []))}`,
      async () => (await rows(page, 'sinks')).find((r) => r[0] === 'search' && Number(r[3]!.replace(/,/g, '')) > 0),
      60_000,
      500,
    );
    expect(sinkRow[1]).toBe('elasticsearch');
    expect(sinkRow[4]).toMatch(/^app: [\d,]+$/);
    // The sink's consumer group (sink-<name>) among the consumer groups, with its lag.
    await waitFor(
      async () => `the sink's group; groups table: ${JSON.stringify(await rows(page, 'groups').catch(() => []))}`,
      async () => (await rows(page, 'groups')).some((r) => r[0] === 'sink-search' && Number(r[1]!.replace(/,/g, '')) > 0 && /^app: [\d,]+$/.test(r[2]!)),
      60_000,
      500,
    );

    // Topic rates come from two polls: app's partitions show records/s.
    await waitFor(
      async () => `topic rates; topics table: ${JSON.stringify(await rows(page, 'topics').catch(() => []))}`,
      async () => (await rows(page, 'topics')).some((r) => r[0] === 'app' && /^[\d.,]+\/s$/.test(r[4]!) && r[4] !== '0/s'),
      60_000,
      500,
    );
    expect((await rows(page, 'alerts'))[0]?.[0]).toBe('no alert is firing');

    // The markup host name is text: shown as is, nothing of it ran or became an element.
    expect(hostRow(await rows(page, 'agents'), HOSTILE)).toBeDefined();
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.$$('#agents img')).toHaveLength(0);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    await page.context().close();

    // The token in the fragment: used, stored for the tab, and taken out of the address bar.
    const phone = await openPage({ width: 375, height: 740 });
    await phone.goto(`${aggUrl}/ui#token=${encodeURIComponent(READ)}`);
    await waitFor(
      async () => `both hosts on the phone page: ${JSON.stringify(await rows(phone, 'agents').catch(() => []))}`,
      async () => {
        const r = await rows(phone, 'agents');
        return hostRow(r, 'web-1') && hostRow(r, 'db-2');
      },
      30_000,
      300,
    );
    expect(new URL(phone.url()).hash).toBe('');
    expect(await phone.evaluate(() => sessionStorage.getItem('logship-token'))).toBe(READ);
    // Readable on a phone: nothing wider than the screen (tables become one card per row).
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await phone.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true });
    await phone.context().close();

    expect(foreign).toEqual([]);
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((u) => u.includes(READ) || u.includes('token='))).toEqual([]);
    expect(problems).toEqual([]);
  });
});
