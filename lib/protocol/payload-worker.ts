// Runs in a worker thread (payload-pool.ts): one payload job per message, so
// inflating and splitting untrusted batches never blocks the event loop.
import { parentPort } from 'node:worker_threads';
import { runJob, type Job } from './payload-jobs.js';
// job kinds registered by other modules
import '../../aggregator/sinks/elasticsearch/bulk-job.js';
import '../../aggregator/server/es-compat/bulk-job.js';

parentPort!.on('message', (m: { id: number; job: Job; back?: boolean }) => {
  // A moved request body goes back with the answer: the aggregator stores its payloads next.
  const body = m.back ? (m.job.batches[0]?.payload.buffer as ArrayBuffer | undefined) : undefined;
  try {
    const result: Record<string, unknown> = { ...runJob(m.job) };
    // typed arrays that own their whole ArrayBuffer move back instead of being copied
    const transfer: ArrayBuffer[] = [];
    for (const v of Object.values(result)) if (ArrayBuffer.isView(v) && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer) transfer.push(v.buffer);
    if (body) {
      result.body = body;
      transfer.push(body);
    }
    parentPort!.postMessage({ id: m.id, result }, transfer.filter((b, i) => transfer.indexOf(b) === i));
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message, ...(body ? { body } : {}) }, body ? [body] : []);
  }
});
