/**
 * journald input: follows the journal through a supervised
 * `journalctl --output=export --follow` child, turns each entry into a JSON
 * record line (record.ts) and cuts batches of them at batch.max_bytes or
 * batch.max_wait. Each batch carries the cursor of the last entry it covers
 * (buffered meta version 2): the buffer is the checkpoint, so after kill -9
 * reading resumes right after the last durably buffered entry.
 *
 * A child that ends is started again after the last entry read, with capped
 * exponential backoff; a malformed stream is counted, logged and handled the
 * same way. Resuming after a cursor whose entry was vacuumed starts at the
 * oldest entry kept: the gap is measured from the seqnums, logged and counted.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../../../lib/obs/logger.js';
import { CODEC_ZSTD } from '../../../lib/protocol/batches.js';
import { FLAG_JSON } from '../../../lib/protocol/json-records.js';
import type { BufferedMeta } from '../../buffer/buffered-meta.js';
import type { StreamRegistry, StreamState } from '../file/streams.js';
import type { JournaldInputConfig } from './config.js';
import { ExportFormatError, ExportParser, type JournalEntry } from './export-parser.js';
import type { JournaldMetrics } from './metrics.js';
import { accepts, recordLine, SEVERITY, type EntryFilter } from './record.js';
import { cursorExists, cursorSeq, newestCursor, spawnFollower } from './reader.js';


const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** A child that ran this long was healthy: the next restart starts from the shortest backoff again. */
const HEALTHY_RUN_MS = 10_000;
const STDERR_KEEP = 4096;
const FIRST_BATCH_BYTES = 64 * 1024;
const PAUSE_POLL_MS = 200;

export interface JournaldBatch {
  meta: BufferedMeta;
  raw: Buffer;
  timestamp: number;
  onDurable: (bufferOffset: number) => void;
}

export interface JournaldInputOptions {
  registry: StreamRegistry;
  logger: Logger;
  metrics: JournaldMetrics;
  now: () => number;
  maxBatchBytes: number;
  maxWait: number;
  hasCapacity: () => boolean;
  submit: (b: JournaldBatch) => void;
  /** a position changed without a batch (start_at: end, filtered-only stretches): the checkpoint should be written */
  markDirty: () => void;
}

export interface JournaldStatus {
  input: string;
  state: 'running' | 'waiting_to_restart' | 'stopped';
  pid: number | null;
  restarts: number;
  last_exit: string | null;
  cursor: string | null;
  entries_read: number;
  entries_shipped: number;
  gap_entries: number;
  paused: boolean;
}

export class JournaldInput {
  readonly cfg: JournaldInputConfig;
  readonly #o: JournaldInputOptions;
  readonly #filter: EntryFilter;
  readonly #parser: ExportParser;
  readonly #key: string;
  #stream!: StreamState;
  #child: ChildProcess | undefined;
  #childStarted = 0;
  #stderr = '';
  #backoff = MIN_BACKOFF_MS;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #paused = false;
  /** While paused: room can come back without an append (acknowledgements trim a full buffer), so look now and then. */
  #pausePoll: NodeJS.Timeout | undefined;
  /** cursor of the last complete entry parsed (shipped or filtered) */
  #readCursor: string | undefined;
  /** the cursor the running child resumed after: its first entry is checked for a gap */
  #resumedAfter: string | undefined;
  // the batch being built
  #buf: Buffer = Buffer.allocUnsafe(0);
  #len = 0;
  #records = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #offsetRead = 0;
  restarts = 0;
  lastExit: string | undefined;
  entriesRead = 0;
  entriesShipped = 0;
  gapEntries = 0;

