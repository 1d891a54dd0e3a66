/**
 * Which paths an input matches, and how to learn about them without polling:
 * chokidar (inotify) watches the static base directory of each include glob,
 * pruned to directories that can still match; a slow reconcile scan
 * (scan_interval) catches anything an event missed.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import picomatch from 'picomatch';
import { watch, type FSWatcher } from 'chokidar';

export interface Matcher {
  matches(path: string): boolean;
  /** could a file below this directory match? */
  mayContain(dir: string): boolean;
  bases: string[];
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

export function createMatcher(include: string[], exclude: string[]): Matcher {
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
    matches: (p) => inc.some((m) => m(p)) && !exc.some((m) => m(p)),
    mayContain: (dir) =>
      dirMatchers.some((d) => {
        if (d.base === dir || dir.startsWith(d.base === '/' ? '/' : d.base + sep)) {
          if (d.recursive) return true;
          const segs = dir.split('/');
          if (segs.length > d.depth) return false;
          return segs.every((s, i) => i >= d.prefix.length || picomatch.isMatch(s, d.prefix[i]!, { dot: true }) || s === '');
        }
        return d.base.startsWith(dir === '/' ? '/' : dir + sep);
      }),
  };
}

/** Walks the bases and returns every matching regular file (symlinks to files included). */
export async function scanMatches(m: Matcher, limit = 1_000_000): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (out.length >= limit) return;
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (m.mayContain(p)) await walk(p);
      } else if ((e.isFile() || e.isSymbolicLink()) && m.matches(p)) {
        if (e.isSymbolicLink()) {
          const st = await stat(p).catch(() => undefined);
          if (!st?.isFile()) continue;
        }
        out.push(p);
      }
    }
  };
  for (const b of m.bases) await walk(b);
  return out;
}

export function watchMatches(m: Matcher, on: { add: (p: string) => void; change: (p: string) => void; unlink: (p: string) => void; error: (e: unknown) => void }): FSWatcher {
  const w = watch(m.bases, {
    ignoreInitial: true,
    persistent: true,
    followSymlinks: true,
    ignored: (p: string, st?: { isDirectory(): boolean; isFile(): boolean }) => {
      if (!st) return false;
      if (st.isDirectory()) return !m.bases.includes(p) && !m.mayContain(p);
      return !m.matches(p);
    },
  });
  w.on('add', on.add);
  w.on('change', on.change);
  w.on('unlink', on.unlink);
  w.on('error', on.error);
  return w;
}

export { basename, dirname };
