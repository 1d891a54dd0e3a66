/**
 * <data_dir>/logship-data.json marks a data directory with what wrote it:
 * {"format": 1, "kind": "agent" | "aggregator", "written_by": "0.1.0"}.
 * `format` changes only when a version lays out the directory in a way an
 * older one would misread. At start the marker is checked before anything
 * else is read: a directory of a newer format, or of the other program, is
 * refused with a message that says what to do; never misread. A directory
 * without a marker (new, or from before markers existed: its layout is
 * format 1) gets one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogshipError } from '../errors.js';
import { readFileIfExists, writeFileAtomic } from '../log/atomic-file.js';

/** The layout this version reads and writes. */
export const DATA_DIR_FORMAT = 1;
export const DATA_DIR_MARKER = 'logship-data.json';

export type DataDirKind = 'agent' | 'aggregator';

export function logshipVersion(): string {
  // dist/lib/state/ when built, lib/state/ when run from source (tests)
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const p = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (p.name === 'logship' && typeof p.version === 'string') return p.version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
}

/** Checks (and on first use writes) the marker of `dir`. Throws a LogshipError saying what to do. */
export async function checkDataDir(dir: string, kind: DataDirKind, version = logshipVersion()): Promise<void> {
  const file = join(dir, DATA_DIR_MARKER);
  const raw = await readFileIfExists(file);
  if (raw === undefined) {
    await writeFileAtomic(file, JSON.stringify({ format: DATA_DIR_FORMAT, kind, written_by: version }) + '\n');
    return;
  }
  let m: { format?: unknown; kind?: unknown; written_by?: unknown };
  try {
    if (raw.length > 4096) throw new Error(`${raw.length} bytes`);
    m = JSON.parse(raw.toString('utf8')) as typeof m;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new Error('not an object');
  } catch (err) {
    throw new LogshipError(
      'LSH_ERR_CORRUPT',
      `${file}: the data directory marker is damaged (${(err as Error).message}). If this directory is logship's ${kind} data directory of this version, delete the file and start again (it is rewritten); otherwise point data_dir elsewhere`,
    );
  }
  const by = typeof m.written_by === 'string' ? m.written_by.slice(0, 40) : 'an unknown version';
  if (m.kind !== kind) {
    throw new LogshipError(
      'LSH_ERR_CONFIG',
      `${dir} is a logship ${typeof m.kind === 'string' ? m.kind.slice(0, 20) : '(unknown)'} data directory, not an ${kind} one (${file}); give the ${kind} its own data_dir`,
    );
  }
  if (typeof m.format !== 'number' || !Number.isSafeInteger(m.format) || m.format < 1) {
    throw new LogshipError('LSH_ERR_CORRUPT', `${file}: format ${JSON.stringify(m.format)?.slice(0, 20)} is not a data directory format; delete the file if the directory is this version's`);
  }
  if (m.format > DATA_DIR_FORMAT) {
    throw new LogshipError(
      'LSH_ERR_CONFIG',
      `${dir} was written by logship ${by} in data format ${m.format}; this logship (${version}) reads format ${DATA_DIR_FORMAT} and would misread it. Run logship ${by} or newer, or point data_dir at another directory`,
    );
  }
}
