/**
 * The `file` input: finds matching files, resolves each to a content stream
 * (identity.ts: fingerprint first, device+inode as a tie-breaker), and runs
 * one Tailer per open file. Renamed or deleted files keep being read through
 * their open descriptor until drained and idle. The parts:
 * - discovery.ts / walk.ts / watcher.ts: which paths match, and change events;
 * - identity.ts: which stream a newly opened file is;
 * - unattached.ts: files known without a descriptor (waiting, parked, consumed);
 * - descriptors.ts: the max_open_files budget (parking idle files);
 * - scheduling.ts: when tailers read (batch.max_wait, polls, drains).
 * This file keeps the map path -> Tailer and the order of events.
 */
import { read, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { FileInputConfig } from '../../config.js';
import type { Logger } from '../../../lib/obs/logger.js';
import { createMatcher, scanMatches, watchMatches, type Matcher, type MatchWatcher } from './discovery.js';
import { DescriptorBudget } from './descriptors.js';
import { FINGERPRINT_MAX } from './fingerprint.js';
import { resolveStream } from './identity.js';
import { POLL_MS, ReadScheduler } from './scheduling.js';
import type { StreamRegistry, StreamState } from './streams.js';
import { Tailer, type TailerContext } from './tailer.js';
import { UnattachedFiles } from './unattached.js';
import { randomUuid } from '../../../lib/util/random-id.js';

export interface FileInputDeps {
  registry: StreamRegistry;
  logger: Logger;
  ctx: Omit<TailerContext, 'onTruncated' | 'setFingerprint'>;
  now: () => number;
  onRotation: () => void;
  onTruncation: () => void;
}

const readAsync = promisify(read);
/** The reconcile scan stats this many files synchronously between turns of the event loop. */
const SCAN_SLICE = 256;

export class FileInput {
  readonly cfg: FileInputConfig;
  #deps: FileInputDeps;
  #matcher: Matcher;
  #byPath = new Map<string, Tailer>();
  #tailers = new Set<Tailer>();
  #files = new UnattachedFiles();
  #budget: DescriptorBudget;
  #reads: ReadScheduler;
  #watcher: MatchWatcher | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  /** per path, the check in progress (checks of one path run one after another) */
  #pending = new Map<string, Promise<void>>();
  #closed = false;
  #ctx: TailerContext;

  constructor(cfg: FileInputConfig, deps: FileInputDeps) {
    this.cfg = cfg;
    this.#deps = deps;
    this.#matcher = createMatcher(
      cfg.include.map((p) => resolve(p)),
      cfg.exclude.map((p) => (p.includes('/') ? resolve(p) : p)),
      { maxWatchedDirs: cfg.max_watched_dirs, logger: deps.logger, name: cfg.name },
    );
    this.#budget = new DescriptorBudget(cfg.max_open_files);
    this.#ctx = {
      ...deps.ctx,
      setFingerprint: (s, len, crc) => deps.registry.setFingerprint(s, len, crc),
      onTruncated: (t, from) => {
        deps.logger.info({ path: t.path, from }, 'file truncated; reading it again from the start');
        deps.onTruncation();
        const s = this.#newStream(t.path, t.dev, t.ino, 0);
        // A copy of the old content (copytruncate) may be waiting for the old stream to be free.
        this.#checkCopies();
        return s;
      },
    };
    this.#reads = new ReadScheduler(() => this.#ctx, deps.ctx.maxWait ?? 0, deps.logger);
  }

  get tailers(): ReadonlySet<Tailer> {
    return this.#tailers;
  }

  /** Files known but closed to stay under max_open_files. */
  get parkedCount(): number {
    return this.#files.parked.size;
  }

  async start(): Promise<void> {
    for (const p of await scanMatches(this.#matcher)) await this.#check(p, true);
    this.#deps.registry.markStarted(this.cfg.name);
    this.#watcher = watchMatches(this.#matcher, {
      add: (p) => void this.#check(p, false),
      change: (p) => this.#poke(p),
      // An unlink event can arrive after the name was taken again (rotation: rename away, then a
      // new file or copy under the old name): only a name that is really gone is detached.
      unlink: (p) => void stat(p).then(() => this.#check(p, false), () => this.#detach(p)),
      error: (err) => this.#deps.logger.warn({ err, input: this.cfg.name }, 'file watcher error; the reconcile scan keeps going'),
    });
    this.#armPoll();
    this.#scheduleScan();
  }

  #scheduleScan(): void {
    this.#scanTimer = setTimeout(async () => {
      try {
        const seen = new Set(await scanMatches(this.#matcher));
        let n = 0;
        for (const p of seen) {
          // Most files have not changed since the last scan: one synchronous stat says so, without
          // the async stat's round trip and garbage per file, nor waking the poll (idle cost).
          if (++n % SCAN_SLICE === 0) await new Promise((r) => setImmediate(r));
          if (this.#unchanged(p)) continue;
          await this.#check(p, false);
        }
        for (const p of this.#byPath.keys()) if (!seen.has(p)) this.#detach(p);
        this.#files.retain(seen);
      } catch (err) {
        this.#deps.logger.warn({ err }, 'reconcile scan failed');
      }
      if (!this.#closed) this.#scheduleScan();
    }, this.cfg.scan_interval);
    this.#scanTimer.unref();
  }

  /**
   * Polls every POLL_MS while something may need it; with every file idle (the usual state of a
   * host's logs) the timer stops, so an idle agent's cost does not grow with its file count. A file
   * event, a check (the reconcile scan's too) or capacity coming back starts it again.
   */
  #armPoll(): void {
    if (this.#pollTimer || this.#closed) return;
    this.#pollTimer = setInterval(() => this.#poll(), POLL_MS);
    this.#pollTimer.unref();
  }

  /** Wakes tailers that may have work (capacity back, partial lines, drains) without touching idle ones. */
  #poll(): void {
    const now = this.#deps.now();
    let live = this.#reads.poll(this.#tailers, now, (t) => this.#release(t));
    for (const p of this.#files.settledDue(now)) void this.#check(p, false);
    for (const p of [...this.#budget.queued]) {
      if (!this.#makeRoom()) break;
      this.#budget.queued.delete(p);
      void this.#check(p, false);
    }
    live ||= this.#budget.queued.size > 0 || this.#pending.size > 0;
    // Short new files settling (an empty one waits for a change event instead).
    if (!live) for (const w of this.#files.waiting.values()) if (!w.copy && w.size > 0) live = true;
    if (!live) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
    }
  }

  /**
   * Kicks the tailers that stopped for capacity (called after every append). A rest shorter than
   * batch.max_bytes left for its max_wait read is read here only once its file stopped growing;
   * while it grows, only whole batches are.
   */
  wake(): void {
    this.#armPoll();
    for (const t of this.#tailers) {
      if (t.stalled || t.hasPartial) this.#reads.now(t);
      else if (t.lag > 0) this.#reads.rest(t);
    }
  }

  #poke(path: string): void {
    this.#armPoll();
    const t = this.#byPath.get(path);
    if (t) this.#reads.soon(t);
    // Also when open: the path may now be a different file (rename + create between events).
    void this.#check(path, false);
  }

  /** For the reconcile scan: a file already followed (open, parked or consumed) that has not changed. Anything else goes to #check. */
  #unchanged(path: string): boolean {
    if (this.#closed || this.#pending.has(path)) return false;
    let st;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch {
      return false;
    }
    if (!st?.isFile()) return false;
    const cur = this.#byPath.get(path);
    if (cur) return cur.dev === st.dev && cur.ino === st.ino && !cur.changedSince(st) && cur.lag === 0 && !cur.hasPartial;
    return this.#files.parkedUnchanged(path, st) !== undefined || this.#files.consumedUnchanged(path, st);
  }

  #check(path: string, initial: boolean): Promise<void> {
    this.#armPoll();
    const prev = this.#pending.get(path) ?? Promise.resolve();
    const next = prev.then(() => this.#checkNow(path, initial)).catch((err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'EMFILE' || code === 'ENFILE') {
        this.#budget.queued.add(path);
        return;
      }
      this.#deps.logger.warn({ err, path }, 'cannot open file; will retry at the next scan');
    });
    this.#pending.set(path, next);
    void next.finally(() => {
      if (this.#pending.get(path) === next) this.#pending.delete(path);
    });
    return next;
  }

  #checkCopies(): void {
    for (const p of this.#files.copies()) void this.#check(p, false);
  }

  async #checkNow(path: string, initial: boolean): Promise<void> {
    if (this.#closed) return;
    const st = await stat(path);
    if (!st.isFile()) return;
    const cur = this.#byPath.get(path);
    if (cur && cur.dev === st.dev && cur.ino === st.ino) {
      // The reconcile scan asks this of every file: leave caught-up, unchanged ones alone.
      if (cur.changedSince(st) || cur.lag > 0 || cur.hasPartial) this.#reads.grew(cur, st.size);
      return;
    }
    // Parked (closed to stay under max_open_files) or consumed, and unchanged: nothing to do.
    // Checked before anything that walks the open tailers, since the reconcile scan asks this of
    // every file. (A path with an open tailer is never parked: #detach forgets both.)
    const parked = cur ? undefined : this.#files.parked.get(path);
    if (!cur && this.#files.parkedUnchanged(path, st)) return;
    if (!cur && this.#files.consumedUnchanged(path, st)) return;
    this.#files.consumed.delete(path);
    // Already open under another name (renamed within the include globs)?
    for (const t of this.#tailers) {
      if (t.dev === st.dev && t.ino === st.ino && !t.deleted) {
        if (cur) this.#detach(path);
        this.#byPath.set(path, t);
        if (![...this.#byPath.entries()].some(([p, x]) => x === t && p !== path)) {
          t.path = path;
          t.detached = false;
        }
        this.#reads.now(t);
        return;
      }
    }
    if (cur) this.#detach(path);
    const now = this.#deps.now();
    if (st.size === 0) {
      // Nothing to read, and nothing to identify it by yet: attach when it gets content.
      this.#files.waitEmpty(path, now);
      return;
    }
    if (!initial && !parked && st.size < FINGERPRINT_MAX && !this.#files.settled(path, st.size, now)) return;
    if (!this.#makeRoom()) {
      this.#budget.queued.add(path);
      return;
    }
    this.#budget.opening++;
    let fd: number;
    let fst: Awaited<ReturnType<typeof Tailer.openFile>>['st'];
    let stream: StreamState | undefined;
    try {
      ({ fd, st: fst } = await Tailer.openFile(path));
      try {
        stream = await this.#identify(path, fd, fst, initial, parked?.stream);
      } catch (err) {
        await Tailer.closeFd(fd);
        throw err;
      }
    } finally {
      this.#budget.opening--;
    }
    if (!stream) {
      await Tailer.closeFd(fd);
      return;
    }
    this.#files.attached(path);
    this.#budget.queued.delete(path);
    const t = Tailer.attach(path, fd, fst, stream, now);
    stream.lastSeen = now;
    this.#byPath.set(path, t);
    this.#tailers.add(t);
    this.#reads.now(t);
  }

  /** The stream an opened file continues, or undefined when it must not be read now (see identity.ts). */
  async #identify(path: string, fd: number, st: { dev: number; ino: number; size: number }, initial: boolean, hint?: StreamState): Promise<StreamState | undefined> {
    const head = Buffer.allocUnsafe(Math.min(st.size, FINGERPRINT_MAX));
    const { bytesRead } = await readAsync(fd, head, 0, head.length, 0);
    const r = resolveStream(
      { path, st, head: head.subarray(0, bytesRead), topic: this.cfg.topic, registry: this.#deps.registry, open: this.#tailers, ...(hint ? { hint } : {}) },
      {
        logger: this.#deps.logger,
        onRotation: this.#deps.onRotation,
        onTruncation: this.#deps.onTruncation,
        newStream: (offset) => this.#newStream(path, st.dev, st.ino, offset),
        startAtEnd: initial && this.cfg.start_at === 'end' && !this.#deps.registry.hasStarted(this.cfg.name),
      },
    );
    switch (r.kind) {
      case 'stream':
        return r.stream;
      case 'copy':
        if (this.#files.waitAsCopy(path, st.size, this.#deps.now())) {
          this.#deps.logger.info({ path, copy_of: r.of.path }, 'file is a copy of one being read (copytruncate?); it takes over once the original is truncated or gone');
        }
        return undefined;
      case 'consumed':
        this.#files.markConsumed(path, st);
        return undefined;
    }
  }

  /** Is a descriptor free (parking the least recently grown idle file if needed)? */
  #makeRoom(): boolean {
    if (this.#budget.hasRoom(this.#tailers.size)) return true;
    const victim = this.#budget.victim(this.#tailers);
    if (!victim) return false;
    this.#park(victim);
    return true;
  }

  /** Closes an idle, caught-up file; it is reopened by identity when it changes. */
  #park(t: Tailer): void {
    this.#tailers.delete(t);
    for (const [p, x] of this.#byPath) {
      if (x !== t) continue;
      this.#byPath.delete(p);
      this.#files.park(p, { dev: t.dev, ino: t.ino, size: t.size, stream: t.stream });
    }
    void t.close();
  }

  #newStream(path: string, dev: number, ino: number, offset: number): StreamState {
    const s: StreamState = { key: randomUuid(), topic: this.cfg.topic, path, dev, ino, fpLen: 0, fpCrc: 0, offset, lastSeen: this.#deps.now() };
    this.#deps.registry.add(s);
    return s;
  }

  #detach(path: string): void {
    this.#armPoll(); // a detached tailer is drained, then released, by the poll
    this.#files.forget(path);
    this.#budget.queued.delete(path);
    const t = this.#byPath.get(path);
    if (!t) return;
    this.#byPath.delete(path);
    if (![...this.#byPath.values()].includes(t)) {
      t.detached = true;
      this.#deps.onRotation();
      this.#reads.now(t);
    }
  }

  #release(t: Tailer): void {
    this.#tailers.delete(t);
    for (const [p, x] of this.#byPath) if (x === t) this.#byPath.delete(p);
    void t.close();
    // A copy of its content may have been waiting for it to be drained.
    this.#checkCopies();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    this.#reads.close();
    clearTimeout(this.#scanTimer);
    await this.#watcher?.close();
    await Promise.allSettled([...this.#pending.values()]);
    await Promise.all([...this.#tailers].map((t) => t.close()));
    this.#tailers.clear();
    this.#byPath.clear();
  }
}
