/** Request/response plumbing shared by the aggregator's routes: JSON errors, bounded bodies. */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { HTTP_STATUS, LogshipError, isDiskFull, type ErrorCode } from '../../lib/errors.js';
import { capConnections, capPerClient } from '../../lib/util/connection-cap.js';

/**
 * Connections the kernel may hold completed but not yet accepted. Node's default (511) overflows
 * when a fleet reconnects at once (an aggregator restart, a network blip): the kernel then drops
 * handshakes and agents see stalls and resets. Linux caps it at net.core.somaxconn (4096 since 5.4).
 */
export const LISTEN_BACKLOG = 4096;

/**
 * The server an aggregator process listens with: HTTPS when `tls` is set (client certificates
 * required when it names a client_ca_file), plain HTTP otherwise, with the keep-alive and request
 * timeouts of every listener. Files are read now, so a bad path fails at start.
 */
export function createListenServer(tls: { cert_file: string; key_file: string; client_ca_file?: string } | undefined, handler: RequestListener): Server {
  const server: Server = tls
    ? createTlsServer(
        {
          cert: readFileSync(tls.cert_file),
          key: readFileSync(tls.key_file),
          ...(tls.client_ca_file ? { ca: readFileSync(tls.client_ca_file), requestCert: true, rejectUnauthorized: true } : {}),
        },
        handler,
      )
    : createServer(handler);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 120_000;
  return server;
}

/**
 * Holds at most `max` client connections open on `server` (lib/util/connection-cap.ts): each one
 * refused is counted, and an error line a minute at most says how many and what to do.
 * Undefined: no cap (ulimit -n unreadable and no limits.max_connections). `perClient`
 * (limits.max_connections_per_address) caps what one client address holds of them the same way.
 */
export function capListener(
  server: Server,
  max: number | undefined,
  metrics: { connectionsRefused: { inc(): void }; connectionsRefusedPerAddress: { inc(): void }; maxConnections: { set(v: number): void } },
  logger: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void },
  perClient?: number,
): void {
  if (perClient !== undefined) {
    capPerClient(server, perClient, {
      count: () => metrics.connectionsRefusedPerAddress.inc(),
      report: (refused, lastFrom) =>
        logger.warn(
          { max_connections_per_address: perClient, refused, client: lastFrom },
          `refused ${refused} connection(s): ${lastFrom} (and any other client counted here) already holds ${perClient} open connections (limits.max_connections_per_address). Agents hold one each; if many agents reach this aggregator through one address (NAT, a proxy), raise or unset limits.max_connections_per_address; otherwise find what that host keeps open (ss -tn)`,
        ),
    });
  }
  if (max === undefined) return;
  metrics.maxConnections.set(max);
  capConnections(server, max, {
    count: () => metrics.connectionsRefused.inc(),
    report: (refused, lastFrom) =>
      logger.error(
        { max_connections: max, refused, last_from: lastFrom },
        `refused ${refused} connection(s): ${max} client connections are open (limits.max_connections). If these are agents, raise limits.max_connections and LimitNOFILE (or ulimit -n) together, or add ingest processes or aggregators; if not, find who holds them open (ss -tn), and consider limits.max_connections_per_address`,
      ),
  });
}

/** Listens on host:port with the fleet-sized accept backlog; rejects on the first listen error. */
export function listenOn(server: Server, host: string | undefined, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
  });
}

/** The catalogue code an HTTP status belongs to. */
function codeFor(status: number, type: string): ErrorCode {
  if (status === 400) return type === 'bad_batch' ? 'LSH_ERR_BAD_BATCH' : type === 'offset_out_of_range' ? 'LSH_ERR_OFFSET_OUT_OF_RANGE' : 'LSH_ERR_BAD_REQUEST';
  if (status === 401 || status === 403) return 'LSH_ERR_AUTH';
  if (status === 404) return 'LSH_ERR_NOT_FOUND';
  if (status === 409) return 'LSH_ERR_SEQUENCE';
  if (status === 413) return 'LSH_ERR_TOO_LARGE';
  if (status === 415) return 'LSH_ERR_BAD_REQUEST';
  if (status === 507) return 'LSH_ERR_DISK_FULL';
  return 'LSH_ERR_UNAVAILABLE';
}

