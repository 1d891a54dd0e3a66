import { spawn, execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegmentLog } from '../../../../lib/log/index.js';
import { expectedPayload, tempDir } from '../../../helpers/log-fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
// Inside node_modules so the compiled code resolves pino from the project's node_modules.
const outDir = path.join(root, 'node_modules', '.cache', `logship-test-${process.pid}`);
const child = path.join(root, 'test', 'helpers', 'log-crash-child.mjs');

/** Runs the child until it has acknowledged some appends, then SIGKILLs it; returns its ACK lines. */
async function runAndKill(dir: string, runId: string): Promise<{ offset: number; key: string }[]> {
  const p = spawn(process.execPath, [child, path.join(outDir, 'lib', 'log', 'index.js'), dir, runId], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const acks = (): number => out.split('\n').filter((l) => l.startsWith('ACK ')).length;
  const exited = new Promise<void>((resolve) => p.on('exit', () => resolve()));
  const target = 20 + Math.floor(Math.random() * 200);
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (acks() >= target) resolve();
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
  });
  // Kill at a random point of the next few appends (mid-write, mid-fsync, mid-roll).
  await new Promise((r) => setTimeout(r, Math.random() * 30));
  p.kill('SIGKILL');
  await exited;
  const complete = out.slice(0, out.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((l) => l.startsWith('ACK '))
    .map((l) => {
      const [, offset, key] = l.split(' ');
      return { offset: Number(offset), key: key! };
    });
}

describe('SegmentLog survives SIGKILL', () => {
  beforeAll(async () => {
    await mkdir(outDir, { recursive: true });
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = ['--outDir', outDir, '--rootDir', root, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022'];
    args.push('--strict', '--skipLibCheck', '--types', 'node', path.join(root, 'lib', 'log', 'index.ts'));
    await promisify(execFile)(process.execPath, [tsc, ...args], { cwd: root });
    await writeFile(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  }, 180_000);
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged batch intact and contiguous across 5 kills', async () => {
    const { dir, cleanup } = await tempDir('logship-crash-');
    try {
      const acked = new Map<number, string>();
      for (let round = 0; round < 5; round++) {
        for (const a of await runAndKill(dir, `r${round}`)) acked.set(a.offset, a.key);
        const log = await SegmentLog.open({ dir, fsync: false, segmentBytes: 256 * 1024, indexIntervalBytes: 4096 });
        try {
          expect(log.recovery.quarantined).toEqual([]);
          expect(log.firstOffset).toBe(0);
          const found = new Map<number, string>();
          let next = 0;
          while (next < log.nextOffset) {
            for (const b of await log.read(next, 4 << 20)) {
              expect(b.baseOffset).toBe(next);
              const key = b.meta.toString();
              const len = Number(key.split(':')[2]);
              expect(b.payload.equals(expectedPayload(key, len))).toBe(true);
              found.set(b.baseOffset, key);
              next = b.baseOffset + b.count;
            }
          }
          for (const [offset, key] of acked) expect(found.get(offset)).toBe(key);
        } finally {
          await log.close();
        }
      }
      expect(acked.size).toBeGreaterThanOrEqual(100);
    } finally {
      await cleanup();
    }
  });
});
