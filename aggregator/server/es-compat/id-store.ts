/**
 * The idempotence window: which `_id`s (per topic, from _bulk) and which
 * Idempotency-Keys (per topic, from produce) were stored, when, with a hash
 * of what was stored, for limits.idempotence_window and at most
 * limits.max_idempotence_entries entries (the oldest are forgotten first;
 * logship_aggregator_idempotence_evicted_total counts them).
 *
 * Crash consistency. An entry is added only after the record it names is
 * durable (after the fsync that covers it), and before the answer goes out.
 * It is then written to a journal, data_dir/idempotence/journal, one JSON
 * line per entry, with a plain write (kill -9 keeps what the kernel has) and
 * an fsync at most once a second:
 *
 *   {"k":key,"t":storedAtMs,"h":hash,"v":version,"r":answer?}     an entry
 *   {"c":[topic,partition,offset]}                                 a checkpoint
 *
 * A checkpoint says every record carrying an id below `offset` in that
 * partition has its entry above it in the journal. Records name their id in
 * their stored line (a `_bulk` record's `bulk_id` field) or metadata
 * (source `produce#<key>`), so at start
 * the journal is read (entries older than the window dropped, a damaged line
 * skipped and counted) and each partition is scanned from its last
 * checkpoint to its end: an id whose record became durable but whose
 * journal line was lost (a crash between the two) is found there. So after
 * kill -9 or a power loss, an id is held if and only if its record is stored.
 * The journal is rewritten (atomically) when it is four times larger than
 * what is live.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../../../lib/log/atomic-file.js';
import type { Logger } from '../../../lib/obs/logger.js';
import type { Storage } from '../../storage/types.js';
import { decodeStoredMeta } from '../../storage/stored-meta.js';
import { FLAG_JSON } from '../../../lib/protocol/json-records.js';

export interface HeldEntry {
  /** when it was stored (ms) */
  at: number;
  /** hash of what was stored ('' when recovered without it) */
  hash: string;
  /** how many versions of it were stored */
  version: number;
  /** produce: the answer to repeat */
  answer?: unknown;
}

export interface Committed {
  key: string;
  entry: HeldEntry;
}

/** Sources of records that carry an id (stored metadata): what the recovery scan looks for. */
export const BULK_SOURCE = '_bulk';
export const PRODUCE_KEY_SOURCE = 'produce#';

export const bulkKey = (topic: string, id: string) => `b\u0000${topic}\u0000${id}`;
export const produceKey = (topic: string, key: string) => `p\u0000${topic}\u0000${key}`;

export interface IdStoreOptions {
  dataDir: string;
  windowMs: number;
  maxEntries: number;
  logger: Logger;
  now?: () => number;
  onEvicted?: (n: number) => void;
  /** the _id and document hash of a stored _bulk line, undefined when it has no _id */
  bulkRecord: (line: Buffer) => { id: string; hash: string } | undefined;
}

interface Scanned {
  /** produce answers rebuilt from the log: key -> per request index -> [partition, offset] */
  produce: Map<string, Array<[number, number]>>;
}

export class IdStore {
  #o: IdStoreOptions;
  #now: () => number;
  #entries = new Map<string, HeldEntry>();
  #locks = new Map<string, Promise<void>>();
  #dir: string;
  #file: string;
  #fd = -1;
  #bytes = 0;
  #dirty = false;
  #syncTimer: NodeJS.Timeout | undefined;
  /** last checkpoint per partition ("topic\0p" -> offset) */
  #checkpoints = new Map<string, number>();
  /** id appends in flight per partition: their first possible offset */
  #inflight = new Map<string, Map<number, number>>();
  #nextToken = 1;
  #compacting = false;
  #opened = false;