/**
 * A LogshipError (one catalogue: lib/errors.ts) with its HTTP answer fixed
 * where it is raised; the code follows from the status.
 */
export class HttpError extends LogshipError {
  readonly status: number;
  readonly type: string;
  constructor(status: number, type: string, reason: string, options?: { cause?: unknown }) {
    super(codeFor(status, type), reason, { ...options, http: [status, type] });
    this.status = status;
    this.type = type;
    this.name = 'HttpError';
  }

  get reason(): string {
    return this.message;
  }
}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isDiskFull(err)) return new HttpError(507, 'insufficient_storage', `disk full: ${(err as Error).message}; free space in the data directory, ingest resumes by itself`);
  if (err instanceof LogshipError) {
    const m = err.http ?? HTTP_STATUS[err.code];
    if (m) return new HttpError(m[0], m[1], err.message);
  }
  return new HttpError(503, 'internal', `internal error: ${(err as Error)?.message ?? String(err)}`);
}

/** The answer to a request whose handler failed past the router's own error handling. */
/**
 * A request's failure as its answer will say it (toHttpError), logged and counted as every route
 * does: an internal error at error level with the error, another 5xx as a warning with its reason,
 * a malformed request (400, 413, 415) in logship_aggregator_bad_requests_total. `where` names the
 * request in the log line (its path, or the batch stream).
 */
export function noteRefusal(
  err: unknown,
  ctx: { logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }; metrics: { badRequests: { inc(labels: { type: string }): void } } },
  where: Record<string, string>,
): HttpError {
  const e = toHttpError(err);
  if (e.status >= 500 && e.type === 'internal') ctx.logger.error({ err, ...where }, 'request failed');
  else if (e.status >= 500) ctx.logger.warn({ ...where, reason: e.reason }, 'request refused');
  if (e.status === 400 || e.status === 413 || e.status === 415) ctx.metrics.badRequests.inc({ type: e.type });
  return e;
}

export const HANDLER_FAILED_STATUS = 503;
export const HANDLER_FAILED_BODY = '{"error":{"type":"internal","reason":"internal error"}}';

/**
 * The last line of defence of every aggregator listener (the single process and each ingest
 * process): whatever a request does, it must not take the process down. A handler that rejects
 * is logged and answered 503 `internal` (a status the wire contract lists, so clients retry) with
 * the connection closed, or the connection is cut when the answer had already begun.
 */
export function guardHandler(
  route: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  logger: { error(obj: object, msg: string): void },
): (req: IncomingMessage, res: ServerResponse) => void {
  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    logger.error({ err, url: req.url?.slice(0, 200) }, 'request handler failed');
    if (!res.headersSent) res.writeHead(HANDLER_FAILED_STATUS, { 'content-type': 'application/json', connection: 'close' }).end(HANDLER_FAILED_BODY);
    else res.destroy();
  };
  return (req, res) => {
    let p: Promise<void>;
    try {
      p = route(req, res);
    } catch (err) {
      failed(req, res, err);
      return;
    }
    p.catch((err: unknown) => failed(req, res, err));
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A refused body still arriving (past the drain bounds): say so, and cut the connection after the answer.
  const unread = res.req && !res.req.complete;
  if (unread) res.setHeader('connection', 'close');
  sendJson(res, e.status, { error: { type: e.type, reason: e.reason } });
  if (unread) res.once('finish', () => res.req.destroy());
}

