/**
 * What every scenario shares: options (argv and BENCH_* env), spawning logship
 * processes (optionally under `node --cpu-prof`), progress lines, result rows
 * with their targets, and cleanup of every process this run started (by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, ROOT, tempDir, waitFor } from '../helpers/procs.js';
import type { MachineShare } from './machine-share.js';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS } from '../../agent/heap-flags.js';
import { AGGREGATOR_NODE_FLAGS } from '../../aggregator/heap-flags.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Parses "1GiB", "256MiB", "64M", "1e9", "1073741824". */
export function parseBytes(s: string): number {
  const m = /^\s*([\d.e+]+)\s*([kmgt]?)(i?b?)\s*$/i.exec(s);
  if (!m) throw new Error(`not a size: "${s}" (try 256MiB or 1GiB)`);
  const mult = { '': 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a size: "${s}"`);
  return n;
}

export function envNumber(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

export interface BenchOptions {
  /** data size of file-to-aggregator and backlog-drain */
  bytes: number;
  profile: boolean;
  /** where results (and profiles) go */
  resultsDir: string;
  stamp: string;
}

export interface Row {
  metric: string;
  value: number | string;
  unit?: string;
  /** e.g. ">= 240"; a row with a target is counted as met or missed */
  target?: string;
  ok?: boolean;
}

export interface ScenarioResult {
  scenario: string;
  seconds: number;
  rows: Row[];
  notes: string[];
  /** scenario specific raw figures, kept in the JSON */
  raw: Record<string, unknown>;
  /** load average and other processes' CPU while it ran; set by the runner (run.ts) */
  machine?: MachineShare;
}

export interface Scenario {
  name: string;
  title: string;
  run: (o: BenchOptions) => Promise<ScenarioResult>;
}

export function atLeast(metric: string, value: number, target: number, unit: string, digits = 1): Row {
  return { metric, value: round(value, digits), unit, target: `>= ${target}`, ok: value >= target };
}

export function atMost(metric: string, value: number, target: number, unit: string, digits = 1): Row {
  return { metric, value: round(value, digits), unit, target: `<= ${round(target, digits)}`, ok: value <= target };
}

export function info(metric: string, value: number | string, unit?: string, digits = 1): Row {
  return { metric, value: typeof value === 'number' ? round(value, digits) : value, ...(unit ? { unit } : {}) };
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export const mib = (b: number): string => (b / MiB).toFixed(1);

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Calls fn every `ms` (2 s by default) to print a progress line; stop() ends it. */
export function progress(fn: () => string, ms = 2_000): { stop: () => void } {
  const t = setInterval(() => log(fn()), ms);
  return { stop: () => clearInterval(t) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

// ---------------------------------------------------------------- processes

export interface Service {
  name: string;
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

const mine = new Set<ChildProcess>();

/**
 * The node flags a bench's `logship agent` runs with: the shipped ones (agent/heap-flags.ts, as the
 * systemd unit and the .deb wrapper pass them), or BENCH_AGENT_NODE_FLAGS (space-separated; '' for none) to A/B them.
 */
export function agentNodeFlags(): string[] {
  const v = process.env.BENCH_AGENT_NODE_FLAGS;
  return v === undefined ? [...AGENT_NODE_FLAGS] : v.split(/\s+/).filter(Boolean);
}

/**
 * Node flags for a bench's `logship aggregator`: the shipped AGGREGATOR_NODE_FLAGS (as the systemd unit,
 * the .deb wrapper and `npm start` pass them), or BENCH_AGGREGATOR_NODE_FLAGS (space-separated; '' for none) to A/B them.
 */
export function aggregatorNodeFlags(): string[] {
  const v = process.env.BENCH_AGGREGATOR_NODE_FLAGS;
  return v === undefined ? [...AGGREGATOR_NODE_FLAGS] : v.split(/\s+/).filter(Boolean);
}

/**
 * The environment a bench's `logship agent` gets on top of the bench's own: the shipped one
 * (AGENT_NODE_ENV, as the systemd unit and the .deb wrapper set it), or BENCH_AGENT_NODE_ENV (a JSON
 * object of strings; '{}' for none) to A/B it.
 */
export function agentNodeEnv(): Record<string, string> {
  const v = process.env.BENCH_AGENT_NODE_ENV;
  if (v === undefined) return { ...AGENT_NODE_ENV };
  const o: unknown = JSON.parse(v);
  if (typeof o !== 'object' || o === null || Array.isArray(o) || Object.values(o).some((x) => typeof x !== 'string')) {
    throw new Error(`BENCH_AGENT_NODE_ENV: a JSON object of strings, got ${v}`);
  }
  return o as Record<string, string>;
}

/**
 * Starts `node [nodeFlags] dist/bin/logship.js <args>`; `logship agent` with agentNodeFlags() and agentNodeEnv(). With
 * profileDir, node runs with --cpu-prof and writes its .cpuprofile there on a clean exit.
 */
export function spawnService(name: string, args: string[], opts: { profileDir?: string; env?: NodeJS.ProcessEnv } = {}): Service {
  const nodeFlags = [...(args[0] === 'agent' ? agentNodeFlags() : []), ...(args[0] === 'aggregator' ? aggregatorNodeFlags() : []), ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [])];
  return spawnTracked(name, process.execPath, [...nodeFlags, CLI, ...args], { LOGSHIP_LOG_PRETTY: '0', ...(args[0] === 'agent' ? agentNodeEnv() : {}), ...opts.env });
}

/** Spawns any program, tracked so that it is stopped (by PID) when the run ends. */
export function spawnTracked(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Service {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  mine.add(child);
  let out = '';
  // BENCH_SERVICE_LOG_DIR: every service's whole output also goes to <dir>/<name>.log (e.g. with --trace-gc).
  const logDir = process.env.BENCH_SERVICE_LOG_DIR;
  const tee = logDir ? createWriteStream(join(logDir, `${name.replace(/[^\w.-]+/g, '_')}-${Date.now()}.log`)) : undefined;
  if (tee) child.once('exit', () => tee.end());
  const keep = (d: Buffer): void => {
    tee?.write(d);
    out += d.toString();
    if (out.length > 400_000) out = out.slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => {
    child.once('exit', (code) => {
      mine.delete(child);
      r(code);
    });
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      mine.delete(child);
      r(null);
    });
  });
  if (child.pid === undefined) throw new Error(`cannot start ${name}: ${cmd}`);
  return { name, child, pid: child.pid, output: () => out, exited };
}

/** SIGTERM, then SIGKILL after graceMs. Resolves with the exit code (null if killed). */
export async function stopService(s: Service, graceMs = 15_000): Promise<number | null> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return s.child.exitCode;
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
  const code = await s.exited;
  clearTimeout(t);
  return code;
}

/** Kills (SIGKILL, by PID) whatever this run started and is still running. */
export function killMine(): void {
  for (const c of mine) c.kill('SIGKILL');
  mine.clear();
}

/** Polls url until it answers (with a 2xx when okOnly); fails early if the process exits. */
export async function waitReady(url: string, s: Service, okOnly = false, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${s.name} at ${url}`,
    async () => {
      if (s.child.exitCode !== null) throw new Error(`${s.name} exited with ${s.child.exitCode}:\n${s.output().slice(-3000)}`);
      const res = await fetch(url);
      await res.arrayBuffer();
      return okOnly ? res.ok : res.status > 0;
    },
    timeoutMs,
    50,
  );
}

const scratchDirs = new Set<string>();

/** A scratch directory under BENCH_DIR (default: the OS temp dir), removed by cleanup(). */
export async function scratch(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  if (process.env.BENCH_DIR) {
    await mkdir(process.env.BENCH_DIR, { recursive: true });
    process.env.TMPDIR = process.env.BENCH_DIR;
  }
  const t = await tempDir(`logship-bench-${prefix}-`);
  scratchDirs.add(t.dir);
  return {
    dir: t.dir,
    cleanup: async () => {
      await t.cleanup();
      scratchDirs.delete(t.dir);
    },
  };
}

/** For an interrupted run: removes the scratch directories still there (generated data can be GiBs). */
export function removeScratchSync(): void {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
  scratchDirs.clear();
}

export function resultsDir(): string {
  return join(ROOT, 'bench-results');
}

/** CPU seconds per GiB of input. */
export const perGiB = (cpuSeconds: number, bytes: number): number => cpuSeconds / (bytes / GiB);
