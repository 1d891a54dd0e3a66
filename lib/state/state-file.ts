/**
 * Small versioned state files (checkpoints, cursors, identities): read with a size cap and
 * validated field by field, so a damaged or foreign file gives an error that names the file,
 * what is wrong and what to do, never a bare SyntaxError or a value of the wrong type deep in
 * the program. Written atomically (lib/log/atomic-file.ts) with a `version` field; a file
 * without one was written by logship 0.1 and is read as version 1.
 */
import { CorruptError } from '../errors.js';
import { readFileIfExists, writeFileAtomic } from '../log/atomic-file.js';
import type { FsSeam } from '../log/io.js';

/** No state file is anywhere near this; a larger one is not ours (or is damaged). */
const MAX_STATE_BYTES = 64 << 20;

export interface StateKind<T> {
  /** what the file is, for messages: "file positions checkpoint" */
  what: string;
  version: number;
  /** what an operator should do when the file is damaged */
  remedy: string;
  /** validates the parsed JSON (version field already checked); throws StateProblem */
  decode(v: Record<string, unknown>, at: Problems): T;
}

/** Collects the location of a bad field: decode functions call at.fail("streams[3].offset", "..."). */
export class Problems {
  fail(path: string, message: string): never {
    throw new StateProblem(`${path}: ${message}`);
  }
  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(path, `expected an integer in ${min}..${max}, got ${JSON.stringify(v)?.slice(0, 40)}`);
    return v;
  }
  num(v: unknown, path: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, `expected a number, got ${JSON.stringify(v)?.slice(0, 40)}`);
    return v;
  }
  str(v: unknown, path: string, maxLen = 4096): string {
    if (typeof v !== 'string' || v.length > maxLen) this.fail(path, `expected a string of at most ${maxLen} characters`);
    return v;
  }
  obj(v: unknown, path: string): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'expected an object');
    return v as Record<string, unknown>;
  }
  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'expected an array');
    return v;
  }
}

class StateProblem extends Error {}

/** The decoded state, or undefined when the file does not exist. Throws CorruptError naming the file. */
export async function readStateFile<T>(file: string, kind: StateKind<T>, io?: FsSeam): Promise<T | undefined> {
  const raw = await readFileIfExists(file, io);
  if (raw === undefined) return undefined;
  const bad = (why: string) =>
    new CorruptError(`${file}: the ${kind.what} is not valid (${why}). What to do: ${kind.remedy}`);
  if (raw.length > MAX_STATE_BYTES) throw bad(`${raw.length} bytes, more than any ${kind.what} can be`);
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw bad(`not JSON: ${(err as Error).message}`);
  }
  try {
    const at = new Problems();
    const o = at.obj(v, '(root)');
    const version = o.version === undefined ? 1 : o.version;
    if (version !== kind.version) throw new StateProblem(`version ${JSON.stringify(version)?.slice(0, 20)}, this logship reads version ${kind.version} (written by a newer logship?)`);
    return kind.decode(o, at);
  } catch (err) {
    if (err instanceof StateProblem) throw bad(err.message);
    throw err;
  }
}

/** Replaces the file atomically with `body` plus the kind's version. */
export function writeStateFile<T extends object>(file: string, kind: StateKind<unknown>, body: T, io?: FsSeam): Promise<void> {
  return writeFileAtomic(file, JSON.stringify({ version: kind.version, ...body }), io);
}
