/**
 * Deterministic nginx "combined" access-log lines of about 200 bytes, from a
 * seeded PRNG (mulberry32): the same seed and size give the same bytes, so
 * runs compare. Generation is not timed by any scenario.
 */
import { open } from 'node:fs/promises';
import { compressSync } from '../../lib/codec/zstd-pool.js';

export type Rng = () => number;

/** mulberry32: small, fast, good enough for test data; returns [0, 1). */
export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD'];
const STATUSES = [200, 200, 200, 200, 200, 200, 200, 200, 201, 204, 301, 302, 304, 304, 400, 401, 403, 404, 404, 500, 502, 503];
const PATHS = [
  '/api/v1/items/{n}',
  '/api/v1/items/{n}/reviews?page={p}',
  '/api/v2/users/{n}/orders',
  '/api/v2/search?q=term{p}&limit=50',
  '/static/js/app.{h}.js',
  '/static/css/main.{h}.css',
  '/images/products/{n}/thumb.jpg',
  '/checkout/cart',
  '/login?next=%2Faccount%2F{n}',
  '/healthz',
  '/favicon.ico',
  '/blog/{y}/{p}/release-notes-{n}.html',
];
const REFERERS = ['-', 'https://www.example.com/', 'https://www.example.com/products/{n}', 'https://www.google.com/search?q=example', 'https://shop.example.org/cart?id={h}'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'curl/8.5.0',
  'Go-http-client/1.1',
  'Prometheus/2.51.2',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

function fill(tpl: string, rng: Rng): string {
  if (!tpl.includes('{')) return tpl;
  return tpl
    .replace('{n}', String(Math.floor(rng() * 100_000)))
    .replace('{p}', String(1 + Math.floor(rng() * 12)))
    .replace('{y}', String(2019 + Math.floor(rng() * 7)))
    .replace('{h}', Math.floor(rng() * 0xffffffff).toString(16).padStart(8, '0'));
}

let cachedSec = -1;
let cachedTime = '';

/** Formats nginx's $time_local for a unix time in seconds (UTC). */
function timeLocal(sec: number): string {
  if (sec === cachedSec) return cachedTime;
  cachedSec = sec;
  cachedTime = formatTime(sec);
  return cachedTime;
}

function formatTime(sec: number): string {
  const d = new Date(sec * 1000);
  return `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000`;
}

interface Pools {
  ips: string[];
  paths: string[];
  referers: string[];
}

const pools = new WeakMap<Rng, Pools>();

/** Per-generator pools of client addresses, request paths and referers (real logs repeat them too). */
function poolsOf(rng: Rng): Pools {
  let p = pools.get(rng);
  if (!p) {
    const r = (a: readonly string[]) => a[Math.floor(rng() * a.length)]!;
    p = {
      ips: Array.from({ length: 4096 }, () => `${10 + Math.floor(rng() * 200)}.${Math.floor(rng() * 256)}.${Math.floor(rng() * 256)}.${1 + Math.floor(rng() * 254)}`),
      paths: Array.from({ length: 8192 }, () => fill(r(PATHS), rng)),
      referers: Array.from({ length: 1024 }, () => fill(r(REFERERS), rng)),
    };
    pools.set(rng, p);
  }
  return p;
}

/** One line without the newline. `prefix`, when given, starts the line (e.g. a write time). */
export function nginxLine(rng: Rng, unixSec: number, prefix = ''): string {
  const p = poolsOf(rng);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rng() * a.length)]!;
  const status = pick(STATUSES);
  const bytes = status === 304 || status === 204 ? 0 : Math.floor(rng() * 60_000);
  return `${prefix}${pick(p.ips)} - - [${timeLocal(unixSec)}] "${pick(METHODS)} ${pick(p.paths)} HTTP/1.1" ${status} ${bytes} "${pick(p.referers)}" "${pick(AGENTS)}"`;
}

export interface Generated {
  bytes: number;
  lines: number;
}

const START_SEC = 1_760_000_000; // 2025-10-09, fixed for determinism

/**
 * Writes whole lines to `path` until the next line would pass `targetBytes`.
 * Several files (paths) share the target evenly; each has its own seed.
 */
export async function generateFiles(paths: string[], targetBytes: number, seed = 42, onProgress?: (done: number) => void): Promise<Generated> {
  let total = 0;
  let lines = 0;
  const per = Math.floor(targetBytes / paths.length);
  for (let f = 0; f < paths.length; f++) {
    const rng = makeRng(seed + f * 7919);
    const fh = await open(paths[f]!, 'w');
    try {
      let sec = START_SEC;
      let written = 0;
      let done = false;
      while (!done) {
        const parts: string[] = [];
        let chunk = 0;
        while (chunk < 4 << 20) {
          if (rng() < 0.02) sec++;
          const line = nginxLine(rng, sec) + '\n';
          // Lines are ASCII: string length = byte length.
          if (written + chunk + line.length > per) {
            done = true;
            break;
          }
          parts.push(line);
          chunk += line.length;
        }
        if (chunk > 0) {
          await fh.write(parts.join(''));
          written += chunk;
          lines += parts.length;
          onProgress?.(total + written);
        }
      }
      total += written;
    } finally {
      await fh.close();
    }
  }
  return { bytes: total, lines };
}

/**
 * `count` agent batches of `linesPer` generated lines each (seeded), zstd level 1,
 * for benches that speak the agent protocol themselves: made before the clock starts,
 * so the client costs as little as possible.
 */
export function nginxBatches(seed: number, count: number, linesPer: number): Array<{ payload: Buffer; rawLength: number }> {
  const rng = makeRng(seed);
  const out: Array<{ payload: Buffer; rawLength: number }> = [];
  for (let i = 0; i < count; i++) {
    const raw = Buffer.from(Array.from({ length: linesPer }, () => nginxLine(rng, 1_760_000_000 + i) + '\n').join(''));
    out.push({ payload: compressSync(raw, 1), rawLength: raw.length });
  }
  return out;
}
