/**
 * Spawning real logship processes for end-to-end tests: free ports, config
 * files in temp dirs, readiness by polling HTTP, SIGKILL and restart, and
 * cleanup of every process a test started (by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { request } from 'undici';
import { BATCHES_CONTENT_TYPE, CODEC_NONE, encodeRequest, type WireBatch, type WireRequest } from '../../lib/protocol/batches.js';

const up = resolve(import.meta.dirname, '../..');
/** The repository root, whether this runs from test/ (vitest) or from dist/test/ (bench). */
export const ROOT = basename(up) === 'dist' ? resolve(up, '..') : up;
export const CLI = join(ROOT, 'dist/bin/logship.js');

/**
 * The lowest port the kernel hands out on its own (bind to 0, connect without bind). A port
 * below it can only be taken by a process that asks for it by number, so between freePort()
 * and the test's server binding it no client connection (thousands a second in the soak and
 * the fan-in tests) can grab it as its source port; a port from the ephemeral range can be.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 0;
  } catch {
    return 0;
  }
}
const EPHEMERAL_LOW = ephemeralLow();
/** Ports this process handed out already: two calls never return the same one. */
const handedOut = new Set<number>();

/** Listens on 127.0.0.1:port (0: the kernel's choice) and closes again: the port it had, or undefined if it could not bind. */
function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(undefined));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => res(bound));
    });
  });
}

async function kernelPort(): Promise<number> {
  const port = await listenOnce(0);
  if (port === undefined) throw new Error('cannot bind any loopback port');
  return port;
}

/**
 * A loopback port nothing listens on: a random one from [10000, the ephemeral range's low end)
 * that binds, or the kernel's choice when that range is too small (an unusual
 * ip_local_port_range). Bounded: at most 100 tries.
 */
export async function freePort(): Promise<number> {
  const lo = 10_000;
  const span = EPHEMERAL_LOW - lo;
  if (span >= 2_000) {
    for (let i = 0; i < 100; i++) {
      const port = lo + Math.floor(Math.random() * span);
      if (handedOut.has(port)) continue;
      if ((await listenOnce(port)) !== undefined) {
        handedOut.add(port);
        return port;
      }
    }
  }
  let port = await kernelPort();
  for (let i = 0; i < 100 && handedOut.has(port); i++) port = await kernelPort();
  handedOut.add(port);
  return port;
}