/**
 * Reads the whole body, refusing (413) past maxBytes without buffering the
 * excess. The rest of a refused body is read and dropped first (bounded: at
 * most DRAIN_BYTES more or DRAIN_MS), and only then is the 413 sent, so a
 * client still sending sees the answer instead of a reset connection.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const cl = req.headers['content-length'];
  if (cl !== undefined && !/^\d{1,15}$/.test(cl)) return Promise.reject(new HttpError(400, 'bad_request', 'Content-Length must be a decimal number'));
  const declared = cl === undefined ? -1 : Number(cl);
  if (declared > maxBytes) {
    return drain(req).then(() => Promise.reject(new HttpError(413, 'too_large', `request body of ${declared} bytes exceeds the limit of ${maxBytes} (limits.max_body_bytes)`)));
  }
  // A declared length (the agent always sends one): one buffer of exactly that size, filled as
  // chunks arrive, instead of a list of chunks concatenated at the end. Node's parser never
  // delivers more than Content-Length; the checks below hold whatever arrives.
  if (declared >= 0) return readDeclared(req, declared);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        void drain(req).then(() => reject(new HttpError(413, 'too_large', `request body exceeds the limit of ${maxBytes} bytes (limits.max_body_bytes)`)));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    // Always a buffer of our own (a socket's chunk may share memory with other data): it may be moved to a worker.
    const onEnd = () => resolve(Buffer.concat(chunks, size));
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

/** readBody for a declared length (<= the limit, checked by the caller). */
function readDeclared(req: IncomingMessage, declared: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Node's HTTP parser hands each body chunk over in a buffer of its own (its whole memory, a copy
    // of the socket's read): a body that arrives as one chunk (a small request, the common case) is
    // kept as it is, with no allocation and copy of ours, and can still be moved to a payload worker.
    // A body in several chunks is gathered into one buffer of exactly the declared size.
    let body: Buffer | undefined;
    let size = 0;
    const onData = (c: Buffer) => {
      if (size + c.length > declared) {
        req.off('data', onData);
        req.off('end', onEnd);
        reject(new HttpError(400, 'bad_request', `request body longer than its Content-Length of ${declared} bytes`));
        return;
      }
      if (size === 0 && c.length === declared) {
        body = c;
        size = declared;
        return;
      }
      body ??= Buffer.allocUnsafe(declared);
      c.copy(body, size);
      size += c.length;
    };
    const onEnd = () => {
      if (size === declared) resolve(body ?? Buffer.alloc(0));
      else reject(new HttpError(400, 'bad_request', `request body ended after ${size} of the ${declared} bytes its Content-Length declares`));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

const DRAIN_BYTES = 64 << 20;
const DRAIN_MS = 10_000;

/**
 * Reads and drops the rest of a refused body; resolves when it has ended, or
 * at the bounds (then the answer goes out with Connection: close and the
 * connection is cut once it is sent).
 */
function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    let dropped = 0;
    const give = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.pause();
      resolve();
    };
    const timer = setTimeout(give, DRAIN_MS);
    timer.unref();
    const onData = (c: Buffer) => {
      dropped += c.length;
      if (dropped > DRAIN_BYTES) give();
    };
    req.on('data', onData);
    req.once('end', give);
    req.once('close', give);
    req.resume();
  });
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/** A canonical non-negative decimal integer ("0", "17"; not "00", "1e0", " 1", "0x1"), or undefined. */
export function parseDecimal(s: string): number | undefined {
  if (!DECIMAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function intParam(url: URL, name: string, def: number, min = 0): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return def;
  const n = parseDecimal(v);
  if (n === undefined || n < min) throw new HttpError(400, 'bad_request', `query parameter ${name} must be a decimal integer >= ${min}, got "${v.slice(0, 40)}"`);
  return n;
}

/** decodeURIComponent for a path segment; bad %-encoding is the client's error (400), not ours. */
export function decodePathSegment(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'bad_request', `${what} in the path is not valid %-encoding: "${s.slice(0, 80)}"`);
  }
}

/** Media type of a Content-Type header, lower-cased, parameters dropped (RFC 9110: case-insensitive). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
