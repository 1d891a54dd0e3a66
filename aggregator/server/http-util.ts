/** Request/response plumbing shared by the aggregator's routes: JSON errors, bounded bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LogshipError, isDiskFull, type ErrorCode } from '../../lib/errors.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, [number, string]>> = {
  LSH_ERR_BAD_BATCH: [400, 'bad_batch'],
  LSH_ERR_BAD_REQUEST: [400, 'bad_request'],
  LSH_ERR_AUTH: [401, 'unauthorized'],
  LSH_ERR_NOT_FOUND: [404, 'not_found'],
  LSH_ERR_SEQUENCE: [409, 'producer_fenced'],
  LSH_ERR_TOO_LARGE: [413, 'too_large'],
  LSH_ERR_OFFSET_OUT_OF_RANGE: [416, 'offset_out_of_range'],
  LSH_ERR_DISK_FULL: [507, 'insufficient_storage'],
  LSH_ERR_UNAVAILABLE: [503, 'unavailable'],
  LSH_ERR_CLOSED: [503, 'unavailable'],
};

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isDiskFull(err)) return new HttpError(507, 'insufficient_storage', `disk full: ${(err as Error).message}; free space in the data directory, ingest resumes by itself`);
  if (err instanceof LogshipError) {
    const m = STATUS_BY_CODE[err.code];
    if (m) return new HttpError(m[0] === 416 ? 400 : m[0], m[1], err.message);
  }
  return new HttpError(503, 'internal', `internal error: ${(err as Error)?.message ?? String(err)}`);
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
  sendJson(res, e.status, { error: { type: e.type, reason: e.reason } });
}

/** Reads the whole body, refusing (413) past maxBytes without buffering the excess. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > maxBytes) {
    return Promise.reject(new HttpError(413, 'too_large', `request body of ${declared} bytes exceeds the limit of ${maxBytes} (limits.max_body_bytes)`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new HttpError(413, 'too_large', `request body exceeds the limit of ${maxBytes} bytes (limits.max_body_bytes)`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export function intParam(url: URL, name: string, def: number, min = 0): number {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new HttpError(400, 'bad_request', `query parameter ${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}