export async function tempDir(prefix = 'logship-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeYaml(path: string, value: unknown): Promise<string> {
  await writeFile(path, stringify(value));
  return path;
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/**
 * Every agent the tests start runs with poisoned payload slabs (agent/buffer/payload-slabs.ts): a slab
 * is filled with 0xA5 the moment its last reference goes, so a payload released too early reaches the
 * aggregator as bytes it refuses and the exactly-once checks lose lines. LOGSHIP_TEST_HOOKS=1 also arms
 * the SIGUSR2 append hold, which only a test that sends the signal uses. A test's own env wins.
 */
const TEST_ENV: NodeJS.ProcessEnv = { LOGSHIP_LOG_PRETTY: '0', LOGSHIP_TEST_HOOKS: '1', LOGSHIP_TEST_POISON_SLABS: '1' };

/** @param nodeArgs node's own flags, before the script (e.g. the agent's shipped flags, agent/heap-flags.ts) */
export function spawnLogship(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Proc {
  return tracked(
    spawn(process.execPath, [...nodeArgs, CLI, ...args], {
      env: { ...process.env, ...TEST_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/**
 * A child spawned with piped stdout and stderr as a Proc: its output kept (the last MB or two) and
 * killed by killAll.
 */
export function tracked(child: ChildProcess): Proc {
  running.add(child);
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      running.delete(child);
      r(code);
    }),
  );
  return { child, output: () => out, exited };
}

export async function killAll(): Promise<void> {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  return p.exited;
}

/** Runs logship to completion and returns its stdout, stderr and exit code. */
export function runLogship(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const so: Buffer[] = [];
    const se: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => so.push(d));
    child.stderr.on('data', (d: Buffer) => se.push(d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      res({ code, stdout: Buffer.concat(so).toString(), stderr: Buffer.concat(se).toString() });
    });
  });
}

/**
 * Polls fn until it returns a truthy value or the deadline passes, then throws with the last value.
 * `what` may be a function: it is called only when the wait times out, so a message that quotes a
 * process's output shows the output at the timeout, not the (empty) output at the call.
 */
export async function waitFor<T>(what: string | (() => string), fn: () => Promise<T> | T, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const label = typeof what === 'function' ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Log lines with this `msg` a process has written so far (its JSON log output). */
export function countLogged(p: Proc, msg: string): number {
  return p.output().split(`"msg":"${msg}"`).length - 1;
}

/** SIGHUP, then wait until the process logs `msg` once more (its service started again in the process). */
export async function reloadAndWait(p: Proc, msg: string, timeoutMs = 30_000): Promise<void> {
  const before = countLogged(p, msg);
  p.child.kill('SIGHUP');
  await waitFor(() => `"${msg}" again after SIGHUP\n${p.output().slice(-2000)}`, () => countLogged(p, msg) > before, timeoutMs);
}

export async function httpJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export async function topicCount(aggUrl: string, topic: string): Promise<number> {
  const t = await httpJson<{ topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }> }>(`${aggUrl}/v1/topics`);
  const x = t.topics.find((y) => y.name === topic);
  return x ? x.partitions.reduce((a, p) => a + p.next_offset - p.first_offset, 0) : 0;
}

export interface Stack {
  dir: string;
  aggPort: number;
  statusPort: number;
  aggUrl: string;
  aggConfig: string;
  agentConfig: string;
  startAggregator: () => Promise<Proc>;
  startAgent: () => Promise<Proc>;
}

/** Writes an aggregator + agent config pair into dir; starting waits for readiness. */
export async function makeStack(dir: string, agentInputs: unknown[], extra: { agent?: Record<string, unknown>; aggregator?: Record<string, unknown> } = {}): Promise<Stack> {
  const aggPort = await freePort();
  const statusPort = await freePort();
  const aggUrl = `http://127.0.0.1:${aggPort}`;
  const aggConfig = await writeYaml(join(dir, 'aggregator.yaml'), {
    listen: `127.0.0.1:${aggPort}`,
    data_dir: join(dir, 'agg-data'),
    topics: { default: { partitions: 4 } },
    ...extra.aggregator,
  });
  const agentConfig = await writeYaml(join(dir, 'agent.yaml'), {
    id: 'test-host',
    data_dir: join(dir, 'agent-data'),
    aggregator: { urls: [aggUrl], max_backoff: '1s' },
    inputs: agentInputs,
    batch: { max_bytes: '1MiB', max_wait: '100ms' },
    status: { listen: `127.0.0.1:${statusPort}` },
    ...extra.agent,
  });
  return {
    dir,
    aggPort,
    statusPort,
    aggUrl,
    aggConfig,
    agentConfig,
    startAggregator: async () => {
      const p = spawnLogship(['aggregator', '--config', aggConfig]);
      await waitFor(() => `aggregator ready\n${p.output()}`, async () => (await fetch(`${aggUrl}/readyz`)).ok, 30_000);
      return p;
    },
    startAgent: async () => {
      const p = spawnLogship(['agent', '--config', agentConfig]);
      await waitFor(() => `agent status listener\n${p.output()}`, async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status > 0, 30_000);
      return p;
    },
  };
}

/** A plain (uncompressed, newline-terminated) wire batch of `lines` for tests that speak POST /v1/batches themselves. */
export function plainBatch(o: { topic: string; source: string; seq: number; lines: string[]; sourceOffset?: number; timestamp?: number }): WireBatch {
  const payload = Buffer.from(o.lines.map((l) => l + '\n').join(''));
  return {
    topic: o.topic,
    source: o.source,
    seq: o.seq,
    sourceOffset: o.sourceOffset ?? 0,
    lines: o.lines.length,
    timestamp: o.timestamp ?? Date.now(),
    codec: CODEC_NONE,
    flags: 0,
    rawLength: payload.length,
    payload,
  };
}

/** The exact request body an agent would send (so a test can save it and re-send it byte for byte). */
export function batchesBody(req: WireRequest): Buffer {
  return Buffer.concat(encodeRequest(req));
}

/** POSTs a request body to /v1/batches; resolves with the status and parsed JSON answer. */
export async function postBatches(aggUrl: string, body: Buffer, token?: string): Promise<{ status: number; json: any }> {
  const res = await request(`${aggUrl}/v1/batches`, {
    method: 'POST',
    body,
    headers: { 'content-type': BATCHES_CONTENT_TYPE, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const text = await res.body.text();
  const status = res.statusCode;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status, json };
}

/** The agent's /status answer, the parts tests read. */
export interface AgentStatus {
  buffer: { bytes: number; max_bytes: number; unacked_batches: number; oldest_unacked_age_seconds: number | null; when_full: string };
  files: Array<{ path: string; offset: number; size: number }>;
  aggregator: { reachable: boolean | null };
}

export function agentStatus(statusPort: number): Promise<AgentStatus> {
  return httpJson<AgentStatus>(`http://127.0.0.1:${statusPort}/status`);
}

/**
 * Waits for delivery to be over instead of sleeping "for a duplicate to show up": the agent (when
 * its status port is given) holds no unacknowledged batch, and the topic's record count is at
 * least `atLeast` and has not changed for `polls` polls in a row. An acknowledgement follows the
 * fsync, so once nothing is unacknowledged every copy a re-send could make is already counted.
 * Returns the settled count.
 */
export async function waitSettled(o: { aggUrl: string; topic: string; atLeast: number; statusPort?: number; polls?: number; timeoutMs?: number; detail?: () => string }): Promise<number> {
  const polls = o.polls ?? 4;
  let last = -1;
  let same = 0;
  let unacked: number | undefined;
  await waitFor(
    () => `${o.topic} to settle at >= ${o.atLeast} records (last count ${last}, unchanged for ${same} polls, agent unacked batches ${unacked ?? 'n/a'})${o.detail ? `\n${o.detail()}` : ''}`,
    async () => {
      const n = await topicCount(o.aggUrl, o.topic);
      unacked = o.statusPort === undefined ? 0 : (await agentStatus(o.statusPort)).buffer.unacked_batches;
      same = n === last && unacked === 0 ? same + 1 : 0;
      last = n;
      return n >= o.atLeast && same >= polls;
    },
    o.timeoutMs ?? 120_000,
    250,
  );
  return last;
}
