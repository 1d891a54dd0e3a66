/**
 * The agent: inputs -> pipeline (zstd on workers) -> disk buffer -> forwarder.
 * Lifecycle: start() restores file positions from the buffer and checkpoint,
 * then starts inputs and delivery; close() stops reading, makes what was read
 * durable, writes the checkpoint and stops within a bounded time.
 */
import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentConfig, FileInputConfig, HostMetricsInputConfig, JournaldInputConfig } from './config.js';
import type { Logger } from '../lib/obs/logger.js';
import { readStateFile, writeStateFile, type StateKind } from '../lib/state/state-file.js';
import { ZstdPool } from '../lib/codec/zstd-pool.js';
import { CODEC_ZSTD, FLAG_METRICS } from '../lib/protocol/batches.js';
import { DiskBuffer, RECENT_MAX_BYTES } from './buffer/disk-buffer.js';
import { Pipeline } from './pipeline/pipeline.js';
import { ReadBuffers } from './pipeline/read-buffers.js';
import { Forwarder } from './forward/forwarder.js';
import { FileInput } from './inputs/file/index.js';
import { StreamRegistry } from './inputs/file/streams.js';
// Types only: journald and host metrics are imported when a config has such an input (most do not).
import type { HostMetricsInput, Scrape } from './inputs/host-metrics/index.js';
import type { JournaldInput, JournaldStatus } from './inputs/journald/index.js';
import type { JournaldMetrics } from './inputs/journald/metrics.js';
import { STATUS_MAX_CONNECTIONS, startStatusServer } from './status/server.js';
import { createAgentMetrics, type AgentMetrics } from './metrics.js';
import { buildStatus, type AgentStatus } from './status/report.js';
import { checkDataDir } from '../lib/state/data-dir.js';
import { PayloadCollector, QuietCollector } from './heap.js';
import { PayloadSlabs, poisonFromEnv, slabsFor } from './buffer/payload-slabs.js';
import { randomUuid } from '../lib/util/random-id.js';

/** <data_dir>/producer.json: the agent's producer identity, {"version": 1, "incarnation", "epoch"}. */
const PRODUCER_STATE: StateKind<{ incarnation: string; epoch: number }> = {
  what: 'producer identity',
  version: 1,
  remedy:
    'restore it from a backup if you have one; otherwise move it aside: the agent starts as a new producer, and batches that were sent but not acknowledged before the damage may be stored twice',
  decode: (o, at) => {
    const incarnation = at.str(o.incarnation, 'incarnation', 64);
    if (!/^[0-9a-f-]{8,64}$/i.test(incarnation)) at.fail('incarnation', 'expected a UUID');
    return { incarnation, epoch: at.int(o.epoch, 'epoch', 0, 2 ** 31) };
  },
};

export interface AgentOptions {
  config: AgentConfig;
  logger: Logger;
  now?: () => number;
  fsync?: boolean;
  /** one full GC each time the agent turns quiet (and a plain one a second later) and one per 8 MiB of batch payloads outside the payload slabs (agent/heap.ts); only where the agent has the process to itself (`logship agent`) */
  collectWhenQuiet?: boolean;
}

const CHECKPOINT_MS = 1_000;
/** A stuck condition (see #updateStuck) reported once it lasts this long; a checkpoint resolves any honest one within a second. */
const STUCK_AFTER_MS = 10_000;

export class Agent {
  readonly cfg: AgentConfig;
  readonly metrics: AgentMetrics;
  #logger: Logger;
  #now: () => number;
  /** ms from a file read to its batch being durable in the buffer, smoothed (the max_wait read starts this much early) */
  #readToDurable = 0;
  #fsync: boolean;
  #quiet: QuietCollector | undefined;
  #payloadGc: PayloadCollector | undefined;
  #slabs: PayloadSlabs | undefined;
  #pool: ZstdPool | undefined;
  #readBuffers: ReadBuffers | undefined;
  buffer!: DiskBuffer;
  registry!: StreamRegistry;
  pipeline!: Pipeline;
  forwarder!: Forwarder;
  fileInputs: FileInput[] = [];
  hostInputs: HostMetricsInput[] = [];
  journaldInputs: JournaldInput[] = [];
  #journaldMetrics: JournaldMetrics | undefined;
  #renderHostMetrics: typeof import('./inputs/host-metrics/index.js').renderPrometheus | undefined;
  #status: Server | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #dirty = false;
  #unhealthySince = 0;
  #lastWatchdogLog = 0;
  #closing: Promise<void> | undefined;
  statusAddress: AddressInfo | undefined;
  startedAt = 0;
  ackedBytes = 0;

