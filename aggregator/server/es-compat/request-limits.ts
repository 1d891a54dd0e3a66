/** Request-level checks shared by _bulk and produce: media type and how many are handled at once. */
import type { IncomingMessage } from 'node:http';
import { HttpError, mediaType } from '../http-util.js';

/**
 * application/json, application/x-ndjson and the vendor types the official
 * clients send (application/vnd.elasticsearch+x-ndjson; compatible-with=7|8|9),
 * with any parameters (charset=UTF-8). Anything else: 415.
 */
export function checkJsonContentType(req: IncomingMessage): void {
  const mt = mediaType(req.headers['content-type']);
  if (mt === 'application/json' || mt === 'application/x-ndjson' || mt === 'application/vnd.elasticsearch+x-ndjson' || mt === 'application/vnd.elasticsearch+json') return;
  throw new HttpError(
    415,
    'media_type_header_exception',
    mt === ''
      ? 'Content-Type header is missing: send application/x-ndjson or application/json'
      : `Content-Type "${mt.slice(0, 80)}" is not supported: send application/x-ndjson or application/json`,
  );
}

/** At most `max` requests at once; the rest are refused with 429 (every shipper retries it with backoff). */
export class RequestGate {
  #busy = 0;
  constructor(readonly max: number) {}

  enter(): () => void {
    if (this.#busy >= this.max) {
      throw new HttpError(429, 'es_rejected_execution_exception', `rejected execution: ${this.#busy} JSON ingest requests are in progress (limits.max_concurrent_json_requests); retry with backoff`);
    }
    this.#busy++;
    let left = false;
    return () => {
      if (!left) this.#busy--;
      left = true;
    };
  }
}
