/**
 * The agents this aggregator has heard from (GET /v1/agents, the status
 * page): per host, the last accepted batch request, bytes and records per
 * second over a short window, and what the agent last said about itself in
 * the optional X-Logship-Agent-Status header (buffer and lag).
 *
 * Bounded: at most `maxHosts` entries (default 10,000); the host heard from
 * longest ago is dropped first. Each entry holds a fixed ring of one-second
 * buckets, so memory does not grow with traffic.
 */
import { Counter, type Registry } from 'prom-client';

/** The header an agent sends with each POST /v1/batches: `key=value` pairs separated by `;`. */
export const AGENT_STATUS_HEADER = 'x-logship-agent-status';
/** Keys the header may carry (non-negative integers); anything else is ignored and counted. */
export const AGENT_STATUS_KEYS = ['buffer_bytes', 'buffer_max_bytes', 'unacked_batches', 'lag_bytes'] as const;
type StatusKey = (typeof AGENT_STATUS_KEYS)[number];
/** A longer header is ignored as a whole (it cannot be a well-formed one). */
const MAX_HEADER_CHARS = 512;
/** Host names longer than this are cut (the wire format allows more; a table key need not). */
const MAX_HOST_CHARS = 256;
/** The rate window, in one-second buckets. */
const WINDOW_S = 10;

export interface AgentView {
  host: string;
  producer: string;
  first_seen: string;
  last_batch: string;
  last_batch_age_seconds: number;
  /** raw (uncompressed) bytes per second over the last WINDOW_S seconds */
  bytes_per_second: number;
  records_per_second: number;
  bytes_total: number;
  records_total: number;
  /** as the agent last reported it; null: the agent does not report it */
  buffer_bytes: number | null;
  buffer_max_bytes: number | null;
  unacked_batches: number | null;
  lag_bytes: number | null;
}

interface Entry {
  host: string;
  producer: string;
  firstSeen: number;
  lastBatch: number;
  bytesTotal: number;
  recordsTotal: number;
  /** bucket second (epoch seconds) per slot, and its sums */
  sec: Float64Array;
  bytes: Float64Array;
  records: Float64Array;
  status: Partial<Record<StatusKey, number>>;
}

export interface AgentTableOptions {
  registry?: Registry;
  maxHosts?: number;
  now?: () => number;
}

export class AgentTable {
  #entries = new Map<string, Entry>();
  #max: number;
  #now: () => number;
  readonly invalidStatus: Counter<'reason'>;
  readonly evicted: Counter;

  constructor(o: AgentTableOptions = {}) {
    this.#max = o.maxHosts ?? 10_000;
    this.#now = o.now ?? Date.now;
    const registers = o.registry ? [o.registry] : [];
    this.invalidStatus = new Counter({
      name: 'logship_aggregator_agent_status_invalid_total',
      help: 'X-Logship-Agent-Status headers (or parts of them) ignored, by reason (too_long, bad_pair, unknown_key, bad_value)',
      labelNames: ['reason'],
      registers,
    });
    this.evicted = new Counter({ name: 'logship_aggregator_agents_evicted_total', help: 'Agents dropped from the agents table (GET /v1/agents) because it was full', registers });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** An accepted batch request: `bytes` raw bytes and `records` lines from `host`. */
  record(host: string, producer: string, bytes: number, records: number, statusHeader: string | string[] | undefined): void {
    const now = this.#now();
    const key = host.length > MAX_HOST_CHARS ? host.slice(0, MAX_HOST_CHARS) : host;
    let e = this.#entries.get(key);
    if (e) this.#entries.delete(key); // re-inserted below: the Map's order is least recently heard first
    else {
      e = { host: key, producer, firstSeen: now, lastBatch: now, bytesTotal: 0, recordsTotal: 0, sec: new Float64Array(WINDOW_S), bytes: new Float64Array(WINDOW_S), records: new Float64Array(WINDOW_S), status: {} };
      while (this.#entries.size >= this.#max) {
        const oldest = this.#entries.keys().next().value as string;
        this.#entries.delete(oldest);
        this.evicted.inc();
      }
    }
    this.#entries.set(key, e);
    e.producer = producer;
    e.lastBatch = now;
    e.bytesTotal += bytes;
    e.recordsTotal += records;
    const s = Math.floor(now / 1000);
    const i = s % WINDOW_S;
    if (e.sec[i] !== s) {
      e.sec[i] = s;
      e.bytes[i] = 0;
      e.records[i] = 0;
    }
    e.bytes[i]! += bytes;
    e.records[i]! += records;
    const header = Array.isArray(statusHeader) ? statusHeader[0] : statusHeader;
    if (header !== undefined) e.status = this.parseStatus(header);
  }

  /**
   * `buffer_bytes=123;lag_bytes=0`: known keys with non-negative safe integers
   * are kept; every other part is ignored and counted.
   */
  parseStatus(header: string): Partial<Record<StatusKey, number>> {
    const out: Partial<Record<StatusKey, number>> = {};
    if (header.length > MAX_HEADER_CHARS) {
      this.invalidStatus.inc({ reason: 'too_long' });
      return out;
    }
    for (const part of header.split(';')) {
      const p = part.trim();
      if (p === '') continue;
      const eq = p.indexOf('=');
      if (eq <= 0) {
        this.invalidStatus.inc({ reason: 'bad_pair' });
        continue;
      }
      const k = p.slice(0, eq).trim();
      const v = p.slice(eq + 1).trim();
      if (!(AGENT_STATUS_KEYS as readonly string[]).includes(k)) {
        this.invalidStatus.inc({ reason: 'unknown_key' });
        continue;
      }
      if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) {
        this.invalidStatus.inc({ reason: 'bad_value' });
        continue;
      }
      out[k as StatusKey] = Number(v);
    }
    return out;
  }

  /** Every agent, most recently heard first. */
  view(): AgentView[] {
    const now = this.#now();
    const s = Math.floor(now / 1000);
    const out: AgentView[] = [];
    for (const e of this.#entries.values()) {
      let bytes = 0;
      let records = 0;
      // Whole seconds before the current one (the current second is still filling), up to WINDOW_S - 1 of them.
      for (let j = 0; j < WINDOW_S; j++) {
        const at = e.sec[j]!;
        if (at < s && at >= s - (WINDOW_S - 1)) {
          bytes += e.bytes[j]!;
          records += e.records[j]!;
        }
      }
      // A host first heard less than the window ago is averaged over the seconds since then.
      const span = Math.max(1, Math.min(WINDOW_S - 1, s - Math.floor(e.firstSeen / 1000)));
      out.push({
        host: e.host,
        producer: e.producer,
        first_seen: new Date(e.firstSeen).toISOString(),
        last_batch: new Date(e.lastBatch).toISOString(),
        last_batch_age_seconds: Math.max(0, Math.round((now - e.lastBatch) / 100) / 10),
        bytes_per_second: Math.round(bytes / span),
        records_per_second: Math.round((records / span) * 10) / 10,
        bytes_total: e.bytesTotal,
        records_total: e.recordsTotal,
        buffer_bytes: e.status.buffer_bytes ?? null,
        buffer_max_bytes: e.status.buffer_max_bytes ?? null,
        unacked_batches: e.status.unacked_batches ?? null,
        lag_bytes: e.status.lag_bytes ?? null,
      });
    }
    return out.reverse();
  }
}