  constructor(opts: AgentOptions) {
    this.cfg = opts.config;
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#fsync = opts.fsync ?? true;
    this.metrics = createAgentMetrics();
    // Quiet: the payload slabs nobody uses are given up, and the collection frees them.
    this.#quiet = opts.collectWhenQuiet ? new QuietCollector({ onQuiet: () => this.#slabs?.shrink() ?? 0 }) : undefined;
    this.#payloadGc = opts.collectWhenQuiet ? new PayloadCollector() : undefined;
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    this.startedAt = this.#now();
    await mkdir(cfg.data_dir, { recursive: true, mode: 0o700 }); // buffer and positions: this host's logs, for its eyes only
    // Before anything in it is read: a directory of a newer layout or of the aggregator is refused.
    await checkDataDir(cfg.data_dir, 'agent');
    const producer = await this.#producerIdentity();
    // Read buffers come back once compression has its own copy (or is done) and are reused (see read-buffers.ts).
    const reads = new ReadBuffers(cfg.batch.max_bytes);
    this.#readBuffers = reads;
    // compression.threads 1 (the default): batches over 512 KiB (what a busy file gives: batch.max_bytes
    // is 1 MiB) are compressed on libzstd's own threads (lib/codec/zstd-mt.ts; no second V8 isolate), up
    // to two at once, so the agent can use a second core for zstd (~3 CPU s/GiB); smaller batches, from
    // files growing under 512 KiB a batch.max_wait, are compressed here. With 0 every batch is
    // compressed here: one core in all. Measured A/B in docs/agent-footprint.md.
    // Compressed payloads are cut from reused slabs (agent/buffer/payload-slabs.ts), bounded by what can be held at once.
    const maxInFlightBytes = Math.max(3 * cfg.batch.max_bytes, 3 << 20);
    const poison = poisonFromEnv();
    const slabs = new PayloadSlabs({
      maxSlabs: slabsFor({ recentBytes: RECENT_MAX_BYTES, requestBytes: cfg.aggregator.max_request_bytes, inFlightBytes: maxInFlightBytes }),
      poison,
      onGiveUp: (n) => this.#payloadGc?.add(n),
    });
    this.#slabs = slabs;
    if (poison) this.#logger.warn('test hook: payload slabs are poisoned when released (LOGSHIP_TEST_POISON_SLABS=1)');
    this.#pool = new ZstdPool(cfg.compression.threads, { recycle: (b) => reads.give(b), alloc: (n) => slabs.take(n), zstdThreads: true });
    this.buffer = await DiskBuffer.open({
      dir: join(cfg.data_dir, 'buffer'),
      maxBytes: cfg.buffer.max_bytes,
      whenFull: cfg.buffer.when_full,
      logger: this.#logger,
      fsync: this.#fsync,
      onDrop: (b, l) => {
        this.metrics.droppedBatches.inc(b);
        this.metrics.droppedLines.inc(l);
      },
      onReadBack: (b) => this.metrics.bufferReadBacks.inc(b),
      onPayloadBytes: this.#payloadGc && ((n) => this.#payloadGc!.add(n)),
      slabs,
    });
    this.registry = new StreamRegistry(cfg.data_dir);
    await this.registry.restore(this.buffer, cfg.inputs.filter((i) => i.type === 'file').map((i) => i.name));
    this.pipeline = new Pipeline({
      pool: this.#pool,
      buffer: this.buffer,
      level: cfg.compression.level,
      // One batch compressing, one waiting for the worker, one being appended; more only grows memory
      // (8 MiB before: the same throughput, ~15 MiB more resident at full speed).
      maxInFlightBytes,
      logger: this.#logger,
      onCapacity: () => {
        for (const f of this.fileInputs) f.wake();
        for (const j of this.journaldInputs) j.wake();
      },
    });
    const token = cfg.aggregator.token ?? (cfg.aggregator.token_file ? readFileSync(cfg.aggregator.token_file, 'utf8').trim() : undefined);
    this.forwarder = new Forwarder({
      urls: cfg.aggregator.urls,
      token,
      tls: cfg.aggregator.tls,
      requestTimeout: cfg.aggregator.request_timeout,
      maxBackoff: cfg.aggregator.max_backoff,
      maxRequestBytes: cfg.aggregator.max_request_bytes,
      transport: cfg.aggregator.transport,
      producer: producer.id,
      epoch: producer.epoch,
      host: cfg.id,
      buffer: this.buffer,
      dataDir: cfg.data_dir,
      logger: this.#logger,
      lagBytes: () => {
        let lag = 0;
        for (const input of this.fileInputs) for (const t of input.tailers) lag += Math.max(0, t.size - t.stream.offset);
        return lag;
      },
      onAcked: (_next, batches) => {
        this.metrics.batchesSent.inc(batches.length);
        let lines = 0;
        for (const b of batches) {
          lines += b.meta.lines;
          this.ackedBytes += b.meta.end - b.meta.start;
        }
        this.metrics.linesSent.inc(lines);
        this.#dirty = true;
      },
      onRetry: (reason) => this.metrics.retries.inc({ reason }),
      onRejected: (b) => this.metrics.rejectedBatches.inc(b),
    });
    for (const input of cfg.inputs) {
      if (input.type === 'file') this.fileInputs.push(this.#fileInput(input));
      else if (input.type === 'journald') this.journaldInputs.push(await this.#journaldInput(input));
      else this.hostInputs.push(await this.#hostInput(input));
    }
    // A start re-evaluates the whole state before reading: write the checkpoint and trim what the
    // last run had delivered. A kill -9 right after the last acknowledgement leaves a buffer that is
    // full yet fully acknowledged; without this nothing would ever trim it (nothing new can be read
    // into a full buffer, so nothing becomes dirty) and the agent would stop shipping for good.
    this.#dirty = true;
    await this.#checkpoint();
    for (const f of this.fileInputs) await f.start();
    for (const j of this.journaldInputs) await j.start();
    for (const h of this.hostInputs) h.start();
    this.forwarder.start();
    this.#scheduleCheckpoint();
    if (cfg.status.listen) {
      const s = await startStatusServer(
        cfg.status.listen,
        {
          status: () => this.status(),
          metrics: () => this.#renderMetrics(),
          health: () => this.health(),
        },
        {
          count: () => this.metrics.statusRefused.inc(),
          report: (refused, lastFrom) =>
            this.#logger.warn(
              { status: cfg.status.listen, max_connections: STATUS_MAX_CONNECTIONS, refused, last_from: lastFrom },
              `refused a connection to the status listener: ${STATUS_MAX_CONNECTIONS} are open (shipping is not affected); find who holds them open (ss -tnp)`,
            ),
        },
      );
      this.#status = s.server;
      this.statusAddress = s.address;
    }
    this.#logger.info(
      { id: cfg.id, producer: producer.id, epoch: producer.epoch, streams: this.registry.size, unacked_batches: this.buffer.unackedBatches, status: this.statusAddress ? `${this.statusAddress.address}:${this.statusAddress.port}` : 'off' },
      'agent started',
    );
  }

  /** Producer id "<id>/<incarnation>": a new incarnation per data dir, so a wiped buffer never looks like old sequences. */
  async #producerIdentity(): Promise<{ id: string; epoch: number }> {
    const path = join(this.cfg.data_dir, 'producer.json');
    const prev = (await readStateFile(path, PRODUCER_STATE)) ?? { incarnation: randomUuid(), epoch: 0 };
    const next = { incarnation: prev.incarnation, epoch: prev.epoch + 1 };
    await writeStateFile(path, PRODUCER_STATE, next);
    return { id: `${this.cfg.id}/${next.incarnation}`, epoch: next.epoch };
  }

