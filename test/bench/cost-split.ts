/**
 * Where a thread's CPU goes, by kind of work, from a V8 .cpuprofile: each sample's own (top) frame
 * is put into one bucket by its file or native name. For the aggregator under many small batches
 * (issue 17) the question is how much of a batch's cost is HTTP itself (parser, sockets, streams,
 * the socket write syscall, which on loopback also carries the receiver's TCP work) and how much is
 * the aggregator's own: the payload check, decode/auth/routing, storage and the log, metrics.
 *
 * Self time only, so a bucket's share is the time spent in that code, not in what it calls. Module
 * loading at start is its own bucket; "(program)" is native time V8 cannot attribute (the HTTP
 * parser among it), kept apart rather than guessed.
 */
import { readFile } from 'node:fs/promises';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  samples: number[];
  timeDeltas: number[];
}

export const COST_BUCKETS = [
  'HTTP, sockets and streams',
  'payload check (inflate, line scan)',
  'decode, auth, routing, acks',
  'storage and log (incl. fs calls)',
  'CRC32C (wire check, stored frames)',
  'metrics',
  'Buffer calls (any caller)',
  'timers',
  'promises and microtasks',
  'garbage collector',
  '(program): native, unattributed',
  'start-up (module loading)',
  'other',
] as const;
export type CostBucket = (typeof COST_BUCKETS)[number];

export interface CostSplit {
  busyMs: number;
  /** share of the busy time per bucket, 0..1 */
  share: Record<CostBucket, number>;
}

function bucketOf(fn: string, url: string): CostBucket {
  if (!url) {
    if (fn === 'writev' || fn === 'writeUtf8String' || fn === 'writeLatin1String' || fn === 'writeBuffer' || fn === 'shutdown' || fn === 'readStart' || fn === 'readStop') return 'HTTP, sockets and streams';
    if (fn === 'writeBuffers' || fn === 'fdatasync' || fn === 'fsync' || fn === 'FSReqCallback' || fn === 'openFileHandle' || fn === 'open' || fn === 'close' || fn === 'fstat' || fn === 'read') return 'storage and log (incl. fs calls)';
    if (fn === '(garbage collector)') return 'garbage collector';
    if (fn === '(program)') return '(program): native, unattributed';
    if (fn === 'runMicrotasks') return 'promises and microtasks';
    if (fn === 'compileFunction' || fn === 'internalModuleStat' || fn === 'readFileUtf8') return 'start-up (module loading)';
    return 'other';
  }
  if (/^node:(_http_|net$|internal\/streams\/|internal\/stream_base_commons|stream$|events$|internal\/http|internal\/net|_stream_)/.test(url)) return 'HTTP, sockets and streams';
  if (url === 'node:internal/process/task_queues' || url === 'node:internal/process/promises' || url === 'node:internal/async_hooks') return 'promises and microtasks';
  if (/\/lib\/log\/crc32c/.test(url)) return 'CRC32C (wire check, stored frames)';
  if (/\/lib\/protocol\/payload|\/lib\/protocol\/newlines|\/lib\/codec\/|^wasm:/.test(url)) return 'payload check (inflate, line scan)';
  if (/\/aggregator\/server\/|\/aggregator\/ingest\/|\/lib\/protocol\/|\/aggregator\/topics\//.test(url)) return 'decode, auth, routing, acks';
  if (/\/aggregator\/storage\/|\/lib\/log\/|^node:fs|node:internal\/fs\//.test(url)) return 'storage and log (incl. fs calls)';
  if (/prom-client|\/lib\/obs\/|\/aggregator\/metrics/.test(url)) return 'metrics';
  if (url === 'node:buffer' || url === 'node:internal/buffer') return 'Buffer calls (any caller)';
  if (url === 'node:internal/timers' || url === 'node:timers') return 'timers';
  if (/^node:internal\/(modules|bootstrap|deps\/cjs-module-lexer)/.test(url)) return 'start-up (module loading)';
  return 'other';
}

export async function costSplit(file: string): Promise<CostSplit> {
  const prof = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const us = Object.fromEntries(COST_BUCKETS.map((b) => [b, 0])) as Record<CostBucket, number>;
  let busy = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]!);
    if (!n || n.callFrame.functionName === '(idle)') continue;
    const t = prof.timeDeltas[i + 1] ?? 0;
    busy += t;
    us[bucketOf(n.callFrame.functionName, n.callFrame.url)] += t;
  }
  const share = Object.fromEntries(COST_BUCKETS.map((b) => [b, busy > 0 ? us[b] / busy : 0])) as Record<CostBucket, number>;
  return { busyMs: busy / 1000, share };
}
