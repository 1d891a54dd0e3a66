/** Parse or load a config file against an option table; all problems in one ConfigError. */

import { open } from 'node:fs/promises';
import { ConfigError, ConfigIssue } from '../errors.js';
import type { Env } from './env.js';
import type { OptionTable } from './option-table.js';
import { sortIssues, Validator, type DefaultOverrides } from './validate.js';
import { YamlSource } from './yaml-source.js';

export interface ParseOptions {
  /** variables for ${VAR}; default process.env */
  env?: Env;
  /** replace table defaults by absolute key path (used by `logship start`) */
  defaults?: DefaultOverrides;
  /** receives risky-but-valid findings (e.g. a token without scopes), sorted by position */
  warnings?: ConfigIssue[];
}

/** Config files larger than this are refused before parsing: parsing and validation stay linear and small. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Validate `text` against `tbl`. Throws one ConfigError listing every issue. */
export function parseWithTable<T>(text: string, file: string, tbl: OptionTable, opts: ParseOptions = {}): T {
  if (text.length > MAX_CONFIG_BYTES) throw tooLarge(file, Buffer.byteLength(text));
  const src = new YamlSource(text, file);
  if (src.issues.length > 0) throw new ConfigError(sortIssues(src.issues));
  const validator = new Validator(src, opts);
  const out = validator.validateRoot(tbl);
  if (validator.issues.length > 0) throw new ConfigError(sortIssues(validator.issues));
  opts.warnings?.push(...sortIssues(validator.warnings));
  return out as T;
}

function tooLarge(file: string, bytes: number | string): ConfigError {
  return new ConfigError([new ConfigIssue(file, 1, 1, '', `the config file is ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES} (1 MiB)`)]);
}

/** Read a config file; a file that cannot be read is a ConfigError at 1:1 (exit 2 like any config problem). */
export async function readConfigFile(path: string): Promise<string> {
  let fh;
  try {
    fh = await open(path, 'r');
    // Read at most one byte past the cap, whatever the file claims to be (a FIFO, /dev/zero).
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_CONFIG_BYTES) throw tooLarge(path, `more than ${MAX_CONFIG_BYTES}`);
    }
    return buf.subarray(0, n).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new ConfigError([new ConfigIssue(path, 1, 1, '', `cannot read the config file: ${why}`)]);
  } finally {
    await fh?.close();
  }
}
