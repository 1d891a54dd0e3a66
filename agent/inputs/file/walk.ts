/**
 * The bounded walk behind discovery: from each include base, the directories
 * that can hold a match and the matching files (symlinks to files included).
 *
 * Bounds: each real directory (device + inode) is entered once per walk, and
 * real directories are walked before symlinked ones, so a symlink never leads
 * back into the tree (a loop: warned once with its path) and a file is found
 * under its own path rather than through a link; at most `maxDirs` directories
 * are entered (an error, once per episode, names the key to raise). Every step
 * awaits the file system, so the event loop keeps serving /status and signals.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Logger } from '../../../lib/obs/logger.js';
import type { Matcher } from './discovery.js';

/** What one walk saw: matching files, and the directories entered (path -> "dev:ino"). */
export interface WalkResult {
  files: string[];
  dirs: Map<string, string>;
}

type Listener = (dirs: ReadonlyMap<string, string>) => void;

/** Per-input state shared by every walk and the watcher: limits, the last walk's directories, warn-once memory. */
export class WalkState {
  readonly maxDirs: number;
  #logger: Pick<Logger, 'warn' | 'error'> | undefined;
  #name: string | undefined;
  #warnedLoops = new Set<string>();
  #capped = false;
  #listeners = new Set<Listener>();
  lastDirs: ReadonlyMap<string, string> | undefined;

  constructor(maxDirs: number, logger?: Pick<Logger, 'warn' | 'error'>, name?: string) {
    this.maxDirs = maxDirs;
    this.#logger = logger;
    this.#name = name;
  }

  onWalk(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** A finished full walk: remember its directories and tell the watcher. */
  walked(r: WalkResult, capped: boolean): void {
    this.lastDirs = r.dirs;
    if (!capped) this.#capped = false;
    for (const l of this.#listeners) l(r.dirs);
  }

  loop(link: string, target: string): void {
    if (this.#warnedLoops.has(link) || this.#warnedLoops.size >= 1000) return;
    this.#warnedLoops.add(link);
    this.#logger?.warn(
      { input: this.#name, path: link, target },
      'symlink loop: this link points back into a directory already being walked; not followed (files below it are read under their own paths)',
    );
  }

  capped(at: string): void {
    if (this.#capped) return;
    this.#capped = true;
    this.#logger?.error(
      { input: this.#name, max_watched_dirs: this.maxDirs, first_skipped: at },
      `more than ${this.maxDirs} directories can hold matches: files below the others are NOT tailed; narrow the include globs or raise inputs[].max_watched_dirs`,
    );
  }

  /** Watches the kernel refused (inotify limit): said once. */
  watchFailed(dir: string, err: NodeJS.ErrnoException): void {
    if (this.#warnedLoops.has(`\0watch`)) return;
    this.#warnedLoops.add(`\0watch`);
    const hint = err.code === 'ENOSPC' ? ': the inotify watch limit is reached (sysctl fs.inotify.max_user_watches); the reconcile scan still finds new files' : '';
    this.#logger?.error({ input: this.#name, path: dir, code: err.code }, `cannot watch a directory${hint}`);
  }
}

const idOf = (st: { dev: number; ino: number }) => `${st.dev}:${st.ino}`;

/** Is `link` (a symlink to a directory) inside the directory it points to? */
async function isLoop(link: string): Promise<{ loop: boolean; target: string }> {
  try {
    const [target, parent] = await Promise.all([realpath(link), realpath(dirname(link))]);
    return { loop: parent === target || parent.startsWith(target === sep ? sep : target + sep), target };
  } catch {
    return { loop: false, target: '' };
  }
}

/**
 * Walks `roots` (default: the matcher's bases). `seen` holds directory ids not to enter again
 * (the watcher passes what it already watches); `budget` is how many more directories may be entered.
 */
export async function walk(m: Matcher, o: { fileLimit?: number; roots?: string[]; seen?: Set<string>; budget?: number; closed?: () => boolean } = {}): Promise<WalkResult & { capped: boolean }> {
  const fileLimit = o.fileLimit ?? 1_000_000;
  const seen = o.seen ?? new Set<string>();
  let budget = o.budget ?? m.state.maxDirs;
  const files: string[] = [];
  const dirs = new Map<string, string>();
  const queue: string[] = [];
  const links: string[] = [];
  let capped = false;
  const enter = (p: string, st: { dev: number; ino: number }): void => {
    const id = idOf(st);
    if (seen.has(id)) return;
    if (budget <= 0) {
      if (!capped) m.state.capped(p);
      capped = true;
      return;
    }
    budget -= 1;
    seen.add(id);
    dirs.set(p, id);
    queue.push(p);
  };
  for (const root of o.roots ?? m.bases) {
    const st = await stat(root).catch(() => undefined);
    if (st?.isDirectory()) enter(root, st);
  }
  while (queue.length > 0 || links.length > 0) {
    if (o.closed?.()) break;
    const dir = queue.pop();
    if (dir === undefined) {
      // Every real directory is entered; now the symlinked ones not reached under their own path.
      const link = links.shift()!;
      const st = await stat(link).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      if (seen.has(idOf(st))) {
        const l = await isLoop(link);
        if (l.loop) m.state.loop(link, l.target);
        continue;
      }
      enter(link, st);
      continue;
    }
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (files.length >= fileLimit) return { files, dirs, capped };
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!m.mayContain(p)) continue;
        const st = await lstat(p).catch(() => undefined);
        if (st?.isDirectory()) enter(p, st);
      } else if (e.isFile()) {
        if (m.matches(p)) files.push(p);
      } else if (e.isSymbolicLink()) {
        const wanted = m.matches(p);
        const mayHold = m.mayContain(p);
        if (!wanted && !mayHold) continue;
        const st = await stat(p).catch(() => undefined);
        if (st?.isFile() && wanted) files.push(p);
        else if (st?.isDirectory() && mayHold && links.length < m.state.maxDirs) links.push(p);
      }
    }
  }
  return { files, dirs, capped };
}

/** Walks the bases and returns every matching regular file (symlinks to files included). */
export async function scanMatches(m: Matcher, limit = 1_000_000): Promise<string[]> {
  const r = await walk(m, { fileLimit: limit });
  // a walk cut short by the file limit did not see every directory: it does not replace the watch set
  if (r.files.length < limit) m.state.walked(r, r.capped);
  return r.files;
}
