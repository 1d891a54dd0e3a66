/**
 * The journalctl child: `journalctl --output=export --follow` scoped by the
 * input's options, resumed after a cursor. One process per input; its stdout
 * is parsed as it streams and paused whenever the pipeline has no capacity
 * (the pipe then fills and journalctl blocks: the journal is the backlog).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { WANTED } from './export-parser.js';
import type { JournaldInputConfig } from './config.js';

/** Arguments selecting which journal files are read (shared by the follower and the start_at: end probe). */
export function sourceArgs(cfg: Pick<JournaldInputConfig, 'journal_directory' | 'journal_namespace' | 'current_boot_only'>): string[] {
  const a: string[] = [];
  if (cfg.journal_directory) a.push(`--directory=${cfg.journal_directory}`);
  if (cfg.journal_namespace) a.push(`--namespace=${cfg.journal_namespace}`);
  if (cfg.current_boot_only) a.push('--boot');
  return a;
}

/** The follower's command line: after `cursor` when given, else from the oldest entry kept. */
export function followArgs(cfg: JournaldInputConfig, cursor: string | undefined): string[] {
  const a = ['--output=export', `--output-fields=${WANTED.join(',')}`, '--follow', '--no-tail', '--no-pager', '--quiet', ...sourceArgs(cfg)];
  if (cursor) a.push(`--after-cursor=${cursor}`);
  return a;
}

export function spawnFollower(cfg: JournaldInputConfig, cursor: string | undefined): ChildProcess {
  return spawn(cfg.journalctl, followArgs(cfg, cursor), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_COLORS: '0', LC_ALL: 'C.UTF-8' } });
}

/** Cursor of the newest entry kept ('' when the journal is empty), for start_at: end. */
export function newestCursor(cfg: JournaldInputConfig): Promise<string> {
  const args = ['--output=export', '--output-fields=__CURSOR', '--lines=1', '--no-pager', '--quiet', ...sourceArgs(cfg)];
  return new Promise((resolve, reject) => {
    execFile(cfg.journalctl, args, { maxBuffer: 1 << 20, encoding: 'latin1', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${cfg.journalctl} ${args.join(' ')} failed: ${String(stderr).trim().slice(0, 500) || err.message}`));
      const m = /^__CURSOR=(.*)$/m.exec(stdout);
      resolve(m ? m[1]! : '');
    });
  });
}

/** seqnum id and seqnum of a cursor ("s=<id>;i=<hex seqnum>;..."), to measure a gap between two entries of one journal. */
export function cursorSeq(cursor: string): { id: string; seq: number } | undefined {
  const s = /(?:^|;)s=([0-9a-f]+)/.exec(cursor);
  const i = /(?:^|;)i=([0-9a-f]+)/.exec(cursor);
  if (!s || !i) return undefined;
  const seq = parseInt(i[1]!, 16);
  return Number.isSafeInteger(seq) ? { id: s[1]!, seq } : undefined;
}