  constructor(o: IdStoreOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#dir = join(o.dataDir, 'idempotence');
    this.#file = join(this.#dir, 'journal');
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Reads the journal and scans the partitions past their checkpoints; call after storage.open(). */
  async open(storage: Storage): Promise<{ entries: number; recovered: number; damaged: number }> {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const raw = await readFileIfExists(this.#file);
    let damaged = 0;
    const cutoff = this.#now() - this.#o.windowMs;
    if (raw) {
      let pos = 0;
      while (pos < raw.length) {
        let nl = raw.indexOf(10, pos);
        if (nl < 0) nl = raw.length;
        const line = raw.toString('utf8', pos, nl);
        pos = nl + 1;
        if (line.trim() === '') continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (Array.isArray(o.c)) {
            const [t, p, off] = o.c as [string, number, number];
            if (typeof t !== 'string' || !Number.isSafeInteger(p) || !Number.isSafeInteger(off)) throw new Error('bad checkpoint');
            this.#checkpoints.set(`${t}\u0000${p}`, off);
          } else {
            if (typeof o.k !== 'string' || typeof o.t !== 'number' || typeof o.h !== 'string' || typeof o.v !== 'number') throw new Error('bad entry');
            if (o.t < cutoff) continue;
            this.#entries.delete(o.k);
            this.#entries.set(o.k, { at: o.t, hash: o.h, version: o.v, ...(o.r !== undefined ? { answer: o.r } : {}) });
          }
        } catch {
          damaged++;
        }
      }
    }
    const recovered = await this.#scan(storage);
    this.#evict();
    await this.#rewrite();
    this.#opened = true;
    return { entries: this.#entries.size, recovered, damaged };
  }

  async #scan(storage: Storage): Promise<number> {
    let found = 0;
    const scanned: Scanned = { produce: new Map() };
    const at = this.#now();
    for (const [pk, from] of this.#checkpoints) {
      const [topic, ps] = pk.split('\u0000') as [string, string];
      if (!storage.has(topic)) continue;
      await storage.withTopic(topic, false, async (t) => {
        const p = t?.partitions[Number(ps)];
        if (!p) return;
        let off = Math.max(from, p.firstOffset);
        while (off < p.nextOffset) {
          const batches = await p.read(off, 1 << 20);
          if (batches.length === 0) break;
          for (const b of batches) {
            off = b.baseOffset + b.count;
            let meta;
            try {
              meta = decodeStoredMeta(b.meta);
            } catch {
              continue;
            }
            if (meta.producer !== '' || meta.codec !== 0) continue;
            if (meta.source === BULK_SOURCE && meta.flags === FLAG_JSON) {
              for (let s = 0; s < b.payload.length; ) {
                let nl = b.payload.indexOf(10, s);
                if (nl < 0) nl = b.payload.length;
                const r = this.#o.bulkRecord(b.payload.subarray(s, nl));
                s = nl + 1;
                if (!r) continue;
                const key = bulkKey(topic, r.id);
                const prev = this.#entries.get(key);
                if (prev?.hash === r.hash) continue;
                this.#entries.delete(key);
                this.#entries.set(key, { at, hash: r.hash, version: (prev?.version ?? 0) + 1 });
                found++;
              }
            } else if (meta.source.startsWith(PRODUCE_KEY_SOURCE)) {
              const key = produceKey(topic, meta.source.slice(PRODUCE_KEY_SOURCE.length));
              if (this.#entries.has(key)) continue;
              let offs = scanned.produce.get(key);
              if (!offs) scanned.produce.set(key, (offs = []));
              for (let i = 0; i < b.count; i++) offs[meta.sourceOffset + i] = [p.partition, b.baseOffset + i];
            }
          }
        }
        this.#checkpoints.set(pk, off);
      });
    }
    for (const [key, offs] of scanned.produce) {
      const topic = key.split('\u0000')[1]!;
      this.#entries.set(key, { at, hash: '', version: 1, answer: { topic, offsets: [...offs].map((x) => (x ? { partition: x[0], offset: x[1] } : null)) } });
      found++;
    }
    return found;
  }

  get(key: string): HeldEntry | undefined {
    const e = this.#entries.get(key);
    if (e && e.at < this.#now() - this.#o.windowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /**
   * Waits until no other request holds any of `keys`, then holds them all
   * (all at once, so two requests never wait on each other). Release after
   * commit (or failure).
   */
  async lock(keys: readonly string[]): Promise<() => void> {
    if (keys.length === 0) return () => {};
    for (;;) {
      let busy: Set<Promise<void>> | undefined;
      if (this.#locks.size > 0) {
        for (const k of keys) {
          const l = this.#locks.get(k);
          if (l) (busy ??= new Set()).add(l);
        }
      }
      if (!busy) break;
      await Promise.all(busy);
    }
    let release!: () => void;
    const p = new Promise<void>((r) => (release = r));
    for (const k of keys) this.#locks.set(k, p);
    return () => {
      for (const k of keys) if (this.#locks.get(k) === p) this.#locks.delete(k);
      release();
    };
  }

  /** Call before appending id-carrying records to a partition; pass the token to commit(). */
  begin(topic: string, partition: number, nextOffset: number): number {
    const pk = `${topic}\u0000${partition}`;
    let m = this.#inflight.get(pk);
    if (!m) this.#inflight.set(pk, (m = new Map()));
    const token = this.#nextToken++;
    m.set(token, nextOffset);
    if (!this.#checkpoints.has(pk)) {
      // First id in this partition: a checkpoint before the record exists, so recovery scans it.
      this.#checkpoints.set(pk, nextOffset);
      this.#write(`${JSON.stringify({ c: [topic, partition, nextOffset] })}\n`);
    }
    return token;
  }

  /**
   * Records entries whose records are durable (call after the append
   * resolved, before answering), then a checkpoint for the partition. With no
   * entries (the append failed) only ends the token.
   */
  commit(topic: string, partition: number, token: number, nextOffset: number, items: readonly Committed[]): void {
    const pk = `${topic}\u0000${partition}`;
    const m = this.#inflight.get(pk);
    m?.delete(token);
    let lines = '';
    for (const { key, entry } of items) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      lines += entryLine(key, entry);
    }
    let low = nextOffset;
    if (m) for (const o of m.values()) low = Math.min(low, o);
    if (!this.#torn && low > (this.#checkpoints.get(pk) ?? -1)) {
      this.#checkpoints.set(pk, low);
      lines += `${JSON.stringify({ c: [topic, partition, low] })}\n`;
    }
    if (lines !== '') this.#write(lines);
    this.#evict();
  }

  #evict(): void {
    const cutoff = this.#now() - this.#o.windowMs;
    let n = 0;
    for (const [k, e] of this.#entries) {
      if (this.#entries.size > this.#o.maxEntries) {
        n++;
      } else if (e.at >= cutoff) break;
      this.#entries.delete(k);
    }
    if (n > 0) this.#o.onEvicted?.(n);
  }

  /**
   * Appends to the journal. Never throws: a failed write (disk full) is logged,
   * and what it held is found again by the log scan at start, because the
   * checkpoint that would have covered it was in the same write.
   */
  #write(s: string): void {
    if (this.#compacting) this.#pending.push(s);
    const b = Buffer.from(s);
    try {
      if (this.#fd < 0) this.#fd = openSync(this.#file, 'a', 0o600);
      let off = 0;
      while (off < b.length) off += writeSync(this.#fd, b, off);
    } catch (err) {
      if (!this.#writeFailed) this.#o.logger.error({ err, file: this.#file }, 'idempotence journal: write failed; ids stay held in memory, and the log scan at the next start finds them again');
      this.#writeFailed = true;
      // A torn line may be in the file now: no checkpoint may pass it until a rewrite replaces the file.
      this.#torn = true;
      return;
    }
    this.#writeFailed = false;
    this.#bytes += b.length;
    this.#dirty = true;
    if (!this.#syncTimer) {
      this.#syncTimer = setTimeout(() => this.#sync(), 1000);
      this.#syncTimer.unref();
    }
    if (this.#opened && !this.#compacting && this.#bytes > Math.max(16 << 20, this.#entries.size * 4 * 160)) void this.#rewrite();
  }

  #sync(): void {
    this.#syncTimer = undefined;
    if (!this.#dirty || this.#fd < 0) return;
    this.#dirty = false;
    try {
      fsyncSync(this.#fd);
    } catch (err) {
      this.#o.logger.warn({ err, file: this.#file }, 'idempotence journal: fsync failed (the log scan at start covers what it would have)');
    }
  }

  /** Rewrites the journal with what is live, atomically; lines written meanwhile are kept. */
  async #rewrite(): Promise<void> {
    this.#compacting = true;
    this.#pending = [];
    try {
      const parts: string[] = [];
      for (const [pk, off] of this.#checkpoints) {
        const [t, p] = pk.split('\u0000');
        parts.push(`${JSON.stringify({ c: [t, Number(p), off] })}\n`);
      }
      for (const [k, e] of this.#entries) parts.push(entryLine(k, e));
      const data = parts.join('');
      await writeFileAtomic(this.#file, data);
      if (this.#fd >= 0) closeSync(this.#fd);
      this.#fd = -1;
      this.#torn = false;
      this.#bytes = Buffer.byteLength(data);
      // Lines written while the new file was being written went to the old one: repeat them.
      const tail = this.#pending.join('');
      this.#compacting = false;
      this.#pending = [];
      if (tail !== '') this.#write(tail);
    } catch (err) {
      this.#o.logger.error({ err, file: this.#file }, 'idempotence journal: rewrite failed; it keeps growing until the next try');
    } finally {
      this.#compacting = false;
      this.#pending = [];
    }
  }

  #pending: string[] = [];
  #writeFailed = false;
  #torn = false;

  close(): void {
    if (this.#syncTimer) clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    if (this.#fd >= 0) {
      try {
        fsyncSync(this.#fd);
      } catch {
        /* the scan at start covers it */
      }
      closeSync(this.#fd);
    }
    this.#fd = -1;
  }
}

const HASH_TEXT = /^[A-Za-z0-9_-]*$/;

/** A journal entry line; the same JSON as JSON.stringify({k, t, h, v, r?}), written without building the object. */
function entryLine(key: string, e: HeldEntry): string {
  const r = e.answer !== undefined ? `,"r":${JSON.stringify(e.answer)}` : '';
  // hashes are base64url (hashBytes) or '': nothing to escape
  const h = HASH_TEXT.test(e.hash) ? `"${e.hash}"` : JSON.stringify(e.hash);
  return `{"k":${JSON.stringify(key)},"t":${e.at},"h":${h},"v":${e.version}${r}}\n`;
}
