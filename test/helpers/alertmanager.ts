/**
 * A private Prometheus Alertmanager (Debian's prometheus-alertmanager 0.25) for tests: its own
 * free loopback port, a temp storage dir, a minimal config with one receiver, clustering off
 * (`--cluster.listen-address=` empty, so no gossip port and /-/ready answers at once), readiness
 * polled on /-/ready with a deadline, and stop by PID. listAlerts reads GET /api/v2/alerts.
 *
 * What the tests rely on from Alertmanager 0.25 (own notes from its API v2 and source):
 *  - an alert's identity is its label set; `fingerprint` is a hash of the labels only, so
 *    re-posting the same labels updates one alert instead of adding a second;
 *  - GET /api/v2/alerts never lists an alert whose endsAt has passed (resolved), whatever the
 *    query flags say: "resolved" is observed as "the fingerprint is gone";
 *  - `filter` takes matcher strings such as `alertname="ErrorBurst"` and may repeat.
 * A missing binary or another version fails with what to install; it never skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './procs.js';

const BINARY = 'prometheus-alertmanager';
const WANT_VERSION = /^0\.25\./;

/** One alert as GET /api/v2/alerts returns it (the fields tests read). */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL?: string;
  fingerprint: string;
  receivers: Array<{ name: string }>;
  status: { state: 'unprocessed' | 'active' | 'suppressed'; silencedBy: string[]; inhibitedBy: string[] };
}

/** One alert as POST /api/v2/alerts takes it. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerOptions {
  /** When set, the one receiver is a webhook to this URL (send_resolved on); otherwise a receiver with no integrations. */
  webhookUrl?: string;
  /** Route timings (Alertmanager durations, e.g. "1s"); short defaults so webhook tests are quick. */
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  /** Route group_by; default ['alertname', 'host']. */
  groupBy?: string[];
  /** global.resolve_timeout; default Alertmanager's 5m. */
  resolveTimeout?: string;
  /** Bound on the wait for /-/ready; default 30 s. */
  readyTimeoutMs?: number;
}

export interface Alertmanager {
  /** Base URL, e.g. http://127.0.0.1:40123 (what a logship alertmanager sink's `urls` takes). */
  url: string;
  port: number;
  pid: number;
  /** The temp dir holding the config and --storage.path (removed by stop). */
  dir: string;
  /** stderr + stdout so far, for failure messages. */
  output: () => string;
  /** SIGTERM, SIGKILL after 5 s, then remove the temp dir. Idempotent. */
  stop: () => Promise<void>;
}

const started = new Set<Alertmanager>();

/** Finds the binary (ALERTMANAGER_BIN, PATH, /usr/bin) or throws with what to install. */
export function alertmanagerBinary(): string {
  const explicit = process.env.ALERTMANAGER_BIN;
  const candidates = explicit ? [explicit] : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, BINARY)), `/usr/bin/${BINARY}`];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next candidate
    }
  }
  throw new Error(
    `${BINARY} not found (looked in ${explicit ? `ALERTMANAGER_BIN=${explicit}` : 'PATH and /usr/bin'}). ` +
      'The alerting tests need the real Alertmanager 0.25: run deploy/test-deps.sh (it apt-get installs prometheus-alertmanager).',
  );
}

/** The binary's version ("0.25.0"); throws unless it is 0.25.x, the version the tests are written against. */
export function alertmanagerVersion(bin = alertmanagerBinary()): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const m = /version (\d+\.\d+\.\d+)/.exec(text);
  if (!m) throw new Error(`${bin} --version printed no version (exit ${r.status}): ${text.slice(0, 500)}`);
  if (!WANT_VERSION.test(m[1]!)) throw new Error(`${bin} is version ${m[1]}; the alerting tests are written against Debian bookworm's 0.25.x (run deploy/test-deps.sh on bookworm)`);
  return m[1]!;
}

