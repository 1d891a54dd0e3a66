/**
 * An ingest process (hub.ts forks it as a cluster worker): it accepts on the
 * shared listening socket, answers POST /v1/batches after the writer has
 * stored the request, and relays every other request to the writer.
 * It never answers success on its own: when the writer goes away (IPC channel
 * or store socket closed) it exits at once.
 */
import { connect, type Socket } from 'node:net';
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseListen } from '../../lib/config/index.js';
import { createLogger, type Logger } from '../../lib/obs/logger.js';
import { createAggregatorMetrics } from '../metrics.js';
import { loadTokens, TokenAuth } from '../server/auth.js';
import { createRouter } from '../server/router.js';
import { connectionCap } from '../storage/descriptors.js';
import { HttpError, capListener, createListenServer, guardHandler, listenOn, sendError } from '../server/http-util.js';
import { acksJson, checkBatches, receiveBatches, sendAcks, type BatchesFront } from '../server/batches.js';
import { BatchStreams } from '../server/batch-stream.js';
import { AGENT_STATUS_HEADER } from '../server/agents.js';
import type { ServerContext } from '../server/context.js';
import type { Route } from '../server/routes.js';
import type { WireRequest } from '../../lib/protocol/batches.js';
import { FrameReader, FrameWriter, KIND_ACKS, KIND_ERROR, KIND_JUDGE, KIND_STORE, decodeAcks, decodeError, encodeStore, type AckFields } from './frames.js';
import { PEER_HEADER, type ToWorker, type FromWorker } from './messages.js';

if (!process.send) {
  process.stderr.write('logship: aggregator/ingest/worker-main.js is started by the aggregator (ingest.processes), not by hand\n');
  process.exit(2);
}

// The writer is gone: never answer anything again.
process.on('disconnect', () => process.exit(1));