  #fileInput(input: FileInputConfig): FileInput {
    const m = this.metrics;
    return new FileInput(input, {
      registry: this.registry,
      logger: this.#logger.child({ input: input.name }),
      now: this.#now,
      onRotation: () => m.rotations.inc(),
      onTruncation: () => m.truncations.inc(),
      ctx: {
        maxBatchBytes: this.cfg.batch.max_bytes,
        maxWait: this.cfg.batch.max_wait,
        readHeadroom: () => this.#readToDurable,
        maxLineBytes: input.max_line_bytes,
        partialLineTimeout: input.partial_line_timeout,
        multiline: input.multiline
          ? { start: new RegExp(input.multiline.start_pattern), maxLines: input.multiline.max_lines, timeout: input.multiline.timeout }
          : undefined,
        now: this.#now,
        hasCapacity: () => this.pipeline.hasCapacity(),
        readBuffer: (n) => this.#readBuffers!.take(n),
        releaseRead: (b) => this.#readBuffers!.give(b),
        onSplitLines: (n) => m.splitLines.inc(n),
        submit: (b) => {
          m.linesRead.inc({ input: input.name }, b.lines);
          m.bytesRead.inc({ input: input.name }, b.end - b.start);
          const meta = {
            codec: CODEC_ZSTD,
            flags: b.flags,
            topic: input.topic,
            source: b.source,
            key: b.stream.key,
            start: b.start,
            end: b.end,
            lines: b.lines,
            rawLength: b.raw.length,
            dev: b.dev,
            ino: b.ino,
            fpLen: b.fpLen,
            fpCrc: b.fpCrc,
          };
          this.pipeline.submit({
            meta,
            raw: b.raw,
            owned: b.owned,
            timestamp: b.timestamp,
            onDurable: (offset) => {
              const now = this.#now();
              this.registry.applyBatch(meta, offset, now);
              this.#readToDurable += (Math.max(0, now - b.timestamp) - this.#readToDurable) / 8;
              this.#dirty = true;
            },
          });
        },
      },
    });
  }

  async #journaldInput(input: JournaldInputConfig): Promise<JournaldInput> {
    const [{ JournaldInput }, { createJournaldMetrics }] = await Promise.all([import('./inputs/journald/index.js'), import('./inputs/journald/metrics.js')]);
    this.#journaldMetrics ??= createJournaldMetrics(this.metrics.registry);
    const m = this.metrics;
    return new JournaldInput(input, {
      registry: this.registry,
      logger: this.#logger.child({ input: input.name }),
      metrics: this.#journaldMetrics,
      now: this.#now,
      maxBatchBytes: this.cfg.batch.max_bytes,
      maxWait: this.cfg.batch.max_wait,
      hasCapacity: () => this.pipeline.hasCapacity(),
      markDirty: () => {
        this.#dirty = true;
      },
      submit: (b) => {
        m.linesRead.inc({ input: input.name }, b.meta.lines);
        m.bytesRead.inc({ input: input.name }, b.raw.length);
        this.pipeline.submit({
          meta: b.meta,
          raw: b.raw,
          owned: true,
          timestamp: b.timestamp,
          onDurable: (offset) => {
            this.registry.applyBatch(b.meta, offset, this.#now());
            this.#dirty = true;
            b.onDurable(offset);
          },
        });
      },
    });
  }

  journaldStatus(): JournaldStatus[] {
    return this.journaldInputs.map((j) => j.status());
  }

  async #hostInput(input: HostMetricsInputConfig): Promise<HostMetricsInput> {
    const { HostMetricsInput, renderPrometheus } = await import('./inputs/host-metrics/index.js');
    this.#renderHostMetrics = renderPrometheus;
    return new HostMetricsInput({
      name: input.name,
      topic: input.topic,
      interval: input.interval,
      procRoot: input.proc_root,
      sysRoot: input.sys_root,
      rootfs: input.rootfs,
      logger: this.#logger.child({ input: input.name }),
      onScrape: (s: Scrape) => {
        if (!this.pipeline.hasCapacity()) return; // metrics are sampled: a skipped scrape is better than blocking
        const line = Buffer.from(JSON.stringify({ metrics: s.metrics.map((m) => ({ name: m.name, labels: m.labels, value: m.value })) }) + '\n');
        this.pipeline.submit({
          meta: { codec: CODEC_ZSTD, flags: FLAG_METRICS, topic: input.topic, source: input.name, key: '', start: 0, end: 0, lines: 1, rawLength: line.length, dev: 0, ino: 0, fpLen: 0, fpCrc: 0 },
          raw: line,
          timestamp: s.timestamp,
          onDurable: (offset) => this.registry.advance(offset + 1),
        });
      },
    });
  }

  #scheduleCheckpoint(): void {
    this.#checkpointTimer = setTimeout(async () => {
      try {
        await this.#checkpoint();
      } catch (err) {
        this.#logger.error({ err }, 'writing the file checkpoint failed; the buffer keeps everything until it succeeds');
      }
      this.#watchdog();
      this.#quiet?.tick(this.pipeline.appendCount, this.#now());
      if (!this.#closing) this.#scheduleCheckpoint();
    }, CHECKPOINT_MS);
    this.#checkpointTimer.unref();
  }

  async #checkpoint(): Promise<void> {
    // A full buffer with acknowledged segments is trimmed even when nothing changed since the last
    // checkpoint: a full buffer must always make progress without new input.
    if (!this.#dirty && !this.registry.changed && !(this.buffer.isFull() && this.buffer.trimmable)) return;
    this.#dirty = false;
    let ttl = Infinity;
    for (const i of this.cfg.inputs) if (i.type === 'file') ttl = Math.min(ttl, i.state_ttl);
    await this.registry.checkpoint(this.#now(), ttl === Infinity ? 7 * 86_400_000 : ttl);
    await this.buffer.trim(this.registry.checkpointedOffset);
  }

  async #renderMetrics(): Promise<{ contentType: string; text: string }> {
    const m = this.metrics;
    let open = 0;
    for (const f of this.fileInputs) open += f.tailers.size;
    m.filesOpen.set(open);
    m.bufferBytes.set(this.buffer.sizeBytes);
    m.bufferUnacked.set(this.buffer.unackedBatches);
    m.bufferMaxBytes.set(this.cfg.buffer.max_bytes);
    const oldest = await this.buffer.oldestUnackedTimestamp();
    m.oldestUnackedAge.set(oldest === undefined ? 0 : Math.max(0, (this.#now() - oldest) / 1000));
    let text = await m.registry.metrics();
    for (const h of this.hostInputs) {
      const latest = h.latest();
      if (latest) text += this.#renderHostMetrics!(latest.metrics);
    }
    return { contentType: m.registry.contentType, text };
  }

  /**
   * Says in the log, once a minute while it lasts, what /healthz says. Two kinds of trouble:
   * waiting on the aggregator (a backlog that does not move, or a buffer full of undelivered
   * batches: the operator fixes the link), and stuck with nothing to wait on (the buffer is full
   * yet holds nothing undelivered, or batches wait for a buffer that has room): that is a bug, and
   * the watchdog first tries to unstick it by checkpointing and trimming.
   */
  #watchdog(): void {
    const now = this.#now();
    this.#updateStuck(now);
    const h = this.health();
    if (h.state !== this.#deliveryState) {
      this.#deliveryState = h.state;
      this.metrics.deliveryState.reset();
      this.metrics.deliveryState.set({ state: h.state }, 1);
    }
    if (h.ok) {
      if (this.#unhealthySince) this.#logger.info('healthy again: delivery is making progress');
      this.#unhealthySince = 0;
      return;
    }
    if (h.state === 'stuck') {
      this.#dirty = true;
      void this.#checkpoint().catch((err) => this.#logger.error({ err }, 'checkpoint while stuck failed'));
    }
    if (!this.#unhealthySince || now - this.#lastWatchdogLog >= 60_000) {
      this.#unhealthySince ||= now;
      this.#lastWatchdogLog = now;
      if (h.state === 'stuck') {
        this.#logger.error(
          { problems: h.problems, buffer_bytes: this.buffer.sizeBytes, unacked_batches: this.buffer.unackedBatches },
          'agent stuck: nothing is being read or delivered and there is nothing to wait on. This is a logship bug: capture `logship status --format json`, then restart the agent with SIGTERM (systemctl restart logship-agent); nothing is lost, the files are read on from the buffered positions',
        );
      } else {
        this.#logger.error({ problems: h.problems }, 'agent degraded: data waits in the buffer for the aggregator; check the aggregator URLs, token and network (logship status shows the backlog)');
      }
    }
  }

  #deliveryState: string | undefined;
  #stuckSince = 0;
  #stuckReason: string | undefined;
  #lastAppendCount = -1;

  /**
   * Once a second (from the watchdog): is the agent stuck with nothing to wait on? Either the
   * buffer is full with everything acknowledged, or batches wait for a buffer that has room
   * while no append happened since the last look (and none is failing: that is a disk problem,
   * logged by the pipeline).
   */
  #updateStuck(now: number): void {
    const b = this.buffer;
    const p = this.pipeline;
    const idleFull = b.isFull() && b.unackedBatches === 0;
    const starved = p.pendingBatches > 0 && !b.isFull() && !p.retrying && p.appendCount === this.#lastAppendCount;
    this.#lastAppendCount = p.appendCount;
    if (!idleFull && !starved) {
      this.#stuckSince = 0;
      this.#stuckReason = undefined;
      return;
    }
    this.#stuckSince ||= now;
    const secs = Math.round((now - this.#stuckSince) / 1000);
    this.#stuckReason =
      now - this.#stuckSince < STUCK_AFTER_MS
        ? undefined
        : idleFull
          ? `stuck: buffer full (${b.sizeBytes} of ${b.maxBytes} bytes) with nothing unacknowledged for ${secs}s`
          : `stuck: ${p.pendingBatches} batches wait for the buffer although it has room, for ${secs}s`;
  }

  health(): { ok: boolean; state: 'ok' | 'waiting_on_aggregator' | 'stuck'; problems: string[] } {
    const problems: string[] = [];
    const now = this.#now();
    const f = this.forwarder;
    const b = this.buffer;
    let waiting = false;
    if (b.unackedBatches > 0 && now - Math.max(f.lastSuccess, this.startedAt) > 60_000) {
      waiting = true;
      problems.push(`backlog present and no delivery progress for ${Math.round((now - Math.max(f.lastSuccess, this.startedAt)) / 1000)}s: ${f.lastError ?? 'no error recorded'}`);
    }
    if (b.isFull() && b.unackedBatches > 0) {
      waiting = true;
      problems.push(`buffer full (${b.sizeBytes} of ${b.maxBytes} bytes), waiting for the aggregator to acknowledge ${b.unackedBatches} batches`);
    }
    if (this.#stuckReason) problems.push(this.#stuckReason);
    const state = this.#stuckReason ? 'stuck' : waiting ? 'waiting_on_aggregator' : 'ok';
    return { ok: problems.length === 0, state, problems };
  }

  async status(): Promise<AgentStatus & { journald?: JournaldStatus[] }> {
    const s = await buildStatus(this, this.#now());
    return this.journaldInputs.length ? { ...s, journald: this.journaldStatus() } : s;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#checkpointTimer);
      for (const h of this.hostInputs) await h.close();
      for (const f of this.fileInputs) await f.close();
      for (const j of this.journaldInputs) await j.close();
      // Bounded: with a full buffer under `block` the last batches may never fit. What is not
      // durable now is simply read again from its file at the next start (positions come from the buffer).
      if (this.pipeline) {
        let timer: NodeJS.Timeout | undefined;
        const flushed = await Promise.race([
          this.pipeline.flush().then(() => true),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 4_000))),
        ]);
        clearTimeout(timer);
        this.pipeline.stop();
        if (!flushed) this.#logger.warn('stopping with batches not yet in the buffer (buffer full?); they are read again from their files at the next start');
      }
      await this.forwarder?.close(3_000);
      this.#dirty = true;
      await this.#checkpoint().catch((err) => this.#logger.error({ err }, 'final checkpoint failed; positions come from the buffer at the next start'));
      await this.buffer?.close();
      await this.#pool?.close();
      // Nothing reads or compresses any more: the read slots' memory can go (a SIGHUP makes new ones).
      this.#readBuffers?.close();
      if (this.#status) await new Promise((r) => this.#status!.close(r));
      this.#logger.info('agent stopped');
    })();
    return this.#closing;
  }
}
