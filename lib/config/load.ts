/** Parse or load a config file against an option table; all problems in one ConfigError. */

import { readFile } from 'node:fs/promises';
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
}

/** Validate `text` against `tbl`. Throws one ConfigError listing every issue. */
export function parseWithTable<T>(text: string, file: string, tbl: OptionTable, opts: ParseOptions = {}): T {
  const src = new YamlSource(text, file);
  if (src.issues.length > 0) throw new ConfigError(sortIssues(src.issues));
  const validator = new Validator(src, opts);
  const out = validator.validateRoot(tbl);
  if (validator.issues.length > 0) throw new ConfigError(sortIssues(validator.issues));
  return out as T;
}

/** Read a config file; a file that cannot be read is a ConfigError at 1:1 (exit 2 like any config problem). */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new ConfigError([new ConfigIssue(path, 1, 1, '', `cannot read the config file: ${why}`)]);
  }
}
