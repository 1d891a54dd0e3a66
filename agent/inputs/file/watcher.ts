/**
 * inotify watches on exactly the directories the last walk entered (one
 * non-recursive fs.watch each, at most max_watched_dirs), reporting add,
 * change and unlink of matching files. A new or removed directory triggers a
 * debounced walk that repairs the watch set; each reconcile scan does the same.
 * The walk's bounds (each real directory once, symlink loops not followed, the
 * directory cap) are the watcher's bounds.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Matcher } from './discovery.js';
import { walk } from './walk.js';

export interface WatchHandlers {
  add: (p: string) => void;
  change: (p: string) => void;
  unlink: (p: string) => void;
  error: (e: unknown) => void;
}

const RESYNC_DEBOUNCE_MS = 100;

/** Emits 'ready' once the first watch set is in place. */
export class MatchWatcher extends EventEmitter {
  #m: Matcher;
  #on: WatchHandlers;
  #watches = new Map<string, { id: string; w: FSWatcher }>();
  #closed = false;
  #off: () => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(m: Matcher, on: WatchHandlers) {
    super();
    this.#m = m;
    this.#on = on;
    this.#off = m.state.onWalk((dirs) => this.#sync(dirs, false));
    const first = m.state.lastDirs ? Promise.resolve(this.#sync(m.state.lastDirs, false)) : this.#resync(false);
    void first.then(
      () => this.emit('ready'),
      (err: unknown) => on.error(err),
    );
  }

  /** Directories watched now. */
  get size(): number {
    return this.#watches.size;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#off();
    clearTimeout(this.#timer);
    for (const { w } of this.#watches.values()) w.close();
    this.#watches.clear();
    await this.#running?.catch(() => undefined);
  }

  /** Makes the watch set equal to `dirs` (path -> dev:ino), up to the cap; with `announce`, reports files already in new directories. */
  async #sync(dirs: ReadonlyMap<string, string>, announce: boolean): Promise<void> {
    if (this.#closed) return;
    for (const [dir, x] of this.#watches) {
      if (dirs.get(dir) !== x.id) {
        x.w.close();
        this.#watches.delete(dir);
      }
    }
    const added: string[] = [];
    for (const [dir, id] of dirs) {
      if (this.#watches.has(dir)) continue;
      if (this.#watches.size >= this.#m.state.maxDirs) break;
      let w: FSWatcher;
      try {
        w = watch(dir, { persistent: false }, (type, name) => this.#event(dir, type, name));
      } catch (err) {
        this.#m.state.watchFailed(dir, err as NodeJS.ErrnoException);
        break;
      }
      w.on('error', () => {
        // the directory went away or became unreadable: forget it; the next walk decides
        w.close();
        if (this.#watches.get(dir)?.w === w) this.#watches.delete(dir);
        this.#schedule();
      });
      this.#watches.set(dir, { id, w });
      added.push(dir);
    }
    if (!announce) return;
    // Files created in a new directory before its watch existed: the watch is in place now, so reading it again misses nothing.
    for (const dir of added) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (this.#closed) return;
        const p = join(dir, e.name);
        if ((e.isFile() || e.isSymbolicLink()) && this.#m.matches(p)) this.#on.add(p);
      }
    }
  }

  #event(dir: string, type: string, name: string | Buffer | null): void {
    if (this.#closed) return;
    if (name === null) return this.#schedule();
    const p = join(dir, name.toString());
    if (type === 'change') {
      if (this.#m.matches(p)) this.#on.change(p);
      return;
    }
    // 'rename': created, deleted or moved in or out
    stat(p).then(
      (st) => {
        if (this.#closed) return;
        if (st.isDirectory()) {
          if (!this.#watches.has(p) && this.#m.mayContain(p)) this.#schedule();
        } else if (st.isFile() && this.#m.matches(p)) {
          this.#on.add(p);
        }
      },
      () => {
        if (this.#closed) return;
        if (this.#m.matches(p)) this.#on.unlink(p);
        if (this.#watches.has(p)) this.#schedule();
      },
    );
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#resync(true);
    }, RESYNC_DEBOUNCE_MS);
    this.#timer.unref();
  }

  /** One walk at a time; a request while one runs makes one more run after it. */
  async #resync(announce: boolean): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          const r = await walk(this.#m, { closed: () => this.#closed });
          if (this.#closed) return;
          this.#m.state.lastDirs = r.dirs;
          await this.#sync(r.dirs, announce);
        } while (this.#again && !this.#closed);
      } catch (err) {
        this.#on.error(err);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }
}

export function watchMatches(m: Matcher, on: WatchHandlers): MatchWatcher {
  return new MatchWatcher(m, on);
}
