/**
 * The NATS connection of the JetStream storage: several servers, reconnect
 * forever with backoff, TLS, one of token / user+password / creds file / nkey
 * seed file (secrets are read here and never logged), and whether JetStream
 * can be used right now.
 *
 * `available` is false while the client is disconnected, and from a JetStream
 * request that failed for want of a server (timeout, no responders, 503: no
 * quorum or no stream leader) until a probe succeeds again. While it is false,
 * appends fail at once with LSH_ERR_UNAVAILABLE (ingest answers 503, agents
 * keep buffering) instead of each waiting for its own timeout, and readiness
 * is false. A heartbeat (#startProbe) finds a lost quorum even when idle.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { LogshipError } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/obs/logger.js';
import type { JetStreamStorageConfig } from './config.js';

/** Bound on one heartbeat request. */
export const HEARTBEAT_TIMEOUT_MS = 2000;

export class JsConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly timeoutMs: number;
  #connected = true;
  #jsDown: string | undefined;
  #probe: NodeJS.Timeout | undefined;
  #logger: Logger;
  #closed = false;
  #onChange: () => void;
  #beat: (() => Promise<unknown>) | undefined;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, timeoutMs: number, logger: Logger, onChange: () => void) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = nc.jetstream({ timeout: timeoutMs });
    this.timeoutMs = timeoutMs;
    this.#logger = logger;
    this.#onChange = onChange;
    void this.#watch();
    this.#startProbe();
  }

  static async open(cfg: JetStreamStorageConfig, logger: Logger, onChange: () => void = () => undefined): Promise<JsConnection> {
    let nc: NatsConnection;
    try {
      nc = await connect(connectionOptions(cfg));
    } catch (err) {
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `storage.jetstream: cannot connect to ${cfg.servers.join(', ')}: ${(err as Error).message}`, { cause: err });
    }
    const jsm = await nc.jetstreamManager({ timeout: cfg.request_timeout }).catch(async (err: unknown) => {
      await nc.close().catch(() => undefined);
      throw new LogshipError('LSH_ERR_UNAVAILABLE', `storage.jetstream: JetStream is not available on ${nc.getServer()}: ${(err as Error).message}`, { cause: err });
    });
    logger.info({ server: nc.getServer(), servers: cfg.servers.length }, 'connected to NATS JetStream');
    return new JsConnection(nc, jsm, cfg.request_timeout, logger, onChange);
  }

  get available(): boolean {
    return this.#connected && this.#jsDown === undefined && !this.#closed;
  }

  /** Why JetStream cannot be used now, undefined if it can. */
  get problem(): string | undefined {
    if (this.#closed) return 'storage is closed';
    if (!this.#connected) return 'not connected to any NATS server';
    return this.#jsDown;
  }

  /** Throws LSH_ERR_UNAVAILABLE at once while JetStream is known to be unusable. */
  check(): void {
    const p = this.problem;
    if (p) throw new LogshipError('LSH_ERR_UNAVAILABLE', `JetStream storage unavailable: ${p}`);
  }

  /**
   * Classifies a failed JetStream request: a missing server or quorum marks
   * JetStream down (probed until it answers again) and becomes
   * LSH_ERR_UNAVAILABLE; other errors are returned as they are.
   */
  failure(err: unknown, what: string): unknown {
    if (err instanceof LogshipError) return err;
    const e = err as { code?: string; message?: string; api_error?: { code?: number; err_code?: number } };
    const msg = e.message ?? String(err);
    const unavailable =
      e.code === 'TIMEOUT' || e.code === '503' || e.code === 'NO_RESPONDERS' || e.code === 'CONNECTION_CLOSED' || e.code === 'DISCONNECT' ||
      (e.api_error?.code === 503 && !/insufficient|no suitable peers/i.test(msg)) || /timeout|no responders|jetstream (not enabled|unavailable)|not current|connection (closed|draining)/i.test(msg);
    if (!unavailable) return err;
    if (this.#jsDown === undefined && !this.#closed) {
      this.#jsDown = `${what}: ${msg}`;
      this.#logger.warn({ what, err: msg }, 'JetStream unavailable: ingest answers 503 and readiness is false until it answers again');
      this.#onChange();
    }
    return new LogshipError('LSH_ERR_UNAVAILABLE', `JetStream storage unavailable (${what}): ${msg}`, { cause: err });
  }

  /**
   * The heartbeat: a write that needs a quorum (setHeartbeat: the storage
   * puts one key of a replicated KV bucket; before that, $JS.API.INFO) every
   * second, every quarter second while down. A read would not do: a leader cut
   * off from its followers keeps answering reads until it steps down. It turns
   * `available` false within about HEARTBEAT_TIMEOUT_MS of a lost quorum even
   * when no request is in flight, and true again once a write succeeds.
   */
  #startProbe(): void {
    if (this.#probe || this.#closed) return;
    const tick = async () => {
      if (this.#closed) return;
      try {
        if (this.#beat) await this.#beat();
        else {
          const r = await this.nc.request('$JS.API.INFO', undefined, { timeout: Math.min(HEARTBEAT_TIMEOUT_MS, this.timeoutMs) });
          const j = JSON.parse(Buffer.from(r.data).toString('utf8')) as { error?: { code?: number; description?: string } };
          if (j.error) throw Object.assign(new Error(j.error.description ?? 'JetStream error'), { api_error: j.error });
        }
        this.succeeded();
      } catch (err) {
        if (this.#connected) this.failure(err, 'heartbeat');
      } finally {
        if (!this.#closed) {
          this.#probe = setTimeout(() => void tick(), this.#jsDown === undefined ? 1000 : 250);
          this.#probe.unref();
        }
      }
    };
    this.#probe = setTimeout(() => void tick(), 250);
    this.#probe.unref();
  }

  /** The heartbeat write (it must need a quorum and fail within HEARTBEAT_TIMEOUT_MS). */
  setHeartbeat(beat: () => Promise<unknown>): void {
    this.#beat = beat;
  }

  /** Marks JetStream usable again after an operation succeeded (a probe may still be pending). */
  succeeded(): void {
    if (this.#jsDown !== undefined && this.#connected) {
      this.#jsDown = undefined;
      this.#logger.info('JetStream answers again');
      this.#onChange();
    }
  }

  async #watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        this.#logger.warn({ server: String(s.data) }, 'disconnected from NATS; reconnecting');
        this.#onChange();
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        this.#logger.info({ server: String(s.data) }, 'reconnected to NATS');
        // JetStream may still have no quorum: the heartbeat decides.
        this.#jsDown ??= 'reconnected; checking JetStream';
        this.#onChange();
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#probe);
    // Draining needs a server; without one, close at once (SIGTERM must finish within 10 s).
    const drained = this.nc.drain().then(() => true, () => false);
    if (!(await Promise.race([drained, new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref())]))) await this.nc.close().catch(() => undefined);
  }
}

/** Connection options from the config; reads the credential files (a missing one is a clear error naming the key). */
export function connectionOptions(cfg: JetStreamStorageConfig): ConnectionOptions {
  const read = (key: string, path: string): Uint8Array => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new LogshipError('LSH_ERR_CONFIG', `storage.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const o: ConnectionOptions = {
    servers: cfg.servers,
    name: 'logship-aggregator',
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    timeout: cfg.request_timeout,
    pingInterval: 5000,
    maxPingOut: 2,
    waitOnFirstConnect: false,
  };
  if (cfg.token) o.token = cfg.token;
  if (cfg.user) {
    o.user = cfg.user;
    o.pass = cfg.password;
  }
  if (cfg.creds_file) o.authenticator = credsAuthenticator(read('creds_file', cfg.creds_file));
  if (cfg.nkey_file) {
    const seed = Buffer.from(read('nkey_file', cfg.nkey_file)).toString('utf8').trim();
    o.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (cfg.tls || cfg.servers.some((s) => s.startsWith('tls://'))) {
    o.tls = {};
    if (cfg.tls?.ca_file) o.tls.caFile = cfg.tls.ca_file;
    if (cfg.tls?.cert_file) o.tls.certFile = cfg.tls.cert_file;
    if (cfg.tls?.key_file) o.tls.keyFile = cfg.tls.key_file;
  }
  return o;
}
