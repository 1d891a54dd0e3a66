/** What `logship status` and GET /status show: files, buffer, delivery, backlog progress. */
import type { Agent } from '../index.js';
import { redactCredentials } from './redact.js';
import { isoTime } from '../../lib/util/utc-time.js';

export interface FileStatus {
  path: string;
  identity: string;
  offset: number;
  size: number;
  lag_bytes: number;
  state: 'open' | 'rotated' | 'deleted';
}

export interface AgentStatus {
  id: string;
  uptime_seconds: number;
  memory: { rss_bytes: number; heap_used_bytes: number; external_bytes: number; array_buffers_bytes: number };
  files: FileStatus[];
  buffer: { bytes: number; max_bytes: number; unacked_batches: number; oldest_unacked_age_seconds: number | null; when_full: string };
  aggregator: { url: string; reachable: boolean | null; last_success: string | null; last_error: string | null };
  backlog: { bytes_to_read: number; bytes_delivered_since_start: number; rate_bytes_per_second: number; eta_seconds: number | null; progress: string };
  health: { ok: boolean; state: 'ok' | 'waiting_on_aggregator' | 'stuck'; problems: string[] };
}

export async function buildStatus(agent: Agent, now: number): Promise<AgentStatus> {
  const files: FileStatus[] = [];
  let toRead = 0;
  for (const input of agent.fileInputs) {
    for (const t of input.tailers) {
      files.push({
        path: t.path,
        identity: `${t.stream.key} (dev ${t.dev} ino ${t.ino}, fingerprint ${t.stream.fpLen}B/${(t.stream.fpCrc >>> 0).toString(16)})`,
        offset: t.stream.offset,
        size: t.size,
        lag_bytes: Math.max(0, t.size - t.stream.offset),
        state: t.deleted ? 'deleted' : t.detached ? 'rotated' : 'open',
      });
      toRead += Math.max(0, t.size - t.readOffset);
    }
  }
  // Code-unit order: the same on every host whatever its locale, and no ICU collation data loaded (~2.3 MiB resident).
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const oldest = await agent.buffer.oldestUnackedTimestamp();
  const f = agent.forwarder;
  const elapsed = Math.max(1, (now - agent.startedAt) / 1000);
  const rate = agent.ackedBytes / elapsed;
  // Bytes still to deliver: unread file bytes plus (approximately) what waits in the buffer uncompressed.
  const buffered = agent.buffer.unackedBatches > 0 ? agent.buffer.sizeBytes : 0;
  const remaining = toRead + buffered;
  const eta = remaining > 0 && rate > 0 ? remaining / rate : remaining === 0 ? 0 : null;
  const mib = (n: number) => (n / 1048576).toFixed(1);
  const progress =
    remaining === 0
      ? `caught up: ${mib(agent.ackedBytes)} MiB delivered since start`
      : `${mib(agent.ackedBytes)} MiB delivered, ~${mib(remaining)} MiB to go at ${mib(rate)} MiB/s, ETA ${eta === null ? 'unknown (no delivery yet)' : `${Math.ceil(eta)}s`}`;
  return {
    id: agent.cfg.id,
    uptime_seconds: Math.round(elapsed),
    memory: (({ rss, heapUsed, external, arrayBuffers }) => ({ rss_bytes: rss, heap_used_bytes: heapUsed, external_bytes: external, array_buffers_bytes: arrayBuffers }))(process.memoryUsage()),
    files,
    buffer: {
      bytes: agent.buffer.sizeBytes,
      max_bytes: agent.cfg.buffer.max_bytes,
      unacked_batches: agent.buffer.unackedBatches,
      oldest_unacked_age_seconds: oldest === undefined ? null : Math.max(0, (now - oldest) / 1000),
      when_full: agent.cfg.buffer.when_full,
    },
    aggregator: {
      url: redactCredentials(f.currentUrl),
      reachable: f.reachable ?? null,
      last_success: f.lastSuccess ? isoTime(f.lastSuccess) : null,
      last_error: redactCredentials(f.lastError ?? null),
    },
    backlog: { bytes_to_read: toRead, bytes_delivered_since_start: agent.ackedBytes, rate_bytes_per_second: Math.round(rate), eta_seconds: eta === null ? null : Math.ceil(eta), progress },
    health: agent.health(),
  };
}