process.once('message', (m: ToWorker) => {
  if (m?.t !== 'config') return;
  void run(m).catch((err: unknown) => {
    process.stderr.write(`logship ingest process failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
});
process.send({ t: 'hello' } satisfies FromWorker);

async function run(hello: Extract<ToWorker, { t: 'config' }>): Promise<void> {
  const cfg = hello.config;
  const logger: Logger = createLogger({ level: hello.level, name: 'logship-aggregator' }).child({ component: 'ingest', ingest_process: hello.index });
  const metrics = createAggregatorMetrics();
  const { tokens } = loadTokens(cfg.auth.tokens);
  const store = await StoreLink.open(hello.dataPath, logger);
  let stopping = false;

  const front: BatchesFront = {
    auth: new TokenAuth(tokens),
    metrics,
    logger,
    limits: {
      maxBodyBytes: cfg.limits.max_body_bytes,
      maxDecompressedBatchBytes: cfg.limits.max_decompressed_batch_bytes,
      maxDecompressedRequestBytes: cfg.limits.max_decompressed_request_bytes,
    },
  };
  const batchesRoute: Route = {
    methods: ['POST'],
    path: '/v1/batches',
    label: 'batches',
    auth: { schemes: 'bearer', scope: 'ingest' },
    handle: async (_ctx, { req, res }) => {
      const { wire, started } = await receiveBatches(front, req, undefined, (w) => store.judge(w).then(() => undefined));
      const status = req.headers[AGENT_STATUS_HEADER];
      const acks = await store.store(wire, typeof status === 'string' ? status : '');
      metrics.ingestLatency.observe((performance.now() - started) / 1000);
      sendAcks(res, answerOf(wire, acks), metrics);
    },
  };
  const answerOf = (wire: WireRequest, acks: AckFields[]) =>
    acks.map((a, i) => ({ seq: wire.batches[i]!.seq, topic: wire.batches[i]!.topic, partition: a.partition, offset: a.offset, duplicate: a.duplicate }));
  // The batch stream (batch-stream.ts): the same checks and store as the route above, per frame.
  const streams = new BatchStreams({
    metrics,
    logger,
    auth: front.auth,
    isReady: () => !stopping,
    maxBodyBytes: front.limits.maxBodyBytes,
    store: async (body, principal, agentStatus) => {
      const started = performance.now();
      const wire = await checkBatches(front, body, principal, undefined, (w) => store.judge(w).then(() => undefined));
      const acks = await store.store(wire, agentStatus);
      metrics.ingestLatency.observe((performance.now() - started) / 1000);
      return acksJson(answerOf(wire, acks), metrics);
    },
  });
  // Only what the batches route uses: the writer answers everything else.
  const ctx = { ...front, isReady: () => !stopping } as unknown as ServerContext;
  const router = createRouter(ctx, [batchesRoute]);
  const relay = new Relay(hello.relayPath);
  // The same last line of defence, status and body as the single-process listener.
  const guarded = guardHandler(router, logger);

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    if ((qi < 0 ? url : url.slice(0, qi)) === '/v1/batches') guarded(req, res);
    else relay.pass(req, res);
  };
  const server = createListenServer(cfg.tls, handler);
  // Each ingest process holds its own connections (its own descriptors): the same cap as a single process.
  capListener(server, connectionCap(cfg), metrics, logger, cfg.limits.max_connections_per_address);
  server.on('upgrade', streams.upgrade);
  const parsed = parseListen(cfg.listen);
  if (!parsed.ok) throw new Error(parsed.message);
  await listenOn(server, parsed.value.host, parsed.value.port);

  process.on('message', (m: ToWorker) => {
    if (m?.t === 'metrics') {
      void metrics.registry.getMetricsAsJSON().then((json) => process.send?.({ t: 'metrics', n: m.n, json } satisfies FromWorker));
    } else if (m?.t === 'stop' && !stopping) {
      stopping = true;
      // Stop accepting, let in-flight requests finish (the writer is still open), then leave.
      // Batch streams count as the server's connections: they end once their frame in flight is answered.
      void streams.close();
      server.close(() => {
        store.end();
        process.exit(0);
      });
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5_000).unref();
    }
  });
  // SIGTERM/SIGINT go to the whole process group under systemd: the writer decides when this process stops.
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
}

/** The store connection to the writer: one STORE frame per request, answered by id. */
class StoreLink {
  #sock: Socket;
  #out: FrameWriter;
  #next = 0;
  #waiting = new Map<number, { resolve: (a: AckFields[]) => void; reject: (e: Error) => void }>();

  static open(path: string, logger: Logger): Promise<StoreLink> {
    return new Promise((resolve, reject) => {
      const s = connect({ path }, () => {
        s.off('error', reject);
        resolve(new StoreLink(s, logger));
      });
      s.once('error', reject);
    });
  }

  private constructor(s: Socket, logger: Logger) {
    this.#sock = s;
    this.#out = new FrameWriter(s);
    s.setNoDelay(true);
    const reader = new FrameReader((kind, id, c) => {
      const w = this.#waiting.get(id);
      if (!w) return;
      this.#waiting.delete(id);
      if (kind === KIND_ACKS) w.resolve(decodeAcks(c));
      else if (kind === KIND_ERROR) {
        const e = decodeError(c);
        w.reject(new HttpError(e.status, e.type, e.reason));
      } else w.reject(new HttpError(503, 'internal', `unexpected frame kind ${kind} from the writer`));
    });
    s.on('data', (chunk: Buffer) => reader.push(chunk));
    s.on('error', () => undefined);
    s.on('close', () => {
      // Without the writer nothing can be stored: leave, answering nothing (agents re-send).
      logger.error('the store connection to the writer closed; this ingest process exits');
      process.exit(1);
    });
  }

  store(wire: WireRequest, agentStatus: string): Promise<AckFields[]> {
    return this.#ask(wire, agentStatus, KIND_STORE);
  }

  /** The writer's topic creation policy for a request, nothing stored: rejects with its 403. */
  judge(wire: WireRequest): Promise<AckFields[]> {
    return this.#ask(wire, '', KIND_JUDGE);
  }

  #ask(wire: WireRequest, agentStatus: string, kind: typeof KIND_STORE | typeof KIND_JUDGE): Promise<AckFields[]> {
    const id = (this.#next = (this.#next + 1) >>> 0);
    const frame = encodeStore(id, wire, agentStatus, kind);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#out.write(frame);
    });
  }

  end(): void {
    this.#sock.removeAllListeners('close');
    this.#sock.end();
  }
}


const HOP = new Set(['connection', 'keep-alive', 'expect', 'proxy-connection', 'upgrade', 'te', 'trailer']);

/** Every route but POST /v1/batches: the same request, bytes and all, to the writer's own router. */
class Relay {
  #agent: Agent;
  #path: string;
  constructor(path: string) {
    this.#path = path;
    // No cap on sockets: a long-poll held open must not queue a /metrics scrape behind it.
    this.#agent = new Agent({ keepAlive: true, maxFreeSockets: 256 });
  }

  pass(req: IncomingMessage, res: ServerResponse): void {
    const headers: string[] = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toLowerCase();
      if (!HOP.has(k) && k !== PEER_HEADER) headers.push(raw[i]!, raw[i + 1]!);
    }
    // The writer's routes see the client's own addresses (produce's host field, the ES publish address).
    const so = req.socket;
    headers.push(PEER_HEADER, `${so.remoteAddress ?? ''}|${so.remotePort ?? ''}|${so.localAddress ?? ''}|${so.localPort ?? ''}`);
    const up = request({ socketPath: this.#path, agent: this.#agent, method: req.method, path: req.url, headers }, (ures) => {
      const out: string[] = [];
      const uraw = ures.rawHeaders;
      let close = false;
      for (let i = 0; i < uraw.length; i += 2) {
        const k = uraw[i]!.toLowerCase();
        if (k === 'connection') close ||= /close/i.test(uraw[i + 1]!);
        else if (k !== 'keep-alive') out.push(uraw[i]!, uraw[i + 1]!);
      }
      if (close) out.push('connection', 'close');
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, out);
      ures.pipe(res);
      ures.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      if (!res.headersSent) sendError(res, new HttpError(503, 'unavailable', `the aggregator's writer did not answer: ${err.message}; retry`));
      else res.destroy();
    });
    // A client that goes away (a long-poll given up) ends the relayed request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }
}
