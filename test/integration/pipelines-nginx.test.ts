/**
 * Issue 14 acceptance: Debian's nginx as a private instance (own prefix, conf,
 * pid and logs; daemon off, master_process off: one process as the current
 * user; 127.0.0.1 on a free port). undici sends 10,000 varied requests
 * (methods, query strings, raw UTF-8 bytes and percent-encoded UTF-8 in
 * paths, statuses, user agents with quotes, referers); the agent ships the
 * real access and error logs; `logship read --parse` shows the documents the
 * nginx_access / nginx_error presets make, each checked against what was sent.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'undici';
import { killNginx, startNginx, type Nginx } from '../helpers/nginx.js';
import { freePort, killAll, makeStack, runLogship, stop, tempDir, waitSettled } from '../helpers/procs.js';

afterAll(async () => {
  killNginx();
  await killAll();
});

interface Sent {
  id: number;
  method: string;
  /** the path as the document should show it: the UTF-8 text of the bytes sent */
  path: string;
  status: number;
  bytes: number;
  ua: string;
  referer: string | undefined;
  start: number;
  end: number;
}

const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'];
const STATUSES = [200, 201, 204, 301, 400, 403, 404, 418, 500, 503];
const WORDS = ['café', 'naïve', 'Ünïcödé', 'データ', '😀', 'a b', 'x+y', '100%', 'plain', 'κόσμε'];
const UAS = ['curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', 'agent "quoted" \\ back', 'Ünïcödé-bot/1.0 (κόσμε)', 'python-requests/2.31'];

