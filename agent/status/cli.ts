/** `logship status`: fetches the agent's /status and prints it. */
import { request } from 'undici';
import { LogshipError } from '../../lib/errors.js';
import type { AgentStatus } from './report.js';
import type { JournaldStatus } from '../inputs/journald/index.js';

export async function statusCommand(o: { url: string; format: 'text' | 'json'; write: (s: string) => void }): Promise<number> {
  let body: string;
  try {
    const res = await request(new URL('/status', o.url));
    body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${body.slice(0, 300)}`);
  } catch (err) {
    throw new LogshipError('LSH_ERR_UNAVAILABLE', `cannot read the agent status at ${o.url}: ${(err as Error).message} (is the agent running, and status.listen set?)`);
  }
  if (o.format === 'json') {
    o.write(body.endsWith('\n') ? body : body + '\n');
    return 0;
  }
  const s = JSON.parse(body) as AgentStatus;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  o.write(`agent ${s.id}, up ${s.uptime_seconds}s, health: ${s.health.ok ? 'ok' : `${s.health.state === 'stuck' ? 'STUCK' : 'DEGRADED'} (${s.health.state}): ` + s.health.problems.join('; ')}\n`);
  o.write(`aggregator ${s.aggregator.url}: ${s.aggregator.reachable === null ? 'not contacted yet' : s.aggregator.reachable ? 'reachable' : 'UNREACHABLE'}${s.aggregator.last_error ? ` (last error: ${s.aggregator.last_error})` : ''}\n`);
  o.write(
    `buffer: ${mib(s.buffer.bytes)} of ${mib(s.buffer.max_bytes)}, ${s.buffer.unacked_batches} unacknowledged batches` +
      (s.buffer.oldest_unacked_age_seconds !== null ? `, oldest ${s.buffer.oldest_unacked_age_seconds.toFixed(1)}s old` : '') +
      '\n',
  );
  o.write(`backlog: ${s.backlog.progress}\n`);
  o.write(`files (${s.files.length}):\n`);
  for (const f of s.files) o.write(`  ${f.path}  offset ${f.offset} / size ${f.size}  lag ${f.lag_bytes}B  ${f.state}\n`);
  const journald = (s as AgentStatus & { journald?: JournaldStatus[] }).journald;
  if (journald?.length) {
    o.write(`journald (${journald.length}):\n`);
    for (const j of journald) {
      o.write(
        `  ${j.input}  ${j.state}${j.pid ? ` (journalctl pid ${j.pid})` : ''}${j.paused ? ', paused for buffer room' : ''}  ${j.entries_shipped} of ${j.entries_read} entries read shipped` +
          `${j.restarts ? `, ${j.restarts} restarts (last: ${j.last_exit})` : ''}${j.gap_entries ? `, ${j.gap_entries} entries lost to vacuum` : ''}\n`,
      );
    }
  }
  return 0;
}
