/**
 * One-line summaries for systemd's STATUS= (what `systemctl status` shows
 * under the unit), e.g. "shipping 3.2 MiB/s, lag 0 B, buffer 12 MiB / 2 GiB,
 * aggregator reachable". Rates are over the time since the previous line.
 */
import type { Agent } from '../agent/index.js';
import type { Aggregator } from '../aggregator/index.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

/** Turns a growing total into a per-second rate between calls. */
export class Rate {
  #last: { at: number; total: number } | undefined;
  per(total: number, now: number): number {
    const prev = this.#last;
    this.#last = { at: now, total };
    if (!prev || now <= prev.at) return 0;
    return Math.max(0, ((total - prev.total) * 1000) / (now - prev.at));
  }
}

async function counterTotal(c: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0);
}

export function agentStatusLine(agent: Agent): () => Promise<string> {
  const rate = new Rate();
  return async () => {
    const read = rate.per(await counterTotal(agent.metrics.bytesRead), Date.now());
    let lag = 0;
    for (const f of agent.fileInputs) for (const t of f.tailers) lag += t.lag;
    const h = agent.health();
    const link = h.state === 'ok' ? (agent.forwarder.lastError ? 'aggregator unreachable, retrying' : 'aggregator reachable') : h.state === 'stuck' ? 'STUCK (see the error log)' : 'waiting on the aggregator';
    return `shipping ${formatBytes(read)}/s, lag ${formatBytes(lag)}, buffer ${formatBytes(agent.buffer.sizeBytes)} / ${formatBytes(agent.cfg.buffer.max_bytes)}, ${link}`;
  };
}

export function aggregatorStatusLine(agg: Aggregator, listen: string): () => Promise<string> {
  const records = new Rate();
  const bytes = new Rate();
  return async () => {
    const now = Date.now();
    const r = records.per(await counterTotal(agg.metrics.appendedRecords), now);
    const b = bytes.per(await counterTotal(agg.metrics.appendedBytes), now);
    const sinks = Object.entries(agg.sinks.health());
    const bad = sinks.filter(([, h]) => !h.ok).map(([n]) => n);
    const sinkPart = sinks.length === 0 ? '' : bad.length ? `, sinks degraded: ${bad.join(' ')}` : `, ${sinks.length} sink${sinks.length > 1 ? 's' : ''} ok`;
    return `listening on ${listen}, storing ${Math.round(r)} records/s (${formatBytes(b)}/s compressed), ${agg.storage.count()} topics${sinkPart}`;
  };
}
