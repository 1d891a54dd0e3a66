// Runs in a worker thread (payload-pool.ts): one payload job per message, so
// inflating and splitting untrusted batches never blocks the event loop.
import { parentPort } from 'node:worker_threads';
import { runJob, type Job } from './payload-jobs.js';

interface Message {
  id: number;
  job: Job;
  back?: boolean;
}

// Job kinds registered by other modules (the Elasticsearch sink's and the _bulk API's) are loaded on
// the first job that is neither a check nor a records read: many aggregators never run one, and
// loading them at start cost each worker ~75-90 ms of CPU and ~9 MiB of memory.
let extras: Promise<unknown> | undefined;
function loadExtras(): Promise<unknown> {
  extras ??= Promise.all([import('../../aggregator/sinks/elasticsearch/bulk-job.js'), import('../../aggregator/server/es-compat/bulk-job.js')]);
  return extras;
}

function handle(m: Message): void {
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
}

parentPort!.on('message', (m: Message) => {
  if (m.job.op === 'check' || m.job.op === 'records') return handle(m);
  // Answered in any order: the pool matches answers by id.
  loadExtras().then(
    () => handle(m),
    (err: Error) => handle({ ...m, job: { op: `${m.job.op} (job kinds failed to load: ${err.message})`, batches: [] } }),
  );
});
