/**
 * Runs the configured sinks that have an implementation: each one a Sink plus
 * one Consumer per topic (group `sink-<name>`, in-process transport, follow,
 * retry with backoff). close() stops the consumers first (a delivery in
 * flight finishes and is committed), then the sinks.
 */
import type { Logger } from '../../lib/obs/logger.js';
import { Consumer, type ConsumerTransport } from '../consumer/index.js';
import type { AggregatorMetrics } from '../metrics.js';
import type { PlainItem, Storage } from '../storage/types.js';
import type { GroupStore } from '../topics/groups.js';
import type { SinkRegistry } from './registry.js';
import type { PipelineSet } from '../pipelines/index.js';
import type { Sink, SinkConfigBase } from './types.js';

export interface SinkRunnerOptions {
  registry: SinkRegistry;
  sinks: SinkConfigBase[];
  transport: ConsumerTransport;
  logger: Logger;
  metrics?: AggregatorMetrics;
  /** where dead letters are appended (SinkContext.appendPlain) */
  storage?: Storage;
  /** committed offsets, for the lag in reports() */
  groups?: GroupStore;
  /** parsing pipelines, handed to each sink (SinkContext.pipelines) */
  pipelines?: PipelineSet;
}

/** One sink as `GET /v1/sinks` and `logship sinks` show it. */
export interface SinkReport {
  name: string;
  type: string;
  /** ok | degraded | not_running (configured, but this version does not run its type) */
  state: 'ok' | 'degraded' | 'not_running';
  reason?: string;
  /** records not yet delivered, per topic (partition end minus the group's committed offset) */
  lag: Record<string, number>;
  /** the sink's own figures (documents, last error, ...) */
  status?: Record<string, unknown>;
}

/** How long close() lets deliveries in flight finish before it aborts their retries (uncommitted: redelivered at the next start). */
const CLOSE_GRACE_MS = 5_000;

export class SinkRunner {
  #o: SinkRunnerOptions;
  #running: Array<{ name: string; sink: Sink; consumers: Consumer[]; runs: Promise<void>[] }> = [];
  #closing: Promise<void> | undefined;

  constructor(opts: SinkRunnerOptions) {
    this.#o = opts;
  }

  /** Configured sinks whose type does not run in this version. */
  notImplemented(): SinkConfigBase[] {
    return this.#o.sinks.filter((s) => !this.#o.registry.get(s.type)?.create);
  }

  async start(): Promise<void> {
    for (const cfg of this.#o.sinks) {
      const def = this.#o.registry.get(cfg.type);
      if (!def?.create || def.alerts) continue;
      const log = this.#o.logger.child({ sink: cfg.name, type: cfg.type });
      const storage = this.#o.storage;
      const appendPlain = storage
        ? (topic: string, items: PlainItem[]) =>
            storage.withTopic(topic, true, async (t) => {
              if (!t) throw new Error(`topic "${topic}" cannot be created`);
              await t.partitions[0]!.appendPlain(items);
            })
        : undefined;
      const sink = def.create(cfg, { logger: log, metrics: this.#o.metrics, appendPlain, pipelines: this.#o.pipelines });
      await sink.start();
      const consumers = (cfg.topics ?? []).map(
        (topic) =>
          new Consumer({
            transport: this.#o.transport,
            topic,
            group: `sink-${cfg.name}`,
            follow: true,
            startAt: 'beginning',
            deliver: (d) => sink.deliver(d),
            decode: sink.decode?.bind(sink),
            maxBytes: def.fetchMaxBytes,
            onGap: (partition, from, to) => log.warn({ topic, partition, from, to: to - 1 }, 'sink fell behind retention: these offsets were deleted before it read them'),
            onRetry: (err, delayMs) => log.warn({ topic, err, retry_in_ms: delayMs }, 'sink delivery failed; retrying'),
          }),
      );
      const runs = consumers.map((c) => c.run().catch((err: unknown) => log.error({ err }, 'sink consumer stopped')));
      this.#running.push({ name: cfg.name, sink, consumers, runs });
    }
  }

  /** Record sinks: state, lag per topic and the sink's own status. */
  reports(): SinkReport[] {
    return this.#o.sinks
      .filter((cfg) => !this.#o.registry.get(cfg.type)?.alerts)
      .map((cfg) => {
        const r = this.#running.find((x) => x.name === cfg.name);
        const lag = Object.fromEntries((cfg.topics ?? []).map((t) => [t, this.#lag(`sink-${cfg.name}`, t)]));
        if (!r) return { name: cfg.name, type: cfg.type, state: 'not_running' as const, reason: 'this sink type is not implemented in this version', lag };
        const h = r.sink.health();
        return { name: cfg.name, type: cfg.type, state: h.ok ? ('ok' as const) : ('degraded' as const), ...(h.reason ? { reason: h.reason } : {}), lag, status: r.sink.status?.() };
      });
  }

  /** Same rule as the consumer-lag gauge: what is gone (below first_offset) is not lag. */
  #lag(group: string, topic: string): number {
    const t = this.#o.storage?.get(topic);
    if (!t) return 0;
    const committed = this.#o.groups?.get(group).get(topic);
    let lag = 0;
    for (const p of t.partitions) lag += Math.max(0, p.nextOffset - Math.max(committed?.get(p.partition) ?? p.firstOffset, p.firstOffset));
    return lag;
  }

  health(): Record<string, ReturnType<Sink['health']>> {
    return Object.fromEntries(this.#running.map((r) => [r.name, r.sink.health()]));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stops = Promise.all(this.#running.flatMap((r) => r.consumers.map((c) => c.stop())));
      // A sink still retrying against an unreachable service would hold shutdown forever: after a grace, abort its retries.
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([stops, grace]);
      clearTimeout(timer);
      for (const r of this.#running) r.sink.abort?.();
      await stops;
      await Promise.all(this.#running.flatMap((r) => r.runs));
      await Promise.allSettled(this.#running.map((r) => r.sink.close()));
    })();
    return this.#closing;
  }
}
