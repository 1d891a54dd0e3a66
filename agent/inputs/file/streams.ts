/**
 * Known file streams and their committed positions. A stream is one file's
 * content as identified by its fingerprint, whatever its name or inode.
 *
 * Positions come from two places, never both for one line: the checkpoint file
 * (<data_dir>/files.json: {"buffer_offset": N, "streams": [...]}, replaced
 * atomically) holds positions reflected by buffer offsets below N; batches at
 * or above N are scanned from the buffer at start. The buffer never deletes a
 * segment at or above the last checkpoint's N.
 *
 * A journald input keeps its position here too, as one stream (key
 * "journald:<input name>") whose `cursor` is the journal cursor of the last
 * entry durably buffered and whose `offset` counts the record bytes shipped
 * (the records' source offsets). Such a stream never expires by state_ttl.
 */
import { join } from 'node:path';
import { crc32c } from '../../../lib/log/index.js';
import { readStateFile, writeStateFile, type StateKind } from '../../../lib/state/state-file.js';
import { decodeBufferedMeta, type BufferedMeta } from '../../buffer/buffered-meta.js';
import type { DiskBuffer } from '../../buffer/disk-buffer.js';

export interface StreamState {
  key: string;
  topic: string;
  path: string;
  dev: number;
  ino: number;
  fpLen: number;
  fpCrc: number;
  /** End offset of the last batch durably in the buffer: reading resumes here after a restart. */
  offset: number;
  lastSeen: number;
  /** journald streams: cursor of the last entry durably in the buffer */
  cursor?: string;
  /** In memory only: end of what was read and handed to the pipeline (>= offset while batches are in flight). */
  read?: number;
}

/**
 * <data_dir>/files.json: {"version": 1, "buffer_offset": N, "streams": [...], "inputs": [...]}.
 * `inputs` names the file inputs that have had their first start (start_at applies only then);
 * a checkpoint without it was written by an agent before 2026-12-03 (see restore).
 */
export const FILES_STATE: StateKind<{ buffer_offset: number; streams: StreamState[]; inputs?: string[] }> = {
  what: 'file positions checkpoint',
  version: 1,
  remedy:
    'move it aside and start the agent: positions then come from the buffered batches alone, and files whose position was only in this checkpoint are read again from their start (start_at), which repeats lines already delivered',
  decode: (o, at) => {
    const buffer_offset = at.int(o.buffer_offset, 'buffer_offset');
    const streams = at.arr(o.streams, 'streams').map((x, i): StreamState => {
      const p = `streams[${i}]`;
      const s = at.obj(x, p);
      const st: StreamState = {
        key: at.str(s.key, `${p}.key`, 256),
        topic: at.str(s.topic, `${p}.topic`, 255),
        path: at.str(s.path, `${p}.path`),
        dev: at.num(s.dev, `${p}.dev`),
        ino: at.num(s.ino, `${p}.ino`),
        fpLen: at.int(s.fpLen, `${p}.fpLen`, 0, 1 << 16),
        fpCrc: at.int(s.fpCrc, `${p}.fpCrc`, 0, 0xffffffff),
        offset: at.int(s.offset, `${p}.offset`),
        lastSeen: at.num(s.lastSeen, `${p}.lastSeen`),
      };
      if (s.cursor !== undefined) st.cursor = at.str(s.cursor, `${p}.cursor`, 1024);
      return st;
    });
    if (o.inputs === undefined) return { buffer_offset, streams };
    const inputs = at.arr(o.inputs, 'inputs').map((x, i) => at.str(x, `inputs[${i}]`, 255));
    return { buffer_offset, streams, inputs };
  },
};

/** Where reading of a stream resumes in this process: after what was read, durable or in flight. */
export function resumeOffset(s: StreamState): number {
  return Math.max(s.offset, s.read ?? 0);
}

export class StreamRegistry {
  #streams = new Map<string, StreamState>();
  /** fingerprint length -> CRC -> streams: finds a file's stream with one read of its first KiB */
  #byFp = new Map<number, Map<number, Set<StreamState>>>();
  #fpLens: number[] = [];
  #path: string;
  /** Buffer offset up to which positions are reflected (exclusive). */
  #reflected = 0;
  #writing: Promise<void> = Promise.resolve();
  #checkpointed = 0;
  /** streams without a fingerprint yet (no content seen; or written so by agents before 2026-12-03) */
  #unidentified = new Set<StreamState>();
  /** a stream was added or its fingerprint changed since the last checkpoint */
  #changed = false;
  /** file inputs past their first start */
  #started = new Set<string>();

  constructor(dataDir: string) {
    this.#path = join(dataDir, 'files.json');
  }