  constructor(cfg: JournaldInputConfig, opts: JournaldInputOptions) {
    this.cfg = cfg;
    this.#o = opts;
    this.#key = `journald:${cfg.name}`;
    this.#filter = {
      units: cfg.units.length ? new Set(cfg.units) : undefined,
      excludeUnits: cfg.exclude_units.length ? new Set(cfg.exclude_units) : undefined,
      identifiers: cfg.identifiers.length ? new Set(cfg.identifiers) : undefined,
      maxPriority: SEVERITY.indexOf(cfg.priority),
      includeKernel: cfg.include_kernel,
    };
    this.#parser = new ExportParser({ maxFieldBytes: cfg.max_message_bytes, onEntry: (e) => this.#entry(e) });
  }

  get #log(): Logger {
    return this.#o.logger;
  }

  async start(): Promise<void> {
    const reg = this.#o.registry;
    let s = reg.get(this.#key);
    if (!s || s.cursor === undefined) {
      // First start: position the stream now and checkpoint it, so entries written while a later start
      // is pending are not skipped by start_at: end.
      const cursor = this.cfg.start_at === 'end' ? await newestCursor(this.cfg).catch((err: Error) => {
        this.#log.error({ err: err.message }, 'journald: could not find the newest entry for start_at: end; starting at the oldest entry kept');
        return '';
      }) : '';
      s = { key: this.#key, topic: this.cfg.topic, path: this.cfg.name, dev: 0, ino: 0, fpLen: 0, fpCrc: 0, offset: s?.offset ?? 0, lastSeen: this.#o.now(), cursor };
      reg.add(s);
      this.#o.markDirty();
    }
    this.#stream = s;
    this.#offsetRead = s.offset;
    this.#readCursor = s.cursor || undefined;
    this.#spawn();
  }

  /** The pipeline has room again: read on. */
  wake(): void {
    if (this.#paused && this.#o.hasCapacity()) {
      this.#paused = false;
      clearInterval(this.#pausePoll);
      this.#pausePoll = undefined;
      this.#child?.stdout?.resume();
    }
  }

  #spawn(): void {
    if (this.#closed) return;
    const cursor = this.#readCursor;
    let child: ChildProcess;
    try {
      child = spawnFollower(this.cfg, cursor);
    } catch (err) {
      this.#o.metrics.errors.inc({ input: this.cfg.name, kind: 'spawn' });
      this.#exited(`could not start ${this.cfg.journalctl}: ${(err as Error).message}`);
      return;
    }
    this.#child = child;
    this.#childStarted = this.#o.now();
    this.#stderr = '';
    this.#resumedAfter = cursor;
    this.#parser.reset();
    this.#paused = false;
    clearInterval(this.#pausePoll);
    this.#pausePoll = undefined;
    this.#o.metrics.up.set({ input: this.cfg.name }, 1);
    child.stdout!.on('data', (chunk: Buffer) => this.#data(child, chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => {
      this.#stderr = (this.#stderr + t).slice(-STDERR_KEEP);
    });
    const ended = (why: string) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#o.metrics.up.set({ input: this.cfg.name }, 0);
      if (!this.#closed) this.#exited(why);
    };
    child.on('error', (err) => {
      // ENOENT/EACCES on the binary (it never ran), or a failed kill.
      if (child.pid !== undefined) return;
      this.#o.metrics.errors.inc({ input: this.cfg.name, kind: 'spawn' });
      ended(`could not be started: ${err.message} (is systemd's journalctl installed, and is the journalctl option right?)`);
    });
    child.on('close', (code, signal) => {
      ended(`exited with ${signal ? `signal ${signal}` : `code ${code}`}${this.#stderr.trim() ? `: ${this.#stderr.trim().slice(-500)}` : ''}`);
    });
    this.#log.info({ pid: child.pid, after_cursor: cursor ?? null, directory: this.cfg.journal_directory ?? null }, 'journald: reading the journal');
  }

  #data(child: ChildProcess, chunk: Buffer): void {
    if (this.#child !== child) return;
    try {
      this.#parser.feed(chunk);
    } catch (err) {
      if (!(err instanceof ExportFormatError)) throw err;
      this.#o.metrics.errors.inc({ input: this.cfg.name, kind: 'format' });
      this.#log.error({ err: err.message, after_cursor: this.#readCursor ?? null }, 'journald: malformed export stream from journalctl; restarting it after the last complete entry');
      this.#child = undefined;
      this.#o.metrics.up.set({ input: this.cfg.name }, 0);
      child.kill('SIGKILL');
      this.#exited('malformed export stream');
      return;
    }
    if (!this.#o.hasCapacity()) {
      this.#paused = true;
      child.stdout!.pause();
      this.#pausePoll ??= setInterval(() => this.wake(), PAUSE_POLL_MS);
      this.#pausePoll.unref?.();
    }
  }

  #entry(e: JournalEntry): void {
    if (this.#resumedAfter !== undefined && e.cursor === this.#resumedAfter) {
      // journalctl --cursor starts at the stored entry itself when it still exists: it is already shipped.
      this.#resumedAfter = undefined;
      return;
    }
    this.entriesRead++;
    this.#o.metrics.entries.inc({ input: this.cfg.name });
    if (!e.cursor) {
      this.#o.metrics.errors.inc({ input: this.cfg.name, kind: 'no_cursor' });
      this.#log.error('journald: an entry without __CURSOR; shipped, but its position cannot be stored');
    } else if (this.#resumedAfter !== undefined) {
      this.#checkGap(this.#resumedAfter, e.cursor);
    }
    this.#resumedAfter = undefined;
    if (e.messageTruncatedFrom) {
      this.#o.metrics.errors.inc({ input: this.cfg.name, kind: 'truncated' });
      this.#log.warn({ bytes: e.messageTruncatedFrom, max_message_bytes: this.cfg.max_message_bytes, cursor: e.cursor }, 'journald: MESSAGE longer than max_message_bytes was cut; the record carries message_truncated_bytes');
    }
    if (!accepts(this.#filter, e)) {
      if (e.cursor) this.#readCursor = e.cursor;
      this.#o.metrics.filtered.inc({ input: this.cfg.name });
      if (this.#records === 0) this.#armTimer();
      return;
    }
    const line = recordLine(e);
    // A batch cut to make room carries the cursor of the entries in it, so the cursor moves only after.
    this.#reserve(line.length * 3);
    if (e.cursor) this.#readCursor = e.cursor;
    this.#write(line);
  }

  #checkGap(after: string, first: string): void {
    const a = cursorSeq(after);
    const b = cursorSeq(first);
    if (!a || !b) return;
    if (a.id === b.id) {
      if (b.seq > a.seq + 1) {
        const lost = b.seq - a.seq - 1;
        this.gapEntries += lost;
        this.#o.metrics.gaps.inc({ input: this.cfg.name });
        this.#o.metrics.gapEntries.inc({ input: this.cfg.name }, lost);
        this.#log.error(
          { lost_entries: lost, stored_cursor: after, continued_at: first },
          `journald: ${lost} journal entries after the stored cursor are gone (vacuumed or rotated away before they were read); continuing at the oldest entry kept`,
        );
      }
    } else {
      // Another journal file (or another writer's): was the stored cursor's entry vacuumed away?
      void cursorExists(this.cfg, after).then((exists) => {
        if (exists !== false) return;
        this.#o.metrics.gaps.inc({ input: this.cfg.name });
        this.#log.error(
          { stored_cursor: after, continued_at: first },
          'journald: the entry at the stored cursor is gone (its journal file was vacuumed or rotated away before everything after it was read); continuing at the oldest entry kept. The entries lost were in another journal file, so how many cannot be counted',
        );
      });
    }
  }

  /** Room for `worst` more bytes (3 per UTF-16 unit at most): cuts the batch first when they may not fit under max_bytes. */
  #reserve(worst: number): void {
    if (this.#records > 0 && this.#len + worst > this.#o.maxBatchBytes) this.#flush();
    if (this.#len + worst > this.#buf.length) {
      const size = Math.max(this.#len + worst, Math.min(this.#o.maxBatchBytes, Math.max(FIRST_BATCH_BYTES, this.#buf.length * 2)));
      const nb = Buffer.allocUnsafeSlow(size); // never from the shared pool: the batch memory is handed to compression
      this.#buf.copy(nb, 0, 0, this.#len);
      this.#buf = nb;
    }
  }

  #write(line: string): void {
    this.#len += this.#buf.write(line, this.#len, 'utf8');
    this.#records++;
    if (this.#records === 1) this.#armTimer();
    if (this.#len >= this.#o.maxBatchBytes) this.#flush();
  }

  #armTimer(): void {
    if (this.#flushTimer) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, this.#o.maxWait);
  }

  /** Hands the batch being built to the pipeline with the cursor of the last entry read. */
  #flush(): void {
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    const cursor = this.#readCursor;
    if (this.#records === 0) {
      // Only filtered entries since the last batch: move the stored position past them once nothing is in flight.
      if (cursor && this.#inFlight === 0 && this.#parser.atBoundary && cursor !== this.#stream.cursor) {
        this.#stream.cursor = cursor;
        this.#o.markDirty();
      }
      return;
    }
    const raw = this.#buf.subarray(0, this.#len);
    const lines = this.#records;
    this.#buf = Buffer.allocUnsafe(0);
    this.#len = 0;
    this.#records = 0;
    const start = this.#offsetRead;
    this.#offsetRead += raw.length;
    const meta: BufferedMeta = {
      codec: CODEC_ZSTD,
      flags: FLAG_JSON,
      topic: this.cfg.topic,
      source: this.cfg.name,
      key: this.#key,
      start,
      end: start + raw.length,
      lines,
      rawLength: raw.length,
      dev: 0,
      ino: 0,
      fpLen: 0,
      fpCrc: 0,
      ...(cursor ? { cursor } : {}),
    };
    this.entriesShipped += lines;
    this.#inFlight++;
    this.#o.submit({
      meta,
      raw,
      timestamp: this.#o.now(),
      onDurable: () => {
        this.#inFlight--;
      },
    });
  }

  #exited(why: string): void {
    this.restarts++;
    this.lastExit = why;
    this.#o.metrics.restarts.inc({ input: this.cfg.name });
    // Everything parsed so far is complete entries: ship it, then resume after the last one.
    this.#flush();
    let delay = this.#backoff;
    if (this.#o.now() - this.#childStarted >= HEALTHY_RUN_MS) delay = MIN_BACKOFF_MS;
    this.#backoff = Math.min(MAX_BACKOFF_MS, delay * 2);
    if (/seek to cursor/i.test(why) && this.#readCursor) {
      this.#o.metrics.gaps.inc({ input: this.cfg.name });
      this.#log.error({ cursor: this.#readCursor }, 'journald: journalctl cannot seek to the stored cursor; starting at the oldest entry kept (entries may be repeated or missing: the cursor is unusable)');
      this.#readCursor = undefined;
    }
    this.#log.error({ why, restart_in_ms: delay, restarts: this.restarts }, `journald: journalctl ${why}; restarting it after the last entry read`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#spawn();
    }, delay);
    this.#restartTimer.unref?.();
  }

  status(): JournaldStatus {
    return {
      input: this.cfg.name,
      state: this.#closed ? 'stopped' : this.#child ? 'running' : 'waiting_to_restart',
      pid: this.#child?.pid ?? null,
      restarts: this.restarts,
      last_exit: this.lastExit ?? null,
      cursor: this.#stream?.cursor || null,
      entries_read: this.entriesRead,
      entries_shipped: this.entriesShipped,
      gap_entries: this.gapEntries,
      paused: this.#paused,
    };
  }

  /** Stops the child and ships the complete entries already parsed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#pausePoll);
    const child = this.#child;
    this.#child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('close', () => r()));
      child.kill('SIGTERM');
      let t: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((r) => (t = setTimeout(r, 2_000)))]);
      clearTimeout(t);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.#o.metrics.up.set({ input: this.cfg.name }, 0);
    this.#flush();
  }
}
