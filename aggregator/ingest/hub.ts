/**
 * Ingest processes (config `ingest.processes` > 1): N child processes (Node
 * cluster workers) share the listening socket, each with its own event loop
 * accepting connections, parsing HTTP, authenticating, decoding and checking
 * POST /v1/batches requests. This process (the writer) keeps storage, dedup,
 * fsync, consumers, sinks and every other route:
 *
 *  - a checked request travels as one binary STORE frame (frames.ts) over a
 *    private unix socket; the writer appends it (dedup by producer + sequence,
 *    group commit) and answers ACKS or ERROR; only then does the ingest
 *    process answer the agent, so an acknowledgement still means fsync'd;
 *  - any other request is relayed as HTTP over a second private unix socket
 *    to the writer's own router, which answers it as before;
 *  - a dead ingest process is forked again (its agents re-send what it never
 *    answered; dedup makes that exactly once); when the writer dies the ingest
 *    processes lose their IPC channel and exit at once, answering nothing;
 *  - close() stops them gracefully (in-flight requests finish through the
 *    writer, which is still open) before the writer closes its logs;
 *  - /metrics: the writer's registry and every ingest process's, summed.
 *
 * The sockets live in a fresh 0700 directory under the system temp dir.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { AggregatorConfig } from '../config.js';
import type { Logger } from '../../lib/obs/logger.js';
import type { ServerContext } from '../server/context.js';
import { judgeTopics, storeBatches } from '../server/batches.js';
import { toHttpError } from '../server/http-util.js';
import { FrameReader, FrameWriter, KIND_JUDGE, KIND_STORE, decodeStore, encodeAcks, encodeError } from './frames.js';
import { PEER_HEADER, type ToWorker, type FromWorker } from './messages.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-main.js', import.meta.url));

/** How long a stopping ingest process may take to finish its requests before it is killed. */
const STOP_MS = 8_000;

/** Frame bytes beyond the request body: the agent status header (<= 48 KB) and fixed fields. */
const FRAME_HEADROOM = 1 << 20;

export interface IngestHubOptions {
  config: AggregatorConfig;
  logger: Logger;
  ctx: ServerContext;
  processes: number;
  /** the writer's full request handler (every route), for relayed requests */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** true while the writer closes: stores still go on, new ones are not refused */
  closing: () => boolean;
}

export class IngestHub {
  /** ingest.processes as configured, or the default for this host (defaultProcesses). */
  static processesFor(cfg: AggregatorConfig, logger: Logger): number {
    const n = cfg.ingest?.processes ?? defaultProcesses(availableParallelism());
    if (n > 1 && !existsSync(WORKER_SCRIPT)) {
      // Running from the TypeScript sources (tests in process): there is no compiled worker to fork.
      logger.warn({ processes: n }, 'ingest processes need the compiled program (dist/); running ingest in this process');
      return 1;
    }
    return n;
  }

  #o: IngestHubOptions;
  #dir = '';
  #data: NetServer | undefined;
  #relay: Server | undefined;
  #conns = new Set<Socket>();
  #workers = new Map<number, Worker>();
  #closing = false;
  #restarts = 0;
  #metricsAsk = 0;
  #metricsWait = new Map<number, (json: object[] | undefined) => void>();
  address: AddressInfo | undefined;

  constructor(o: IngestHubOptions) {
    this.#o = o;
  }

