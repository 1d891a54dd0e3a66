/**
 * Files the input knows but holds no descriptor for:
 * - waiting: empty, still settling (a short new file may be a copy in progress), or a copy of a
 *   stream being read elsewhere right now (copytruncate: it takes over once the original is
 *   truncated or drained);
 * - parked: closed to stay under max_open_files, reopened by identity when it changes;
 * - consumed: a copytruncate copy whose whole content was already read under the other name;
 *   looked at again only if it changes.
 * A path is in at most one of them at a time, and in none while it has an open Tailer.
 */
import type { StreamState } from './streams.js';

/** A new file shorter than a full fingerprint waits until its size holds this long (a copy may be in progress). */
export const SETTLE_MS = 250;
/** ... but not longer than this in all. */
export const SETTLE_MAX_MS = 1_500;

export interface Parked {
  dev: number;
  ino: number;
  size: number;
  stream: StreamState;
}

export interface Consumed {
  dev: number;
  ino: number;
  size: number;
}

export interface Waiting {
  size: number;
  firstSeen: number;
  sizeSince: number;
  copy: boolean;
}

type Identity = { dev: number; ino: number; size: number };

export class UnattachedFiles {
  readonly parked = new Map<string, Parked>();
  readonly waiting = new Map<string, Waiting>();
  readonly consumed = new Map<string, Consumed>();

  /** Parked and unchanged since (same inode and size): nothing to do. */
  parkedUnchanged(path: string, st: Identity): Parked | undefined {
    const p = this.parked.get(path);
    return p && same(p, st) ? p : undefined;
  }

  /** A consumed copy that did not change: nothing to do. Otherwise it is forgotten (looked at afresh). */
  consumedUnchanged(path: string, st: Identity): boolean {
    const c = this.consumed.get(path);
    if (c && same(c, st)) return true;
    this.consumed.delete(path);
    return false;
  }

  waitEmpty(path: string, now: number): void {
    this.waiting.set(path, { size: 0, firstSeen: now, sizeSince: now, copy: false });
  }

  /** Returns true if this is the first time the path waits as a copy (worth a log line). */
  waitAsCopy(path: string, size: number, now: number): boolean {
    const w = this.waiting.get(path);
    this.waiting.set(path, { size, firstSeen: w?.firstSeen ?? now, sizeSince: now, copy: true });
    return !w?.copy;
  }

  markConsumed(path: string, st: Identity): void {
    this.waiting.delete(path);
    this.consumed.set(path, { dev: st.dev, ino: st.ino, size: st.size });
  }

  park(path: string, p: Parked): void {
    this.parked.set(path, p);
  }

  /** The path got an open Tailer. */
  attached(path: string): void {
    this.waiting.delete(path);
    this.parked.delete(path);
  }

  /** The name is gone. */
  forget(path: string): void {
    this.parked.delete(path);
    this.consumed.delete(path);
    this.waiting.delete(path);
  }

  /** Keep only paths the last scan saw. */
  retain(seen: ReadonlySet<string>): void {
    for (const m of [this.parked, this.waiting, this.consumed]) for (const p of m.keys()) if (!seen.has(p)) m.delete(p);
  }

  /** Paths waiting as copies of a stream read elsewhere (to look at when that stream frees up). */
  copies(): string[] {
    return [...this.waiting].filter(([, w]) => w.copy).map(([p]) => p);
  }

  /** Short new files whose size has held for SETTLE_MS: ready to look at again. */
  settledDue(now: number): string[] {
    return [...this.waiting].filter(([, w]) => !w.copy && w.size > 0 && now - w.sizeSince >= SETTLE_MS).map(([p]) => p);
  }

  /** A short new file waits until its size holds for a moment (a copy may be in progress), within a bound. */
  settled(path: string, size: number, now: number): boolean {
    const w = this.waiting.get(path);
    if (!w || w.copy || w.size === 0) {
      this.waiting.set(path, { size, firstSeen: w && !w.copy ? w.firstSeen : now, sizeSince: now, copy: false });
      return false;
    }
    if (w.size !== size) {
      w.size = size;
      w.sizeSince = now;
      return now - w.firstSeen >= SETTLE_MAX_MS;
    }
    return now - w.sizeSince >= SETTLE_MS || now - w.firstSeen >= SETTLE_MAX_MS;
  }
}

function same(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size;
}
