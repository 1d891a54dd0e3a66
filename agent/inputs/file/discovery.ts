/**
 * Which paths an input matches, and how to learn about them without polling:
 * one walk (walk.ts) finds the matching files and the directories that can
 * hold one, and an inotify watch on each of those directories (watcher.ts)
 * reports changes; a slow reconcile scan (scan_interval) walks again, catches
 * anything an event missed and repairs the watch set.
 *
 * Hostile trees are bounded: each real directory (device + inode) is entered
 * once, so a symlink back into the tree (dir/a/loop -> dir) is not followed
 * (warned once with its path), and at most max_watched_dirs directories are
 * walked and watched (an error says which limit to raise).
 */
import { basename, dirname, sep } from 'node:path';
import picomatch from 'picomatch';
import type { Logger } from '../../../lib/obs/logger.js';
import { WalkState } from './walk.js';

export { scanMatches } from './walk.js';
export { watchMatches, type MatchWatcher } from './watcher.js';

/** Default of inputs[].max_watched_dirs. */
export const DEFAULT_MAX_WATCHED_DIRS = 10_000;

export interface DiscoveryOptions {
  /** directories walked and watched at most (inputs[].max_watched_dirs) */
  maxWatchedDirs?: number;
  logger?: Pick<Logger, 'warn' | 'error'>;
  /** the input's name, for log lines */
  name?: string;
}

export interface Matcher {
  matches(path: string): boolean;
  /** could a file below this directory match? */
  mayContain(dir: string): boolean;
  bases: string[];
  /** limits, warn-once state and the directories of the last walk (shared by scans and the watcher) */
  state: WalkState;
}

const GLOB_CHARS = /[*?[\]{}()!]/;

/** The directory part of a glob before its first wildcard. */
export function globBase(pattern: string): string {
  const parts = pattern.split('/');
  const fixed: string[] = [];
  for (const p of parts.slice(0, -1)) {
    if (GLOB_CHARS.test(p)) break;
    fixed.push(p);
  }
  const base = fixed.join('/') || (pattern.startsWith('/') ? '/' : '.');
  return base;
}

export function createMatcher(include: string[], exclude: string[], opts: DiscoveryOptions = {}): Matcher {
  const inc = include.map((g) => picomatch(g, { dot: true }));
  const exc = exclude.map((g) => (g.includes('/') ? picomatch(g, { dot: true }) : picomatch(g, { dot: true, basename: true })));
  const bases = [...new Set(include.map(globBase))];
  // A directory may contain matches if it is a base, below a base of a '**' glob, or a prefix of a glob's fixed depth.
  const dirMatchers = include.map((g) => {
    const segs = g.split('/');
    const recursive = segs.includes('**');
    const dirSegs = segs.slice(0, -1);
    return { recursive, base: globBase(g), depth: dirSegs.length, prefix: dirSegs };
  });
  return {
    bases,
    state: new WalkState(opts.maxWatchedDirs ?? DEFAULT_MAX_WATCHED_DIRS, opts.logger, opts.name),
    matches: (p) => inc.some((m) => m(p)) && !exc.some((m) => m(p)),
    mayContain: (dir) =>
      dirMatchers.some((d) => {
        if (d.base === dir || dir.startsWith(d.base === '/' ? '/' : d.base + sep)) {
          if (d.recursive) return true;
          const segs = dir.split('/');
          if (segs.length > d.depth) return false;
          // An absolute glob's first segment is '' (before the leading '/'): picomatch refuses an empty pattern.
          return segs.every((s, i) => i >= d.prefix.length || (d.prefix[i] === '' ? s === '' : picomatch.isMatch(s, d.prefix[i]!, { dot: true })));
        }
        return d.base.startsWith(dir === '/' ? '/' : dir + sep);
      }),
  };
}

export { basename, dirname };