  /** Starts the sockets and the ingest processes; resolves with the relay server once all listen. */
  async start(): Promise<Server> {
    this.#dir = await mkdtemp(join(tmpdir(), 'logship-ingest-'));
    const dataPath = join(this.#dir, 'store.sock');
    const relayPath = join(this.#dir, 'http.sock');
    this.#data = createNetServer((s) => this.#serve(s));
    await listenPath(this.#data, dataPath);
    const handler = this.#o.handler;
    const relay = createServer((req, res) => {
      const peer = req.headers[PEER_HEADER];
      if (typeof peer === 'string') {
        // One request at a time per relay connection: the socket is this request's until it is answered.
        const [ra, rp, la, lp] = peer.split('|');
        const so = req.socket;
        Object.defineProperty(so, 'remoteAddress', { value: ra || undefined, configurable: true });
        Object.defineProperty(so, 'remotePort', { value: rp ? Number(rp) : undefined, configurable: true });
        Object.defineProperty(so, 'localAddress', { value: la || undefined, configurable: true });
        Object.defineProperty(so, 'localPort', { value: lp ? Number(lp) : undefined, configurable: true });
        delete req.headers[PEER_HEADER];
      }
      handler(req, res);
    });
    relay.keepAliveTimeout = 65_000;
    relay.requestTimeout = 120_000;
    await listenPath(relay, relayPath);
    this.#relay = relay;

    cluster.schedulingPolicy = cluster.SCHED_NONE; // each process accepts for itself (round-robin would accept here)
    cluster.setupPrimary({ exec: WORKER_SCRIPT, args: [], silent: false });
    const listening: Array<Promise<AddressInfo>> = [];
    for (let i = 0; i < this.#o.processes; i++) listening.push(this.#fork(i, dataPath, relayPath));
    try {
      const addrs = await Promise.all(listening);
      this.address = addrs[0];
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#o.logger.info({ processes: this.#o.processes }, 'ingest processes listening');
    return relay;
  }

  #fork(index: number, dataPath: string, relayPath: string): Promise<AddressInfo> {
    const w = cluster.fork({ LOGSHIP_INGEST_INDEX: String(index) });
    this.#workers.set(index, w);
    const hello: ToWorker = { t: 'config', config: this.#o.config, dataPath, relayPath, index, level: this.#o.logger.level };
    w.on('error', (err) => this.#o.logger.warn({ err, ingest_process: index }, 'ingest process channel error'));
    w.on('message', (m: FromWorker) => {
      // The script is an ES module, loaded after the channel opens: it asks once it listens for messages.
      if (m?.t === 'hello') w.send(hello);
      else if (m?.t === 'metrics') this.#metricsWait.get(m.n)?.(m.json);
    });
    return new Promise<AddressInfo>((resolve, reject) => {
      let up = false;
      w.once('listening', (a: { address: string; port: number; addressType: number | string }) => {
        up = true;
        resolve({ address: a.address, port: a.port, family: a.addressType === 6 || a.addressType === 'IPv6' ? 'IPv6' : 'IPv4' });
      });
      w.once('exit', (code, signal) => {
        if (this.#workers.get(index) === w) this.#workers.delete(index);
        if (!up) reject(new Error(`ingest process ${index} exited before listening (code ${code}, signal ${signal})`));
        if (this.#closing || !up) return;
        this.#o.logger.error({ ingest_process: index, pid: w.process.pid, code, signal }, 'an ingest process died; starting it again (its agents re-send what it had not answered)');
        const delay = Math.min(5_000, 100 * 2 ** Math.min(6, this.#restarts++));
        setTimeout(() => {
          if (this.#closing) return;
          this.#fork(index, dataPath, relayPath).then(
            () => (this.#restarts = 0),
            (err: unknown) => this.#o.logger.error({ err, ingest_process: index }, 'an ingest process failed to start again'),
          );
        }, delay).unref();
      });
    });
  }

  /** The writer side of one ingest process's store connection. */
  #serve(s: Socket): void {
    this.#conns.add(s);
    s.setNoDelay(true);
    const { ctx, logger } = this.#o;
    const out = new FrameWriter(s);
    const reader = new FrameReader((kind, id, c) => {
      if (kind !== KIND_STORE && kind !== KIND_JUDGE) throw new RangeError(`unexpected frame kind ${kind}`);
      const { wire, agentStatus } = decodeStore(c);
      if (kind === KIND_JUDGE) {
        // A request refused for its payload: the 403 of topic creation, if any, comes first.
        try {
          judgeTopics(ctx, wire);
          out.write(encodeAcks(id, []));
        } catch (err) {
          const e = toHttpError(err);
          out.write(encodeError(id, e.status, e.type, e.reason));
        }
        return;
      }
      if (!ctx.isReady() && !this.#o.closing()) {
        out.write(encodeError(id, 503, 'unavailable', 'the aggregator is starting or shutting down; retry'));
        return;
      }
      storeBatches(ctx, wire, agentStatus, true).then(
        (acks) => {
          out.write(encodeAcks(id, acks));
        },
        (err: unknown) => {
          const e = toHttpError(err);
          if (e.status >= 500 && e.type === 'internal') logger.error({ err }, 'storing an ingest process request failed');
          out.write(encodeError(id, e.status, e.type, e.reason));
        },
      );
      // A frame holds one checked request body (the ingest process refused anything longer) plus its fields.
    }, this.#o.config.limits.max_body_bytes + FRAME_HEADROOM);
    s.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        logger.error({ err }, 'broken frame from an ingest process; closing its connection (it restarts, its agents re-send)');
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => this.#conns.delete(s));
  }

  /** The writer's metrics text with every ingest process's counters added (same names and labels). */
  async metricsText(): Promise<string> {
    const own = await this.#o.ctx.metrics.registry.getMetricsAsJSON();
    const theirs = await Promise.all([...this.#workers.values()].map((w) => this.#askMetrics(w)));
    const all: object[][] = [own, ...theirs.filter((x): x is object[] => x !== undefined)];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  #askMetrics(w: Worker): Promise<object[] | undefined> {
    const n = ++this.#metricsAsk;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), 2_000);
      const done = (json: object[] | undefined) => {
        clearTimeout(timer);
        this.#metricsWait.delete(n);
        resolve(json);
      };
      this.#metricsWait.set(n, done);
      try {
        w.send({ t: 'metrics', n } satisfies ToWorker);
      } catch {
        done(undefined);
      }
    });
  }

  /** Stops the ingest processes (they finish their requests first), then the sockets. Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    const workers = [...this.#workers.values()];
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            try {
              if (!w.isConnected()) throw new Error('no channel');
              w.send({ t: 'stop' } satisfies ToWorker);
            } catch {
              w.process.kill('SIGKILL');
            }
          }),
      ),
    );
    for (const s of this.#conns) s.destroy();
    await new Promise<void>((resolve) => (this.#data ? this.#data.close(() => resolve()) : resolve()));
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }

  get relay(): Server | undefined {
    return this.#relay;
  }
}

/**
 * The default of ingest.processes for a host with `cores` cores: 1 (everything in one process) up
 * to 3 cores, else cores - 1 up to 4, leaving a core to the writer. Measured on 2 cores (the
 * load generator on the same host): ingest processes cost more CPU per batch in all (HTTP in each,
 * the frames both ways, a process hop more per request) than the one event loop they relieve, so
 * 2 processes acknowledged fewer batches/s with a higher p99 than 1 (docs/aggregator.md).
 */
export function defaultProcesses(cores: number): number {
  return cores <= 3 ? 1 : Math.min(cores - 1, 4);
}

function listenPath(s: NetServer | Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ path }, () => {
      s.off('error', reject);
      resolve();
    });
  });
}
