import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../../lib/errors.js';

describe('error catalogue', () => {
  it('the README error table lists exactly the codes in lib/errors.ts', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const table = readme.split('<!-- error-table:start -->')[1]!.split('<!-- error-table:end -->')[0]!;
    const rows = [...table.matchAll(/^\| `(LSH_ERR_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(rows)).toEqual(ERROR_CODES);
  });
});
