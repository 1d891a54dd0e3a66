/**
 * The aggregator: HTTP ingest and read API over the embedded partitioned log.
 * Lifecycle: start() opens storage (recovery) then listens; close() stops
 * accepting, lets in-flight requests finish, and closes the logs.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { AggregatorConfig } from './config.js';
import { isLoopbackListen } from '../lib/config/index.js';
import { LogshipError } from '../lib/errors.js';
import type { Logger } from '../lib/obs/logger.js';
import { LocalStorage } from './storage/local.js';
import { GroupStore } from './topics/groups.js';
import { TokenAuth } from './server/auth.js';
import { createRouter } from './server/router.js';
import { createAggregatorMetrics, type AggregatorMetrics } from './metrics.js';

export interface AggregatorOptions {
  config: AggregatorConfig;
  logger: Logger;
  /** Only for benchmarks that measure everything but the disk. */
  fsync?: boolean;
}

export class Aggregator {
  #cfg: AggregatorConfig;
  #logger: Logger;
  #server: Server | undefined;
  #ready = false;
  #retentionTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  readonly storage: LocalStorage;
  readonly groups: GroupStore;
  readonly metrics: AggregatorMetrics;

  constructor(opts: AggregatorOptions) {
    this.#cfg = opts.config;
    this.#logger = opts.logger;
    this.metrics = createAggregatorMetrics();
    this.storage = new LocalStorage({
      dataDir: this.#cfg.data_dir,
      logger: this.#logger,
      fsync: opts.fsync,
      settingsFor: (t) => ({ ...this.#cfg.topics.default, ...(this.#cfg.topics[t] ?? {}) }),
    });
    this.groups = new GroupStore(this.#cfg.data_dir);
  }

  /** Resolves with the address actually bound (port 0 picks a free one). */
  async start(): Promise<AddressInfo> {
    const tokens = this.#cfg.auth.tokens.map((t) => ({
      name: t.name,
      token: (t.token ?? readFileSync(t.token_file!, 'utf8')).trim(),
    }));
    if (tokens.length === 0 && !isLoopbackListen(this.#cfg.listen)) {
      throw new LogshipError(
        'LSH_ERR_CONFIG',
        `refusing to listen on ${this.#cfg.listen} without auth.tokens: configure a token or listen on a loopback address`,
      );
    }
    await this.storage.open();
    await this.groups.open();
    const router = createRouter({
      storage: this.storage,
      groups: this.groups,
      metrics: this.metrics,
      auth: new TokenAuth(tokens),
      logger: this.#logger,
      limits: { maxBodyBytes: this.#cfg.limits.max_body_bytes, maxDecompressedBatchBytes: this.#cfg.limits.max_decompressed_batch_bytes },
      isReady: () => this.#ready,
      onAppended: () => undefined,
    });
    const handler = (req: Parameters<typeof router>[0], res: Parameters<typeof router>[1]) => void router(req, res);
    const tls = this.#cfg.tls;
    this.#server = tls
      ? createTlsServer(
          {
            cert: readFileSync(tls.cert_file),
            key: readFileSync(tls.key_file),
            ...(tls.client_ca_file ? { ca: readFileSync(tls.client_ca_file), requestCert: true, rejectUnauthorized: true } : {}),
          },
          handler,
        )
      : createServer(handler);
    this.#server.keepAliveTimeout = 65_000;
    this.#server.requestTimeout = 120_000;
    const { host, port } = splitListen(this.#cfg.listen);
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(port, host, () => resolve());
    });
    this.#ready = true;
    this.#scheduleRetention();
    const addr = this.#server.address() as AddressInfo;
    this.#logger.info({ address: `${addr.address}:${addr.port}`, data_dir: this.#cfg.data_dir, topics: this.storage.list().length }, 'aggregator listening');
    return addr;
  }

  #scheduleRetention(): void {
    this.#retentionTimer = setTimeout(async () => {
      try {
        const r = await this.storage.applyRetention();
        if (r.segmentsDeleted > 0) {
          this.metrics.retentionSegments.inc(r.segmentsDeleted);
          this.metrics.retentionDeleted.inc(r.bytesDeleted);
          this.#logger.info(r, 'retention deleted segments');
        }
      } catch (err) {
        this.#logger.error({ err }, 'retention run failed; will retry at the next interval');
      }
      if (!this.#closing) this.#scheduleRetention();
    }, this.#cfg.retention_check_interval);
    this.#retentionTimer.unref();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#ready = false;
      clearTimeout(this.#retentionTimer);
      if (this.#server) {
        const s = this.#server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
          setTimeout(() => s.closeAllConnections(), 5_000).unref();
        });
      }
      await this.storage.close();
      this.#logger.info('aggregator stopped');
    })();
    return this.#closing;
  }
}

export function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  let host = listen.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || '0.0.0.0', port: Number(listen.slice(i + 1)) };
}
