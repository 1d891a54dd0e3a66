import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { realFs, type AppendInput, type FsSeam } from '../../lib/log/index.js';

/** A fresh temp dir under os.tmpdir(); remove it with the returned cleanup. */
export async function tempDir(prefix = 'logship-log-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** A deterministic, self-describing batch: payload bytes derive from `key`, so content is checkable. */
export function makeBatch(key: string, opts: { count?: number; timestamp?: number; payloadBytes?: number; attributes?: number } = {}): AppendInput {
  const n = opts.payloadBytes ?? 100;
  const unit = Buffer.from(`${key}|`);
  const payload = Buffer.alloc(n);
  for (let i = 0; i < n; i += unit.length) unit.copy(payload, i, 0, Math.min(unit.length, n - i));
  return {
    count: opts.count ?? 1,
    timestamp: opts.timestamp ?? 1_700_000_000_000,
    attributes: opts.attributes ?? 0,
    meta: Buffer.from(key),
    payload,
  };
}

export function expectedPayload(key: string, n: number): Buffer {
  return makeBatch(key, { payloadBytes: n }).payload;
}

/** A seam over realFs that counts calls and can be told to fail some of them. */
export function instrumentedFs(): {
  io: FsSeam;
  counts: Record<string, number>;
  faults: { writev?: (fd: number, buffers: Buffer[], position: number) => Promise<number> | undefined; fdatasync?: () => Error | undefined };
} {
  const counts: Record<string, number> = {};
  const faults: ReturnType<typeof instrumentedFs>['faults'] = {};
  const io: FsSeam = { ...realFs };
  for (const key of Object.keys(realFs) as (keyof FsSeam)[]) {
    const orig = realFs[key] as (...args: unknown[]) => Promise<unknown>;
    (io as unknown as Record<string, unknown>)[key] = (...args: unknown[]) => {
      counts[key] = (counts[key] ?? 0) + 1;
      if (key === 'writev' && faults.writev) {
        const injected = faults.writev(args[0] as number, args[1] as Buffer[], args[2] as number);
        if (injected) return injected;
      }
      if (key === 'fdatasync' && faults.fdatasync) {
        const err = faults.fdatasync();
        if (err) return Promise.reject(err);
      }
      return orig(...args);
    };
  }
  return { io, counts, faults };
}

export function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}
