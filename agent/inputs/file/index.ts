/**
 * The `file` input: finds matching files, resolves each to a content stream
 * (fingerprint first, device+inode as a tie-breaker), and runs one Tailer per
 * open file. Renamed or deleted files keep being read through their open
 * descriptor until drained and idle.
 */
import { stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { MatchWatcher as FSWatcher } from './discovery.js';
import type { FileInputConfig } from '../../config.js';
import type { Logger } from '../../../lib/obs/logger.js';
import { createMatcher, scanMatches, watchMatches, type Matcher } from './discovery.js';
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { FINGERPRINT_MAX } from './fingerprint.js';
import { resumeOffset, type StreamRegistry, type StreamState } from './streams.js';
import { Tailer, type TailerContext } from './tailer.js';

export interface FileInputDeps {
  registry: StreamRegistry;
  logger: Logger;
  ctx: Omit<TailerContext, 'onTruncated' | 'setFingerprint'>;
  now: () => number;
  onRotation: () => void;
  onTruncation: () => void;
}

/** A closed rotated file is kept this long after its last growth once drained. */
const DRAIN_IDLE_MS = 2_000;
const POLL_MS = 250;
/** Files that grew this recently are polled (cheaply, fstat) as well as watched. */
const ACTIVE_MS = 3_000;
/** A new file shorter than a full fingerprint waits until its size holds this long (a copy may be in progress). */
const SETTLE_MS = 250;
/** ... but not longer than this in all. */
const SETTLE_MAX_MS = 1_500;

/** A file closed to stay under max_open_files; reopened by identity when it changes. */
interface Parked {
  dev: number;
  ino: number;
  size: number;
  stream: StreamState;
}

/**
 * A file whose whole content was already read under another name: a copytruncate copy that ends
 * before the position reached in the original (the agent read lines written between the copy and
 * the truncate). Nothing to read; looked at again only if it changes.
 */
interface Consumed {
  dev: number;
  ino: number;
  size: number;
}

/** A file not attached yet: empty, still settling, or a copy of a stream read elsewhere. */
interface Waiting {
  size: number;
  firstSeen: number;
  sizeSince: number;
  copy: boolean;
}

const readAsync = promisify(read);

export class FileInput {
  readonly cfg: FileInputConfig;
  #deps: FileInputDeps;
  #matcher: Matcher;
  #byPath = new Map<string, Tailer>();
  #tailers = new Set<Tailer>();
  #parked = new Map<string, Parked>();
  #waiting = new Map<string, Waiting>();
  #consumed = new Map<string, Consumed>();
  /** paths to open as soon as a descriptor is free */
  #queued = new Set<string>();
  /** descriptors being opened right now (they count against max_open_files) */
  #opening = 0;
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
      { maxWatchedDirs: cfg.max_watched_dirs, logger: deps.logger, name: cfg.name },
    );
    this.#ctx = {
      ...deps.ctx,
      setFingerprint: (s, len, crc) => deps.registry.setFingerprint(s, len, crc),
      onTruncated: (t, from) => {
        deps.logger.info({ path: t.path, from }, 'file truncated; reading it again from the start');
        deps.onTruncation();
        const s = this.#newStream(t.path, t.dev, t.ino, 0);
        // A copy of the old content (copytruncate) may be waiting for the old stream to be free.
        for (const [p, w] of this.#waiting) if (w.copy) void this.#check(p, false);
        return s;
      },
    };
  }

  get tailers(): ReadonlySet<Tailer> {
    return this.#tailers;
  }

  /** Files known but closed to stay under max_open_files. */
  get parkedCount(): number {
    return this.#parked.size;
  }

  async start(): Promise<void> {
    for (const p of await scanMatches(this.#matcher)) await this.#check(p, true);
    this.#watcher = watchMatches(this.#matcher, {
      add: (p) => void this.#check(p, false),
      change: (p) => this.#poke(p),
      // An unlink event can arrive after the name was taken again (rotation: rename away, then a
      // new file or copy under the old name): only a name that is really gone is detached.
      unlink: (p) => void stat(p).then(() => this.#check(p, false), () => this.#detach(p)),
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
        for (const p of this.#parked.keys()) if (!seen.has(p)) this.#parked.delete(p);
        for (const p of this.#waiting.keys()) if (!seen.has(p)) this.#waiting.delete(p);
        for (const p of this.#consumed.keys()) if (!seen.has(p)) this.#consumed.delete(p);
      } catch (err) {
        this.#deps.logger.warn({ err }, 'reconcile scan failed');
      }
      if (!this.#closed) this.#scheduleScan();
    }, this.cfg.scan_interval);
    this.#scanTimer.unref();
  }

  /** Wakes tailers that may have work (capacity back, partial lines, drains) without touching idle ones. */
  #poll(): void {
    const now = this.#deps.now();
    for (const t of this.#tailers) {
      if (t.detached && t.readOffset >= t.size && now - t.lastGrowth >= DRAIN_IDLE_MS && !t.hasPartial && !t.busy) {
        this.#release(t);
        continue;
      }
      if (t.detached || t.hasPartial || t.lag > 0) this.#pump(t);
      // A file written to in the last few seconds is looked at even without a change event:
      // inotify events can be coalesced or missed, and the reconcile scan is slow. Idle files are not.
      else if (now - t.lastGrowth < ACTIVE_MS) this.#pumpSoon(t);
    }
    for (const [p, w] of this.#waiting) if (!w.copy && w.size > 0 && now - w.sizeSince >= SETTLE_MS) void this.#check(p, false);
    if (this.#queued.size > 0) {
      for (const p of [...this.#queued]) {
        if (!this.#makeRoom()) break;
        this.#queued.delete(p);
        void this.#check(p, false);
      }
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
    this.#pumpSoon(t);
    // The path may now be a different file (rename + create between events).
    void this.#check(path, false);
  }

  #soon = new Map<Tailer, NodeJS.Timeout>();

  /**
   * batch.max_wait: a file that grew is read once the wait is over, so a slow writer's
   * lines go out as one batch instead of one per write. The read then takes everything
   * that is there, in batches of up to batch.max_bytes.
   */
  #pumpSoon(t: Tailer): void {
    const wait = this.#deps.ctx.maxWait;
    if (!wait) return this.#pump(t);
    if (this.#soon.has(t)) return;
    const timer = setTimeout(() => {
      this.#soon.delete(t);
      this.#pump(t);
    }, wait);
    timer.unref();
    this.#soon.set(t, timer);
  }

  #check(path: string, initial: boolean): Promise<void> {
    const prev = this.#pending.get(path) ?? Promise.resolve();
    const next = prev.then(() => this.#checkNow(path, initial)).catch((err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'EMFILE' || code === 'ENFILE') {
        this.#queued.add(path);
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

  async #checkNow(path: string, initial: boolean): Promise<void> {
    if (this.#closed) return;
    const st = await stat(path);
    if (!st.isFile()) return;
    const cur = this.#byPath.get(path);
    if (cur && cur.dev === st.dev && cur.ino === st.ino) {
      // The reconcile scan asks this of every file: leave caught-up, unchanged ones alone.
      if (cur.changedSince(st) || cur.lag > 0 || cur.hasPartial) this.#pumpSoon(cur);
      return;
    }
    // Parked (closed to stay under max_open_files) and unchanged: nothing to do. Checked before
    // anything that walks the open tailers, since the reconcile scan asks this of every file.
    // (A path with an open tailer is never parked: #detach forgets both.)
    const parked = cur ? undefined : this.#parked.get(path);
    if (parked && parked.dev === st.dev && parked.ino === st.ino && parked.size === st.size) return;
    const consumed = cur ? undefined : this.#consumed.get(path);
    if (consumed && consumed.dev === st.dev && consumed.ino === st.ino && consumed.size === st.size) return;
    this.#consumed.delete(path);
    // Already open under another name (renamed within the include globs)?
    for (const t of this.#tailers) {
      if (t.dev === st.dev && t.ino === st.ino && !t.deleted) {
        if (cur) this.#detach(path);
        this.#byPath.set(path, t);
        if (![...this.#byPath.entries()].some(([p, x]) => x === t && p !== path)) {
          t.path = path;
          t.detached = false;
        }
        this.#pump(t);
        return;
      }
    }
    if (cur) this.#detach(path);
    const now = this.#deps.now();
    if (st.size === 0) {
      // Nothing to read, and nothing to identify it by yet: attach when it gets content.
      this.#waiting.set(path, { size: 0, firstSeen: now, sizeSince: now, copy: false });
      return;
    }
    if (!initial && !parked && st.size < FINGERPRINT_MAX && !this.#settled(path, st.size, now)) return;
    if (!this.#makeRoom()) {
      this.#queued.add(path);
      return;
    }
    this.#opening++;
    let fd: number;
    let fst: Awaited<ReturnType<typeof Tailer.openFile>>['st'];
    let stream: StreamState | undefined;
    try {
      ({ fd, st: fst } = await Tailer.openFile(path));
      try {
        stream = await this.#resolveStream(path, fd, fst, initial, parked?.stream);
      } catch (err) {
        await Tailer.closeFd(fd);
        throw err;
      }
    } finally {
      this.#opening--;
    }
    if (!stream) {
      await Tailer.closeFd(fd);
      return;
    }
    this.#waiting.delete(path);
    this.#parked.delete(path);
    this.#queued.delete(path);
    const t = Tailer.attach(path, fd, fst, stream, now);
    stream.lastSeen = now;
    this.#byPath.set(path, t);
    this.#tailers.add(t);
    this.#pump(t);
  }

  /** A short new file waits until its size holds for a moment (a copy may be in progress), within a bound. */
  #settled(path: string, size: number, now: number): boolean {
    const w = this.#waiting.get(path);
    if (!w || w.copy || w.size === 0) {
      this.#waiting.set(path, { size, firstSeen: w && !w.copy ? w.firstSeen : now, sizeSince: now, copy: false });
      return false;
    }
    if (w.size !== size) {
      w.size = size;
      w.sizeSince = now;
      return now - w.firstSeen >= SETTLE_MAX_MS;
    }
    return now - w.sizeSince >= SETTLE_MS || now - w.firstSeen >= SETTLE_MAX_MS;
  }

  /** Is a descriptor free (closing the least recently grown idle file if needed)? */
  #makeRoom(): boolean {
    if (this.#tailers.size + this.#opening < this.cfg.max_open_files) return true;
    let victim: Tailer | undefined;
    for (const t of this.#tailers) {
      if (t.detached || t.busy || t.hasPartial || t.readOffset < t.size) continue;
      if (!victim || t.lastGrowth < victim.lastGrowth) victim = t;
    }
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
      this.#parked.set(p, { dev: t.dev, ino: t.ino, size: t.size, stream: t.stream });
    }
    void t.close();
  }

  #newStream(path: string, dev: number, ino: number, offset: number): StreamState {
    const s: StreamState = { key: randomUUID(), topic: this.cfg.topic, path, dev, ino, fpLen: 0, fpCrc: 0, offset, lastSeen: this.#deps.now() };
    this.#deps.registry.add(s);
    return s;
  }

  /**
   * Which stream a newly opened file is: by fingerprint (device+inode break ties). Returns
   * undefined when it must wait: a short file still growing (perhaps a copy in progress), or a
   * copy of a stream that is being read from another file right now (copytruncate: the copy
   * takes over once the original is truncated).
   */
  async #resolveStream(path: string, fd: number, st: { dev: number; ino: number; size: number }, initial: boolean, hint?: StreamState): Promise<StreamState | undefined> {
    const reg = this.#deps.registry;
    const head = Buffer.allocUnsafe(Math.min(st.size, FINGERPRINT_MAX));
    const { bytesRead } = await readAsync(fd, head, 0, head.length, 0);
    const open = new Map<StreamState, Tailer>();
    for (const t of this.#tailers) open.set(t.stream, t);
    let best: StreamState | undefined;
    let copyOf: Tailer | undefined;
    const cands = reg.candidates(head.subarray(0, bytesRead));
    if (hint && cands.includes(hint)) cands.unshift(hint);
    for (const s of cands) {
      if (s.topic !== this.cfg.topic) continue;
      const owner = open.get(s);
      if (owner) {
        if (owner.dev !== st.dev || owner.ino !== st.ino) copyOf ??= owner;
        continue;
      }
      if (s === hint) {
        best = s;
        break;
      }
      if (!best || (s.dev === st.dev && s.ino === st.ino && !(best.dev === st.dev && best.ino === st.ino)) || s.fpLen > best.fpLen) best = s;
    }
    const now = this.#deps.now();
    if (!best && copyOf) {
      const w = this.#waiting.get(path);
      if (!w?.copy) this.#deps.logger.info({ path, copy_of: copyOf.path }, 'file is a copy of one being read (copytruncate?); it takes over once the original is truncated or gone');
      this.#waiting.set(path, { size: st.size, firstSeen: w?.firstSeen ?? now, sizeSince: now, copy: true });
      return undefined;
    }
    if (best) {
      const at = resumeOffset(best);
      if (at > st.size) {
        if (best.dev !== st.dev || best.ino !== st.ino) {
          // Another file than the one the stream was read from, starting with the same bytes and
          // ending before the position already reached: a copy (copytruncate) of content that was
          // read from the original, including lines written after the copy was taken. Everything
          // in it is already buffered; reading it from 0 would repeat the whole copy.
          this.#deps.logger.info(
            { path, size: st.size, read_up_to: at, original: best.path },
            'file is a copy of content already read from the original (copytruncate); nothing new in it',
          );
          this.#waiting.delete(path);
          this.#consumed.set(path, { dev: st.dev, ino: st.ino, size: st.size });
          return undefined;
        }
        // The same file, now shorter than what was read from it: truncated in place while it was
        // not open here (agent down, or the file was parked).
        this.#deps.logger.info({ path, offset: at, size: st.size }, 'file is shorter than its stored position: truncated; reading from the start');
        this.#deps.onTruncation();
        best.offset = 0;
        best.read = 0;
      }
      if (best.path !== path) this.#deps.onRotation();
      best.path = path;
      best.dev = st.dev;
      best.ino = st.ino;
      return best;
    }
    const startAtEnd = initial && this.cfg.start_at === 'end';
    return this.#newStream(path, st.dev, st.ino, startAtEnd ? st.size : 0);
  }

  #detach(path: string): void {
    this.#parked.delete(path);
    this.#consumed.delete(path);
    this.#waiting.delete(path);
    this.#queued.delete(path);
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
    // A copy of its content may have been waiting for it to be drained.
    for (const [p, w] of this.#waiting) if (w.copy) void this.#check(p, false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    for (const timer of this.#soon.values()) clearTimeout(timer);
    this.#soon.clear();
    clearTimeout(this.#scanTimer);
    await this.#watcher?.close();
    await Promise.allSettled([...this.#pending.values()]);
    await Promise.all([...this.#tailers].map((t) => t.close()));
    this.#tailers.clear();
    this.#byPath.clear();
  }
}
