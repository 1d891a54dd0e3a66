/**
 * Sink types by `type`. Adding a sink: a folder aggregator/sinks/<type>/ with
 * config.ts (its option table) and index.ts (the Sink), and one line in
 * builtinSinks below. aggregator/config.ts composes the tables from here.
 */
import { LogshipError } from '../../lib/errors.js';
import type { OptionTable } from '../../lib/config/option-table.js';
import { alertmanagerOptions } from './alertmanager/config.js';
import { elasticsearchOptions } from './elasticsearch/config.js';
import { createElasticsearchSink } from './elasticsearch/index.js';
import { pagerdutyOptions } from './pagerduty/config.js';
import { webhookOptions } from './webhook/config.js';
import type { SinkDefinition } from './types.js';

export class SinkRegistry {
  #defs = new Map<string, SinkDefinition>();

  constructor(defs: SinkDefinition[] = []) {
    for (const d of defs) this.register(d);
  }

  register(def: SinkDefinition): this {
    if (this.#defs.has(def.type)) throw new LogshipError('LSH_ERR_CONFIG', `sink type "${def.type}" is already registered`);
    this.#defs.set(def.type, def);
    return this;
  }

  get(type: string): SinkDefinition | undefined {
    return this.#defs.get(type);
  }

  types(): string[] {
    return [...this.#defs.keys()];
  }

  /** type -> option table, in registration order (the config union). */
  tables(): Record<string, OptionTable> {
    return Object.fromEntries([...this.#defs].map(([type, d]) => [type, d.options]));
  }

  alertTypes(): Set<string> {
    return new Set([...this.#defs.values()].filter((d) => d.alerts).map((d) => d.type));
  }

  /** A copy to add test or plugin sinks to without touching the built-in one. */
  clone(): SinkRegistry {
    return new SinkRegistry([...this.#defs.values()]);
  }
}

export const builtinSinks = new SinkRegistry([
  { type: 'elasticsearch', options: elasticsearchOptions, create: createElasticsearchSink, fetchMaxBytes: 4 << 20 },
  { type: 'alertmanager', options: alertmanagerOptions, alerts: true },
  { type: 'pagerduty', options: pagerdutyOptions, alerts: true },
  { type: 'webhook', options: webhookOptions, alerts: true },
]);
