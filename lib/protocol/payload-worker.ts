// Runs in a worker thread (payload-pool.ts): one payload job per message, so
// inflating and splitting untrusted batches never blocks the event loop.
import { parentPort } from 'node:worker_threads';
import { runJob, type Job } from './payload-jobs.js';

parentPort!.on('message', (m: { id: number; job: Job }) => {
  try {
    const result = runJob(m.job);
    const transfer = 'data' in result ? [result.data.buffer as ArrayBuffer, result.meta.buffer as ArrayBuffer] : [];
    parentPort!.postMessage({ id: m.id, result }, transfer.filter((b, i) => transfer.indexOf(b) === i));
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
