/** What the JSON ingest routes share for the aggregator's lifetime: limits, gate, id window, metrics. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../lib/obs/logger.js';
import type { JsonIngestLimits } from './config.js';
import { IdStore } from './id-store.js';
import { RequestGate } from './request-limits.js';
import { bulkRecordOf } from './bulk.js';
import type { Storage } from '../../storage/types.js';
import { Definitions } from './startup.js';

export function createJsonIngestMetrics(registry: Registry) {
  return {
    items: new Counter({
      name: 'logship_aggregator_json_items_total',
      help: 'Documents of _bulk and produce requests by route and result (created, updated, noop, conflict, error)',
      labelNames: ['route', 'result'],
      registers: [registry],
    }),
    refused: new Counter({
      name: 'logship_aggregator_json_refused_total',
      help: 'Whole _bulk and produce requests refused, by route and reason (the error type answered)',
      labelNames: ['route', 'reason'],
      registers: [registry],
    }),
    idEntries: new Gauge({ name: 'logship_aggregator_idempotence_entries', help: '_ids and Idempotency-Keys held in the idempotence window', registers: [registry] }),
    idEvicted: new Counter({
      name: 'logship_aggregator_idempotence_evicted_total',
      help: 'Entries forgotten before the idempotence window ended because limits.max_idempotence_entries was reached',
      registers: [registry],
    }),
  };
}

export type JsonIngestMetrics = ReturnType<typeof createJsonIngestMetrics>;

export class JsonIngestState {
  readonly limits: JsonIngestLimits;
  readonly gate: RequestGate;
  readonly ids: IdStore;
  readonly metrics: JsonIngestMetrics;
  readonly logger: Logger;
  /** templates, policies and data streams PUT by clients (memory only) */
  readonly definitions = new Definitions();
  #warned = new Set<string>();

  constructor(o: { limits: JsonIngestLimits; dataDir: string; registry: Registry; logger: Logger; now?: () => number }) {
    this.limits = o.limits;
    this.logger = o.logger;
    this.gate = new RequestGate(o.limits.max_concurrent_json_requests);
    this.metrics = createJsonIngestMetrics(o.registry);
    this.ids = new IdStore({
      dataDir: o.dataDir,
      windowMs: o.limits.idempotence_window,
      maxEntries: o.limits.max_idempotence_entries,
      logger: o.logger,
      ...(o.now ? { now: o.now } : {}),
      onEvicted: (n) => this.metrics.idEvicted.inc(n),
      bulkRecord: bulkRecordOf,
    });
  }

  async open(storage: Storage): Promise<void> {
    const r = await this.ids.open(storage);
    if (r.damaged > 0) this.logger.warn({ damaged_lines: r.damaged }, 'idempotence journal: damaged lines skipped (ids they named were looked up in the log again)');
    this.logger.info({ entries: r.entries, recovered_from_log: r.recovered }, 'idempotence window loaded');
    this.metrics.idEntries.set(this.ids.size);
  }

  close(): void {
    this.ids.close();
  }

  /** Logs `message` at WARN the first time `what` happens in this process. */
  warnOnce(what: string, message: string, fields: Record<string, unknown> = {}): void {
    if (this.#warned.has(what)) return;
    this.#warned.add(what);
    this.logger.warn(fields, message);
  }
}
