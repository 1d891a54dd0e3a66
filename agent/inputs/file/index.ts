/**
 * The `file` input: finds matching files, resolves each to a content stream
 * (fingerprint first, device+inode as a tie-breaker), and runs one Tailer per
 * open file. Renamed or deleted files keep being read through their open
 * descriptor until drained and idle.
 */
import { stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { FileInputConfig } from '../../config.js';
import type { Logger } from '../../../lib/obs/logger.js';
import { createMatcher, scanMatches, watchMatches, type Matcher } from './discovery.js';
import { matchesFingerprint } from './fingerprint.js';
import type { StreamRegistry, StreamState } from './streams.js';
import { Tailer, type TailerContext } from './tailer.js';

export interface FileInputDeps {
  registry: StreamRegistry;
  logger: Logger;
  ctx: Omit<TailerContext, 'onTruncated'>;
  now: () => number;
  onRotation: () => void;
  onTruncation: () => void;
}

/** A closed rotated file is kept this long after its last growth once drained. */
const DRAIN_IDLE_MS = 2_000;
const POLL_MS = 250;

export class FileInput {
  readonly cfg: FileInputConfig;
  #deps: FileInputDeps;
  #matcher: Matcher;
  #byPath = new Map<string, Tailer>();
  #tailers = new Set<Tailer>();
  #watcher: FSWatcher | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #pending = new Map<string, Promise<void>>();
  #closed = false;
  #ctx: TailerContext;

  constructor(cfg: FileInputConfig, deps: FileInputDeps) {
    this.cfg = cfg;
    this.#deps = deps;
    this.#matcher = createMatcher(
      cfg.include.map((p) => resolve(p)),
      cfg.exclude.map((p) => (p.includes('/') ? resolve(p) : p)),
    );
    this.#ctx = {
      ...deps.ctx,
      onTruncated: (t, from) => {
        deps.logger.info({ path: t.path, from }, 'file truncated; reading it again from the start');
        deps.onTruncation();
      },
    };
  }

  get tailers(): ReadonlySet<Tailer> {
    return this.#tailers;
  }

  async start(): Promise<void> {
    for (const p of await scanMatches(this.#matcher)) await this.#check(p, true);
    this.#watcher = watchMatches(this.#matcher, {
      add: (p) => void this.#check(p, false),
      change: (p) => this.#poke(p),
      unlink: (p) => this.#detach(p),
      error: (err) => this.#deps.logger.warn({ err, input: this.cfg.name }, 'file watcher error; the reconcile scan keeps going'),
    });
    this.#pollTimer = setInterval(() => this.#poll(), POLL_MS);
    this.#pollTimer.unref();
    this.#scheduleScan();
  }

  #scheduleScan(): void {
    this.#scanTimer = setTimeout(async () => {
      try {
        const seen = new Set(await scanMatches(this.#matcher));
        for (const p of seen) await this.#check(p, false);
        for (const p of this.#byPath.keys()) if (!seen.has(p)) this.#detach(p);
      } catch (err) {
        this.#deps.logger.warn({ err }, 'reconcile scan failed');
      }
      if (!this.#closed) this.#scheduleScan();
    }, this.cfg.scan_interval);
    this.#scanTimer.unref();
  }

  /** Wakes every tailer that may have work: growth we were not told about, capacity back, partial lines, drains. */
  #poll(): void {
    const now = this.#deps.now();
    for (const t of this.#tailers) {
      if (t.detached && t.readOffset >= t.size && now - t.lastGrowth >= DRAIN_IDLE_MS && !t.hasPartial) {
        this.#release(t);
        continue;
      }
      if (t.detached || t.hasPartial || t.lag > 0) this.#pump(t);
    }
  }

  /** Kicks all tailers (after capacity returns). */
  wake(): void {
    for (const t of this.#tailers) if (t.lag > 0 || t.hasPartial) this.#pump(t);
  }

  #pump(t: Tailer): void {
    t.pump(this.#ctx).catch((err) => this.#deps.logger.warn({ err, path: t.path }, 'read failed; will retry'));
  }

  #poke(path: string): void {
    const t = this.#byPath.get(path);
    if (!t) {
      void this.#check(path, false);
      return;
    }
    this.#pump(t);
    // The path may now be a different file (rename + create between events).
    void this.#check(path, false);
  }

  #check(path: string, initial: boolean): Promise<void> {
    const prev = this.#pending.get(path) ?? Promise.resolve();
    const next = prev.then(() => this.#checkNow(path, initial)).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#deps.logger.warn({ err, path }, 'cannot open file; will retry at the next scan');
    });
    this.#pending.set(path, next);
    void next.finally(() => {
      if (this.#pending.get(path) === next) this.#pending.delete(path);
    });
    return next;
  }

  async #checkNow(path: string, initial: boolean): Promise<void> {
    if (this.#closed) return;
    const st = await stat(path);
    if (!st.isFile()) return;
    const cur = this.#byPath.get(path);
    if (cur && cur.dev === st.dev && cur.ino === st.ino) {
      this.#pump(cur);
      return;
    }
    // Already open under another name (renamed within the include globs)?
    for (const t of this.#tailers) {
      if (t.dev === st.dev && t.ino === st.ino && !t.deleted) {
        if (cur) this.#detach(path);
        this.#byPath.set(path, t);
        this.#pump(t);
        return;
      }
    }
    if (cur) this.#detach(path);
    const { fd, st: fst } = await Tailer.openFile(path);
    const stream = await this.#resolveStream(path, fd, fst, initial);
    const t = Tailer.attach(path, fd, fst, stream, this.#deps.now());
    stream.lastSeen = this.#deps.now();
    this.#byPath.set(path, t);
    this.#tailers.add(t);
    this.#pump(t);
  }

  async #resolveStream(path: string, fd: number, st: { dev: number; ino: number; size: number }, initial: boolean): Promise<StreamState> {
    const reg = this.#deps.registry;
    const open = new Set<StreamState>([...this.#tailers].map((t) => t.stream));
    let best: StreamState | undefined;
    for (const s of reg.all()) {
      if (s.topic !== this.cfg.topic || open.has(s)) continue;
      if (s.fpLen === 0) {
        if (s.dev === st.dev && s.ino === st.ino && s.path === path) best ??= s;
        continue;
      }
      if (!(await matchesFingerprint(fd, st.size, s))) continue;
      if (!best || (s.dev === st.dev && s.ino === st.ino) || s.fpLen > best.fpLen) best = s;
    }
    if (best) {
      if (best.offset > st.size) {
        this.#deps.logger.info({ path, offset: best.offset, size: st.size }, 'file is shorter than its stored position: truncated; reading from the start');
        this.#deps.onTruncation();
        best.offset = 0;
      }
      if (best.path !== path) this.#deps.onRotation();
      best.path = path;
      best.dev = st.dev;
      best.ino = st.ino;
      return best;
    }
    const startAtEnd = initial && this.cfg.start_at === 'end';
    const s: StreamState = {
      key: randomUUID(),
      topic: this.cfg.topic,
      path,
      dev: st.dev,
      ino: st.ino,
      fpLen: 0,
      fpCrc: 0,
      offset: startAtEnd ? st.size : 0,
      lastSeen: this.#deps.now(),
    };
    reg.add(s);
    return s;
  }

  #detach(path: string): void {
    const t = this.#byPath.get(path);
    if (!t) return;
    this.#byPath.delete(path);
    if (![...this.#byPath.values()].includes(t)) {
      t.detached = true;
      this.#deps.onRotation();
      this.#pump(t);
    }
  }

  #release(t: Tailer): void {
    this.#tailers.delete(t);
    for (const [p, x] of this.#byPath) if (x === t) this.#byPath.delete(p);
    void t.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#scanTimer);
    await this.#watcher?.close();
    await Promise.allSettled([...this.#pending.values()]);
    await Promise.all([...this.#tailers].map((t) => t.close()));
    this.#tailers.clear();
    this.#byPath.clear();
  }
}