  /**
   * Restores positions: checkpoint first, then every buffered batch after it. `fileInputs`, the
   * file inputs configured now, have all started when the checkpoint was written by an agent that
   * did not list them (one added later still gets its own first start).
   */
  async restore(buffer: DiskBuffer, fileInputs: readonly string[] = []): Promise<void> {
    const data = await readStateFile(this.#path, FILES_STATE);
    let from = 0;
    if (data) {
      from = data.buffer_offset;
      for (const s of data.streams) this.add(s);
      this.#started = new Set(data.inputs ?? fileInputs);
      if (!data.inputs) this.#changed = true;
    }
    for await (const m of buffer.log.scanMeta(Math.max(from, buffer.log.firstOffset))) {
      const meta = decodeBufferedMeta(m.meta);
      if (meta.key) this.applyBatch(meta, m.baseOffset, m.timestamp);
    }
    this.#reflected = buffer.log.nextOffset;
    this.#checkpointed = from;
  }

  /** Records a batch that is now durably in the buffer at `bufferOffset`. */
  applyBatch(meta: BufferedMeta, bufferOffset: number, now: number): void {
    let s = this.#streams.get(meta.key);
    if (!s) {
      s = { key: meta.key, topic: meta.topic, path: meta.source, dev: meta.dev, ino: meta.ino, fpLen: 0, fpCrc: 0, offset: 0, lastSeen: now };
      this.add(s);
    }
    s.path = meta.source;
    s.offset = meta.end;
    s.dev = meta.dev;
    s.ino = meta.ino;
    if (meta.cursor) s.cursor = meta.cursor;
    if (meta.fpLen >= s.fpLen) this.setFingerprint(s, meta.fpLen, meta.fpCrc);
    s.lastSeen = Math.max(s.lastSeen, now);
    if (bufferOffset + 1 > this.#reflected) this.#reflected = bufferOffset + 1;
  }

  /** Notes a buffered batch that carries no file position (other inputs). */
  advance(next: number): void {
    if (next > this.#reflected) this.#reflected = next;
  }

  get(key: string): StreamState | undefined {
    return this.#streams.get(key);
  }

  add(s: StreamState): void {
    this.#streams.set(s.key, s);
    this.#index(s);
    this.#changed = true;
  }

  /**
   * Has this file input had its first start? `start_at` applies only to the files found then: a
   * file first seen at a later start was created or matched while the agent was down, and its
   * lines are read from its beginning.
   */
  hasStarted(input: string): boolean {
    return this.#started.has(input);
  }

  /** The input's first start is over (its files found then all have streams); kept in the next checkpoint. */
  markStarted(input: string): void {
    if (this.#started.has(input)) return;
    this.#started.add(input);
    this.#changed = true;
  }

  /** A stream was added or got a new fingerprint since the last checkpoint (worth writing one). */
  get changed(): boolean {
    return this.#changed;
  }

  /**
   * Streams with no fingerprint whose last known device+inode are these. Without content to go by,
   * only the inode can find them again; agents before 2026-12-03 left a file first read from its
   * end (start_at: end) without a fingerprint.
   */
  unidentified(dev: number, ino: number): StreamState[] {
    const out: StreamState[] = [];
    for (const s of this.#unidentified) if (s.dev === dev && s.ino === ino) out.push(s);
    return out;
  }

  /** Changes a stream's fingerprint, keeping the lookup index right. */
  setFingerprint(s: StreamState, fpLen: number, fpCrc: number): void {
    if (s.fpLen === fpLen && s.fpCrc === fpCrc >>> 0) return;
    this.#unindex(s);
    s.fpLen = fpLen;
    s.fpCrc = fpCrc >>> 0;
    if (this.#streams.get(s.key) === s) this.#index(s);
    this.#changed = true;
  }

  /** Streams whose fingerprint matches the start of a file, given its first min(size, 1 KiB) bytes. */
  candidates(head: Buffer): StreamState[] {
    const out: StreamState[] = [];
    let crc = 0;
    let done = 0;
    for (const len of this.#fpLens) {
      if (len > head.length) break;
      crc = crc32c(head.subarray(done, len), crc);
      done = len;
      const set = this.#byFp.get(len)?.get(crc >>> 0);
      if (set) out.push(...set);
    }
    return out;
  }

  #index(s: StreamState): void {
    if (s.fpLen === 0) {
      this.#unidentified.add(s);
      return;
    }
    let m = this.#byFp.get(s.fpLen);
    if (!m) {
      m = new Map();
      this.#byFp.set(s.fpLen, m);
      this.#fpLens.push(s.fpLen);
      this.#fpLens.sort((a, b) => a - b);
    }
    let set = m.get(s.fpCrc >>> 0);
    if (!set) m.set(s.fpCrc >>> 0, (set = new Set()));
    set.add(s);
  }

  #unindex(s: StreamState): void {
    this.#unidentified.delete(s);
    const m = this.#byFp.get(s.fpLen);
    const set = m?.get(s.fpCrc >>> 0);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) m!.delete(s.fpCrc >>> 0);
    if (m!.size === 0) {
      this.#byFp.delete(s.fpLen);
      this.#fpLens = this.#fpLens.filter((l) => l !== s.fpLen);
    }
  }

  all(): IterableIterator<StreamState> {
    return this.#streams.values();
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Buffer offset the last written checkpoint covers: segments below it may be deleted. */
  get checkpointedOffset(): number {
    return this.#checkpointed;
  }

  /** Forgets streams not seen for ttl, then writes the checkpoint atomically. */
  checkpoint(now: number, ttlMs: number): Promise<void> {
    const reflected = this.#reflected;
    this.#changed = false;
    for (const [k, s] of this.#streams) {
      if (now - s.lastSeen > ttlMs && s.cursor === undefined) {
        this.#unindex(s);
        this.#streams.delete(k);
      }
    }
    const streams = [...this.#streams.values()].map(({ read: _read, ...rest }) => rest);
    const body = { buffer_offset: reflected, streams, inputs: [...this.#started] };
    this.#writing = this.#writing
      .catch(() => undefined)
      .then(() => writeStateFile(this.#path, FILES_STATE, body))
      .then(() => {
        this.#checkpointed = Math.max(this.#checkpointed, reflected);
      });
    return this.#writing;
  }
}