/** A UTF-8 string as a "binary" string (one char per byte), so undici writes the raw bytes. */
const rawBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('pipelines: nginx access and error logs', () => {
  it('every document has the method, path, status, bytes, source.ip, user agent and @timestamp that were sent', { timeout: 300_000 }, async () => {
    const t = await tempDir();
    let nginx: Nginx | undefined;
    try {
      const ngx = join(t.dir, 'nginx');
      const port = await freePort();
      const statusLocations = STATUSES.map((s) => (s === 301 ? `location /s/301/ { return 301 /moved; }` : s === 204 ? `location /s/204/ { return 204; }` : `location /s/${s}/ { return ${s} "status ${s}\\n"; }`)).join('\n    ');
      const logs = join(ngx, 'logs');
      await mkdir(join(ngx, 'www'), { recursive: true });
      nginx = await startNginx(ngx, {
        errorLevel: 'error',
        readyUrl: `http://127.0.0.1:${port}/s/200/`,
        http: `  access_log ${join(logs, 'access.log')} combined;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    root ${join(ngx, 'www')};
    ${statusLocations}
  }`,
      });

      const stack = await makeStack(
        t.dir,
        [
          { type: 'file', topic: 'nginx-access', include: [join(logs, 'access.log')], start_at: 'beginning' },
          { type: 'file', topic: 'nginx-error', include: [join(logs, 'error.log')], start_at: 'beginning' },
        ],
        {
          aggregator: {
            pipelines: {
              access: { topics: ['nginx-access'], steps: [{ type: 'pattern', preset: 'nginx_access' }] },
              errors: { topics: ['nginx-error'], steps: [{ type: 'pattern', preset: 'nginx_error' }] },
            },
          },
        },
      );
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();

      // 10,000 requests, a few at a time over keep-alive; each carries its id in the query string
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
      const sent: Sent[] = [];
      const missing: Array<{ id: number; path: string; start: number; end: number }> = [];
      const N = 10_000;
      let next = 0;
      const worker = async () => {
        while (next < N) {
          const id = next++;
          const word = WORDS[id % WORDS.length]!;
          const utf8Raw = id % 3 === 0;
          const seg = utf8Raw ? word.replace(/ /g, '_').replace(/%/g, '%25') : encodeURIComponent(word);
          if (id % 50 === 7) {
            // a file that does not exist: 404 from the file module, and an error-log line
            const path = `/files/missing-${id}.txt?id=${id}`;
            const start = Date.now();
            const res = await pool.request({ method: 'GET', path });
            await res.body.dump();
            missing.push({ id, path, start, end: Date.now() });
            continue;
          }
          const method = METHODS[id % METHODS.length]!;
          const status = STATUSES[(id >> 1) % STATUSES.length]!;
          const path = `/s/${status}/${seg}/p${id}?id=${id}&q=${encodeURIComponent(word)}&n=${id % 7}`;
          const ua = UAS[id % UAS.length]!;
          const referer = id % 4 === 0 ? undefined : `http://example.com/from/${id % 13}?r=1`;
          const headers: Record<string, string> = { 'user-agent': rawBytes(ua) };
          if (referer) headers.referer = referer;
          const start = Date.now();
          const res = await pool.request({ method: method as 'GET', path: utf8Raw ? rawBytes(path) : path, headers, body: method === 'POST' || method === 'PUT' ? `body ${id}` : undefined });
          const body = Buffer.from(await res.body.arrayBuffer());
          sent.push({ id, method, path, status: res.statusCode, bytes: method === 'HEAD' ? 0 : body.length, ua, referer, start, end: Date.now() });
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      await pool.close();
      expect(sent.length + missing.length).toBe(N);
      // each status location was reached (nginx answered what we asked for)
      expect(new Set(sent.map((s) => s.status))).toEqual(new Set(STATUSES));

      expect(await waitSettled({ aggUrl: stack.aggUrl, topic: 'nginx-access', atLeast: N + 1, statusPort: stack.statusPort, timeoutMs: 120_000 })).toBe(N + 1);
      const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'nginx-access', '--parse'], {}, 120_000);
      expect(r.code, r.stderr).toBe(0);
      const docs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
      expect(docs.length).toBe(N + 1); // the readiness probe too
      expect(docs.filter((d) => d.tags)).toEqual([]);

      const byId = new Map<number, Record<string, any>>();
      for (const d of docs) {
        const m = /[?&]id=(\d+)/.exec(d.url?.original ?? '');
        if (m) byId.set(Number(m[1]), d);
      }
      const second = (ms: number) => Math.floor(ms / 1000) * 1000;
      for (const s of sent) {
        const d = byId.get(s.id);
        expect(d, `request ${s.id}`).toBeDefined();
        expect({
          method: d!.http.request.method,
          path: d!.url.original,
          status: d!.http.response.status_code,
          bytes: d!.http.response.body?.bytes,
          ip: d!.source.ip,
          ua: d!.user_agent?.original,
          referer: d!.http.request.referrer,
        }).toEqual({ method: s.method, path: s.path, status: s.status, bytes: s.bytes, ip: '127.0.0.1', ua: s.ua, referer: s.referer });
        const ts = Date.parse(d!['@timestamp']);
        expect(ts >= second(s.start) && ts <= s.end, `request ${s.id}: @timestamp ${d!['@timestamp']} outside ${new Date(s.start).toISOString()}..${new Date(s.end).toISOString()}`).toBe(true);
        expect(d!.message).toMatch(/^127\.0\.0\.1 - - \[/); // the raw line is kept
      }
      for (const m of missing) expect(byId.get(m.id)?.http.response.status_code).toBe(404);

      // error log: one "open() ... failed" line per missing file, parsed
      await waitSettled({ aggUrl: stack.aggUrl, topic: 'nginx-error', atLeast: missing.length, statusPort: stack.statusPort, timeoutMs: 60_000 });
      const e = await runLogship(['read', '--url', stack.aggUrl, '--topic', 'nginx-error', '--parse'], {}, 60_000);
      const errs = e.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
      const opens = errs.filter((d) => typeof d.message === 'string' && d.message.startsWith('open()'));
      expect(opens.length).toBe(missing.length);
      const byPath = new Map(opens.map((d) => [d.url.original as string, d]));
      for (const m of missing) {
        const d = byPath.get(m.path);
        expect(d, m.path).toBeDefined();
        expect({ level: d!.log.level, ip: d!.source.ip, method: d!.http.request.method, pid: d!.process.pid }).toEqual({ level: 'error', ip: '127.0.0.1', method: 'GET', pid: nginx.child.pid });
        const ts = Date.parse(d!['@timestamp']);
        expect(ts >= second(m.start) && ts <= m.end).toBe(true);
      }
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      nginx?.stop();
      await t.cleanup();
    }
  });
});
