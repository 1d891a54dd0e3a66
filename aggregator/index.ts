/**
 * The aggregator: HTTP ingest and read API over the embedded partitioned log.
 * Lifecycle: start() opens storage (recovery) then listens; close() stops
 * accepting, lets in-flight requests finish, and closes the logs.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AggregatorConfig } from './config.js';
import { isLoopbackListen, parseListen } from '../lib/config/index.js';
import { LogshipError } from '../lib/errors.js';
import type { Logger } from '../lib/obs/logger.js';
import { LocalStorage } from './storage/local.js';
import { JetStreamStorage } from './storage/jetstream/index.js';
import { KvGroupStore } from './storage/jetstream/groups.js';
import type { Storage } from './storage/types.js';
import { RecordDecoder, type SkippedBatch } from './storage/record-decoder.js';
import { PipelineSet } from './pipelines/index.js';
import { GroupStore } from './topics/groups.js';
import { loadTokens, TokenAuth } from './server/auth.js';
import { createRouter } from './server/router.js';
import { BatchStreams } from './server/batch-stream.js';
import { storeFrame } from './server/batches.js';
import { capListener, createListenServer, guardHandler, listenOn } from './server/http-util.js';
import { AgentTable } from './server/agents.js';
import { JsonIngestState } from './server/es-compat/state.js';
import { createAggregatorMetrics, type AggregatorMetrics } from './metrics.js';
import type { FsSeam } from '../lib/log/index.js';
import { isDiskFull } from '../lib/errors.js';
import type { PartitionEvents } from './storage/partition.js';
import { availableParallelism } from 'node:os';
import { PayloadPool } from '../lib/protocol/payload-pool.js';
import { TopicPolicy } from './topics/policy.js';
import { DescriptorBudget, FDS_PER_PARTITION, RESERVE, connectionCap, openFilesLimit } from './storage/descriptors.js';
import { builtinSinks, type SinkRegistry } from './sinks/registry.js';
import { SinkRunner } from './sinks/runner.js';
import { LocalTransport } from './consumer/local-transport.js';
import { AlertEngine, baseUrlFor, builtinNotifiers } from './alerts/index.js';
import { checkDataDir } from '../lib/state/data-dir.js';
import { mkdir } from 'node:fs/promises';
import { IngestHub } from './ingest/hub.js';
import type { ServerContext } from './server/context.js';

export interface AggregatorOptions {
  config: AggregatorConfig;
  logger: Logger;
  /** Only for benchmarks that measure everything but the disk. */
  fsync?: boolean;
  /** The fs seam under every partition (tests inject ENOSPC and count fsyncs); default realFs. */
  io?: FsSeam;
  /** Producer-state snapshot interval while ingest goes on; default 30 s (also at every roll and at close). */
  snapshotIntervalMs?: number;
  /** Sink types by `type`; default the built-in ones (tests add their own). */
  sinkRegistry?: SinkRegistry;
}

export class Aggregator {
  #cfg: AggregatorConfig;
  #logger: Logger;
  #server: Server | undefined;
  #streams: BatchStreams | undefined;
  #ready = false;
  #retentionTimer: NodeJS.Timeout | undefined;
  #retentionRun: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #jsonIngest: JsonIngestState | undefined;
  /** ingest processes, when ingest.processes > 1 (aggregator/ingest/) */
  #hub: IngestHub | undefined;
  readonly storage: Storage;
  /** the same object as storage, for what only local storage has (the descriptor budget) */
  #local: LocalStorage | undefined;
  /** client connections this process holds open at most (limits.max_connections or its default); undefined: no cap */
  #maxConnections: number | undefined;
  /** the same object as storage when it is on JetStream (availability for readiness) */
  #js: JetStreamStorage | undefined;
  readonly groups: GroupStore;
  readonly metrics: AggregatorMetrics;
  /** parsing pipelines (schema on read): the records API's parse=1 and the sinks' documents */
  readonly pipelines: PipelineSet;
  readonly payloads: PayloadPool;
  readonly decoder: RecordDecoder;
  readonly sinks: SinkRunner;
  /** the alert engine, while running (none without alert rules) */
  alerts: AlertEngine | undefined;
  #baseUrl = '';

