/**
 * Request bodies of the JSON ingest routes: bounded on the wire
 * (limits.max_body_bytes) and, with Content-Encoding gzip (or deflate),
 * inflated as it streams in, stopping at limits.max_inflated_body_bytes: a
 * gzip bomb costs at most that much memory and is refused (413) as soon as it
 * crosses the cap, without waiting for the rest.
 */
import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import { HttpError, readBody } from '../http-util.js';

const INFLATE_CHUNK = 256 * 1024;

export interface BodyLimits {
  maxBodyBytes: number;
  maxInflatedBytes: number;
}

export async function readJsonBody(req: IncomingMessage, limits: BodyLimits, onInflateRefused?: () => void): Promise<Buffer> {
  const enc = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') {
    const body = await readBody(req, Math.min(limits.maxBodyBytes, limits.maxInflatedBytes));
    return body;
  }
  let z: Gunzip | Inflate;
  // 256 KiB output chunks: a 16 KiB default costs a callback per 16 KiB on the event loop (the inflating itself runs on the libuv pool).
  if (enc === 'gzip' || enc === 'x-gzip') z = createGunzip({ chunkSize: INFLATE_CHUNK });
  else if (enc === 'deflate') z = createInflate({ chunkSize: INFLATE_CHUNK });
  else throw new HttpError(415, 'unsupported_media_type', `Content-Encoding "${enc.slice(0, 40)}" is not supported: send gzip, deflate or none`);
  const cl = req.headers['content-length'];
  if (cl !== undefined && /^\d{1,15}$/.test(cl) && Number(cl) > limits.maxBodyBytes) {
    // readBody drains and answers the same 413 for a declared oversize body.
    await readBody(req, limits.maxBodyBytes);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let inflated = 0;
    let wire = 0;
    let done = false;
    const fail = (e: HttpError) => {
      if (done) return;
      done = true;
      req.unpipe(z);
      z.destroy();
      chunks.length = 0;
      // Refuse at once; the router answers with Connection: close while the body still arrives.
      req.resume();
      reject(e);
    };
    req.on('data', (c: Buffer) => {
      wire += c.length;
      if (wire > limits.maxBodyBytes) fail(new HttpError(413, 'too_large', `request body exceeds the limit of ${limits.maxBodyBytes} bytes (limits.max_body_bytes)`));
    });
    req.on('error', (err) => fail(new HttpError(400, 'bad_request', `request body could not be read: ${err.message}`)));
    z.on('data', (c: Buffer) => {
      if (done) return;
      inflated += c.length;
      if (inflated > limits.maxInflatedBytes) {
        onInflateRefused?.();
        fail(new HttpError(413, 'too_large', `the ${enc} body inflates to more than ${limits.maxInflatedBytes} bytes (limits.max_inflated_body_bytes); send smaller requests`));
        return;
      }
      chunks.push(c);
    });
    z.on('error', (err) => fail(new HttpError(400, 'bad_request', `the body is not valid ${enc}: ${err.message}`)));
    z.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, inflated));
    });
    req.pipe(z);
  });
}