function configYaml(o: AlertmanagerOptions): string {
  const receiver = o.webhookUrl
    ? { name: 'test', webhook_configs: [{ url: o.webhookUrl, send_resolved: true, max_alerts: 0 }] }
    : { name: 'test' };
  return stringify({
    global: o.resolveTimeout ? { resolve_timeout: o.resolveTimeout } : {},
    route: {
      receiver: 'test',
      group_by: o.groupBy ?? ['alertname', 'host'],
      group_wait: o.groupWait ?? '1s',
      group_interval: o.groupInterval ?? '1s',
      repeat_interval: o.repeatInterval ?? '1h',
    },
    receivers: [receiver],
  });
}

/** Starts a private Alertmanager and waits (bounded) until /-/ready answers 200. */
export async function startAlertmanager(o: AlertmanagerOptions = {}): Promise<Alertmanager> {
  const bin = alertmanagerBinary();
  alertmanagerVersion(bin);
  const readyTimeoutMs = o.readyTimeoutMs ?? 30_000;
  let lastOutput = '';
  // A free port can be taken by someone else between freePort() and the bind: try again then.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'logship-am-'));
    const config = join(dir, 'alertmanager.yml');
    await writeFile(config, configYaml(o));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child: ChildProcess = spawn(
      bin,
      [
        `--config.file=${config}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.external-url=${url}`,
        '--cluster.listen-address=',
        '--log.level=info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const keep = (d: Buffer) => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let stopped = false;
    const am: Alertmanager = {
      url,
      port,
      pid: child.pid!,
      dir,
      output: () => out,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        started.delete(am);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(t);
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
    started.add(am);
    const deadline = Date.now() + readyTimeoutMs;
    let dead = false;
    void exited.then(() => (dead = true));
    while (!dead && Date.now() < deadline) {
      try {
        const r = await fetch(`${url}/-/ready`);
        await r.arrayBuffer();
        if (r.ok) return am;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    lastOutput = out;
    await am.stop();
    if (!/address already in use/.test(lastOutput)) {
      throw new Error(`Alertmanager was not ready on ${url} within ${readyTimeoutMs} ms${dead ? ' (it exited)' : ''}. Output:\n${lastOutput}`);
    }
  }
  throw new Error(`Alertmanager could not bind a free port in 3 attempts. Output:\n${lastOutput}`);
}

/** Stops every Alertmanager this process started that is still running (for afterAll). */
export async function stopAllAlertmanagers(): Promise<void> {
  await Promise.all([...started].map((am) => am.stop()));
}

export interface ListFilter {
  /** Matchers, e.g. ['alertname="ErrorBurst"', 'host="web-01"']. */
  filter?: string[];
  active?: boolean;
  silenced?: boolean;
  inhibited?: boolean;
  unprocessed?: boolean;
  /** Regex on the receiver name. */
  receiver?: string;
}

/** GET /api/v2/alerts with the given filters (resolved alerts are never listed by 0.25). */
export async function listAlerts(baseUrl: string, f: ListFilter = {}): Promise<GettableAlert[]> {
  const q = new URLSearchParams();
  for (const m of f.filter ?? []) q.append('filter', m);
  for (const k of ['active', 'silenced', 'inhibited', 'unprocessed'] as const) if (f[k] !== undefined) q.set(k, String(f[k]));
  if (f.receiver !== undefined) q.set('receiver', f.receiver);
  const qs = q.toString();
  const res = await fetch(`${baseUrl}/api/v2/alerts${qs ? `?${qs}` : ''}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET /api/v2/alerts: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as GettableAlert[];
}

/** POST /api/v2/alerts (for the helper's own test and for seeding). Throws on a non-200 answer. */
export async function postAlerts(baseUrl: string, alerts: PostableAlert[]): Promise<void> {
  const res = await fetch(`${baseUrl}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /api/v2/alerts: HTTP ${res.status}: ${text}`);
}
