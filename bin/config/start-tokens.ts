/**
 * The tokens `logship start` gives its two halves when the config names none:
 * the agent sends with an ingest-only token, and readers (`logship read`,
 * `logship topics`) use a read-only one, so nothing on this host reads the
 * logs through the loopback port without the read token, and a leaked agent
 * token cannot read. Both are 32 random bytes (hex), made once under
 * DATA_DIR/tokens (0700, files 0600) and kept across restarts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function startTokenFiles(dataDir: string): { dir: string; agent: string; read: string } {
  const dir = join(dataDir, 'tokens');
  return { dir, agent: join(dir, 'agent.token'), read: join(dir, 'read.token') };
}

/** Creates the token files that do not exist yet; never rewrites one. */
export async function ensureStartTokens(dataDir: string): Promise<void> {
  const f = startTokenFiles(dataDir);
  await mkdir(f.dir, { recursive: true, mode: 0o700 });
  for (const path of [f.agent, f.read]) {
    try {
      await writeFile(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
