import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileIfExists, realFs, writeFileAtomic } from '../../../../lib/log/index.js';
import { errno, instrumentedFs, tempDir } from '../../../helpers/log-fixtures.js';

describe('writeFileAtomic / readFileIfExists', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => cleanup());

  it('writes, replaces, fsyncs file and directory, and leaves no temp files', async () => {
    const file = path.join(dir, 'cursor.json');
    expect(await readFileIfExists(file)).toBeUndefined();
    const { io, counts } = instrumentedFs();
    await writeFileAtomic(file, '{"offset":1}', io);
    await writeFileAtomic(file, Buffer.from('{"offset":2}'), io);
    expect((await readFileIfExists(file))!.toString()).toBe('{"offset":2}');
    expect(counts.fsync).toBe(2);
    expect(counts.fsyncDir).toBe(2);
    expect(await readdir(dir)).toEqual(['cursor.json']);
  });

  it('keeps the old content when the rename fails, and throws IoError', async () => {
    const file = path.join(dir, 'state');
    await writeFileAtomic(file, 'old');
    const io = { ...realFs, rename: () => Promise.reject(errno('ENOSPC')) };
    await expect(writeFileAtomic(file, 'new', io)).rejects.toMatchObject({ code: 'LSH_ERR_DISK_FULL' });
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['state']);
  });
});