  constructor(opts: AggregatorOptions) {
    this.#cfg = opts.config;
    this.#logger = opts.logger;
    this.metrics = createAggregatorMetrics();
    const fdLimit = openFilesLimit();
    this.#maxConnections = connectionCap(this.#cfg, fdLimit);
    // Topic names come from clients: only the config's own keys count ("constructor" is a topic, not Object).
    const settingsFor = (t: string) => ({ ...this.#cfg.topics.default, ...(t !== 'default' && Object.hasOwn(this.#cfg.topics, t) ? this.#cfg.topics[t] : {}) });
    if (this.#cfg.storage.type === 'jetstream') {
      const js = new JetStreamStorage({
        config: this.#cfg.storage,
        settingsFor,
        logger: this.#logger,
        maxPartitions: this.#cfg.limits.max_partitions_per_topic,
        // The same histogram as local storage: there write + fsync, here publish until the quorum's acknowledgement.
        onAppended: (topic, seconds) => this.metrics.appendSeconds.observe({ topic }, seconds),
      });
      this.storage = this.#js = js;
      this.groups = new KvGroupStore(() => js.groupsKv, this.#logger);
    } else {
      this.storage = this.#local = new LocalStorage({
        dataDir: this.#cfg.data_dir,
        logger: this.#logger,
        fsync: opts.fsync,
        io: opts.io,
        snapshotIntervalMs: opts.snapshotIntervalMs,
        events: this.#partitionEvents(),
        settingsFor,
        maxPartitions: this.#cfg.limits.max_partitions_per_topic,
        // Connections up to their cap are counted first: a flood of them cannot take a partition's descriptors.
        budget: new DescriptorBudget(fdLimit, this.#maxConnections ?? 0),
      });
      this.groups = new GroupStore(this.#cfg.data_dir, this.#logger);
    }
    this.payloads = new PayloadPool(Math.min(2, Math.max(1, availableParallelism())), (reason) => this.#logger.error({ reason }, 'payload workers unavailable: ingest checks and reads now run on the event loop'));
    this.decoder = new RecordDecoder({ payloads: this.payloads, maxRawBytes: this.#cfg.limits.max_decompressed_batch_bytes, onSkipped: (s) => this.#skippedBatch(s) });
    this.pipelines = new PipelineSet(this.#cfg.pipelines ?? {}, (pipeline, step) => this.metrics.pipelineFailures.inc({ pipeline, step }));
    this.sinks = new SinkRunner({
      pipelines: this.pipelines,
      registry: opts.sinkRegistry ?? builtinSinks,
      sinks: this.#cfg.sinks,
      transport: new LocalTransport({ storage: this.storage, groups: this.groups, decoder: this.decoder }),
      logger: this.#logger,
      metrics: this.metrics,
      storage: this.storage,
      groups: this.groups,
    });
  }

  /** Resolves with the address actually bound (port 0 picks a free one). */
  async start(): Promise<AddressInfo> {
    const { tokens, warnings } = loadTokens(this.#cfg.auth.tokens);
    for (const w of warnings) this.#logger.warn(w);
    const alertTypes = builtinSinks.alertTypes();
    const idle = this.sinks.notImplemented().filter((s) => !alertTypes.has(s.type));
    if (idle.length > 0) {
      this.#logger.error(
        { sinks: idle.map((x) => x.name) },
        'these sinks are not implemented in this version: they do not run. Records stay in the log (within retention) and can be read with logship read --group',
      );
    }
    if (tokens.length === 0 && !isLoopbackListen(this.#cfg.listen)) {
      throw new LogshipError(
        'LSH_ERR_CONFIG',
        `refusing to listen on ${this.#cfg.listen} without auth.tokens: configure a token or listen on a loopback address`,
      );
    }
    this.#checkDescriptorBudget();
    // Before anything in it is read: a directory of a newer layout or of the agent is refused.
    await mkdir(this.#cfg.data_dir, { recursive: true, mode: 0o700 });
    await checkDataDir(this.#cfg.data_dir, 'aggregator');
    await this.storage.open();
    await this.groups.open();
    this.#jsonIngest = new JsonIngestState({ limits: this.#cfg.limits, dataDir: this.#cfg.data_dir, registry: this.metrics.registry, logger: this.#logger });
    await this.#jsonIngest.open(this.storage);
    const ctx: ServerContext = {
      storage: this.storage,
      decoder: this.decoder,
      pipelines: this.pipelines,
      groups: this.groups,
      metrics: this.metrics,
      auth: new TokenAuth(tokens),
      logger: this.#logger,
      limits: {
        maxBodyBytes: this.#cfg.limits.max_body_bytes,
        maxDecompressedBatchBytes: this.#cfg.limits.max_decompressed_batch_bytes,
        maxDecompressedRequestBytes: this.#cfg.limits.max_decompressed_request_bytes,
      },
      topicPolicy: new TopicPolicy({
        maxTopics: this.#cfg.limits.max_topics,
        autoCreate: this.#cfg.limits.auto_create_topics,
        configured: (t) => t !== 'default' && Object.hasOwn(this.#cfg.topics, t),
      }),
      payloads: this.payloads,
      // On JetStream, not ready (503) while it is unreachable or has no quorum: agents keep buffering.
      isReady: () => this.#ready && (this.#js?.available ?? true),
      alerts: () => this.alerts?.view(),
      jsonIngest: this.#jsonIngest,
      beforeScrape: () => this.refreshGauges(),
      sinks: () => this.sinks.reports(),
      agents: new AgentTable({ registry: this.metrics.registry }),
    };
    const router = createRouter(ctx);
    // Last line of defence: whatever a request does, it must not take the process down (the ingest processes use the same).
    const handler = guardHandler(router, this.#logger);
    const tls = this.#cfg.tls;
    const processes = IngestHub.processesFor(this.#cfg, this.#logger);
    if (processes > 1) {
      // POST /v1/batches in ingest processes on the listen port; this process stores and answers the rest, relayed.
      const hub = (this.#hub = new IngestHub({ config: this.#cfg, logger: this.#logger, ctx, processes, handler, closing: () => this.#closing !== undefined }));
      ctx.renderMetrics = () => hub.metricsText();
      this.#server = await hub.start();
    } else {
      this.#server = createListenServer(tls, handler);
      capListener(this.#server, this.#maxConnections, ctx.metrics, this.#logger, this.#cfg.limits.max_connections_per_address);
      const streams = (this.#streams = new BatchStreams({
        metrics: ctx.metrics,
        logger: this.#logger,
        auth: ctx.auth,
        isReady: ctx.isReady,
        maxBodyBytes: ctx.limits.maxBodyBytes,
        store: (body, principal, status) => storeFrame(ctx, body, principal, status),
      }));
      this.#server.on('upgrade', streams.upgrade);
      const { host, port } = splitListen(this.#cfg.listen);
      await listenOn(this.#server, host, port);
    }
    await this.sinks.start();
    const bound = this.#hub?.address ?? (this.#server.address() as AddressInfo);
    this.#baseUrl = baseUrlFor(bound.address, bound.port, this.#cfg.tls !== undefined);
    // with no rules, saved alert state may still hold incidents of removed rules to resolve
    if (this.#cfg.alerts.length > 0 || AlertEngine.hasState(this.#cfg.data_dir)) {
      this.alerts = new AlertEngine({
        rules: this.#cfg.alerts,
        sinks: this.#cfg.sinks,
        createNotifier: builtinNotifiers(() => this.#baseUrl),
        transport: new LocalTransport({ storage: this.storage, groups: this.groups, decoder: this.decoder }),
        storage: this.storage,
        groups: this.groups,
        dataDir: this.#cfg.data_dir,
        logger: this.#logger,
        registry: this.metrics.registry,
        pipelines: this.pipelines,
        baseUrl: () => this.#baseUrl,
      });
      await this.alerts.start();
    }
    this.#ready = true;
    this.#scheduleRetention();
    const addr = this.#hub?.address ?? (this.#server.address() as AddressInfo);
    this.#logger.info({ address: `${addr.address}:${addr.port}`, data_dir: this.#cfg.data_dir, topics: this.storage.list().length }, 'aggregator listening');
    return addr;
  }

  /**
   * Descriptors: logs a clear error when ulimit -n cannot hold limits.max_topics topics of the
   * default partition count. Never refuses to start: topics beyond the budget are refused when
   * created (403) or left closed at open, with the same message.
   */
  #checkDescriptorBudget(): void {
    const b = this.#local?.budget;
    if (!b || b.limit === undefined) return;
    if (this.#cfg.limits.max_connections !== undefined && this.#cfg.limits.max_connections > b.limit - RESERVE) {
      this.#logger.warn(
        { ulimit_n: b.limit, max_connections: this.#cfg.limits.max_connections },
        `limits.max_connections (${this.#cfg.limits.max_connections}) is more than ulimit -n ${b.limit} holds beside the ${RESERVE} descriptors kept for workers and reads: raise LimitNOFILE (systemd) or ulimit -n to at least ${this.#cfg.limits.max_connections + RESERVE}, or lower limits.max_connections; until then accepting connections fails (EMFILE) before the limit is reached, and topics cannot be opened`,
      );
    }
    const want = this.#cfg.limits.max_topics * this.#cfg.topics.default.partitions;
    if (want > b.partitions) {
      this.#logger.warn(
        { ulimit_n: b.limit, max_connections: b.connections, max_topics: this.#cfg.limits.max_topics, partitions: this.#cfg.topics.default.partitions, partitions_that_fit: b.partitions },
        `descriptor budget: ulimit -n ${b.limit} holds about ${b.partitions} open partitions beside ${b.connections} connections (limits.max_connections), but limits.max_topics x topics.default.partitions is ${want}. Raise LimitNOFILE (systemd) or ulimit -n to at least ${want * FDS_PER_PARTITION + RESERVE + b.connections}, or lower limits.max_topics or limits.max_connections; creating topics beyond the budget answers 503 with this reason`,
      );
    }
  }

  /** A reader stepped over a stored batch it cannot use (one log line and one count per batch and read). */
  #skippedBatch(s: SkippedBatch): void {
    this.metrics.readSkippedBatches.inc({ topic: s.topic });
    this.#logger.error(
      { topic: s.topic, partition: s.partition, offsets: `${s.baseOffset}..${s.baseOffset + s.lines - 1}`, reason: s.reason },
      'skipped a stored batch whose payload disagrees with its header (disk corruption or an older writer); readers continue after it',
    );
  }

  /** Metrics and log lines for what partitions report (house style 8: one place per event). */
  #partitionEvents(): PartitionEvents {
    const m = this.metrics;
    const log = this.#logger;
    let full = false;
    // The histogram's child per topic, looked up by label once, not per append (bounded like the topics).
    const appendTimes = new Map<string, { observe(v: number): void }>();
    return {
      appended: (p, seconds) => {
        let h = appendTimes.get(p.topic);
        if (!h) {
          if (appendTimes.size >= 10_000) appendTimes.clear();
          appendTimes.set(p.topic, (h = m.appendSeconds.labels({ topic: p.topic })));
        }
        h.observe(seconds);
        if (full) {
          full = false;
          m.diskFull.set(0);
          log.info({ topic: p.topic, partition: p.partition }, 'disk space is back: appends succeed again, ingest resumed');
        }
      },
      appendFailed: (p, err) => {
        const diskFull = isDiskFull(err);
        m.appendFailures.inc({ topic: p.topic, reason: diskFull ? 'disk_full' : 'io' });
        if (diskFull) {
          if (!full) {
            log.error(
              { topic: p.topic, partition: p.partition, data_dir: this.#cfg.data_dir, err },
              'disk full: ingest answers 507 and producers keep their data buffered; nothing stored is affected. Free space in the data directory: ingest resumes by itself',
            );
          }
          full = true;
          m.diskFull.set(1);
        } else {
          log.error({ topic: p.topic, partition: p.partition, err }, 'append failed and was rolled back; the producer re-sends it');
        }
      },
      recovered: (p, report) => {
        if (report.truncatedBytes > 0) m.recoveryCutBytes.inc({ topic: p.topic }, report.truncatedBytes);
        if (report.quarantined.length > 0) m.quarantinedSegments.inc({ topic: p.topic }, report.quarantined.length);
      },
    };
  }

  /** Sets the gauges derived from state (partition offsets, consumer lag); called on each /metrics scrape. */
  refreshGauges(): void {
    const m = this.metrics;
    m.partitionFirstOffset.reset();
    m.partitionNextOffset.reset();
    m.partitionBytes.reset();
    m.groupLag.reset();
    this.alerts?.refreshGauges();
    for (const t of this.storage.list()) {
      for (const p of t.partitions) {
        const labels = { topic: t.name, partition: String(p.partition) };
        m.partitionFirstOffset.set(labels, p.firstOffset);
        m.partitionNextOffset.set(labels, p.nextOffset);
        m.partitionBytes.set(labels, p.bytes);
      }
    }
    for (const [group, offsets] of this.groups.all()) {
      for (const [topic, parts] of offsets) {
        const t = this.storage.get(topic);
        if (!t) continue;
        // A group that consumes a topic reads every partition; one it never committed starts at first_offset.
        for (const p of t.partitions) {
          const committed = parts.get(p.partition) ?? p.firstOffset;
          // A committed offset below first_offset resumes at first_offset: what is gone is not lag.
          const lag = p.nextOffset - Math.max(committed, p.firstOffset);
          m.groupLag.set({ group, topic, partition: String(p.partition) }, Math.max(0, lag));
        }
      }
    }
  }

  /** One retention pass over every partition (also run by the timer). */
  async runRetention(): Promise<void> {
    const r = await this.storage.applyRetention();
    if (r.segmentsDeleted > 0) {
      this.metrics.retentionSegments.inc(r.segmentsDeleted);
      this.metrics.retentionDeleted.inc(r.bytesDeleted);
      this.#logger.info({ segments: r.segmentsDeleted, bytes: r.bytesDeleted, partitions: r.partitions }, 'retention deleted segments');
    }
  }

  #scheduleRetention(): void {
    this.#retentionTimer = setTimeout(() => {
      this.#retentionRun = this.runRetention()
        .catch((err: unknown) => this.#logger.error({ err }, 'retention run failed; will retry at the next interval'))
        .finally(() => {
          this.#retentionRun = undefined;
          if (!this.#closing) this.#scheduleRetention();
        });
    }, this.#cfg.retention_check_interval);
    this.#retentionTimer.unref();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#ready = false;
      clearTimeout(this.#retentionTimer);
      // Ingest processes first: their requests in flight are stored (the logs are still open) and answered.
      await this.#hub?.close();
      if (this.#server) {
        const s = this.#server;
        // Batch streams are connections of the server too: they end (frames in flight answered) while it closes.
        const streams = this.#streams?.close();
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
          setTimeout(() => s.closeAllConnections(), 5_000).unref();
        });
        await streams;
      }
      if (this.#retentionRun) await this.#retentionRun;
      // Sinks first: a delivery in flight finishes and its cursor is committed before the logs close.
      await this.sinks.close();
      await this.alerts?.close();
      this.#jsonIngest?.close();
      await this.storage.close();
      await this.payloads.close();
      this.#logger.info('aggregator stopped');
    })();
    return this.#closing;
  }
}

/** The config checked `listen` already; a bad one here is a programming error, said plainly. */
function splitListen(listen: string): { host: string; port: number } {
  const parsed = parseListen(listen);
  if (!parsed.ok) throw new LogshipError('LSH_ERR_CONFIG', parsed.message);
  return parsed.value;
}
