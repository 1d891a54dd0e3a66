/**
 * `logship alerts`: the alert rules, their groups (host), state, since when,
 * and the last notification per sink, from GET /v1/alerts (read scope).
 */
import type { AlertsView } from '../alerts/engine.js';
import { ApiClient } from './http.js';

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export async function alertsCommand(o: { url: string; token?: string; format: 'text' | 'json'; write: (s: string) => void; now?: number }): Promise<number> {
  const data = await new ApiClient(o.url, o.token).get<AlertsView>('/v1/alerts');
  if (o.format === 'json') {
    o.write(JSON.stringify(data, null, 2) + '\n');
    return 0;
  }
  const now = o.now ?? Date.now();
  if (data.rules.length === 0) {
    o.write('(no alert rules configured)\n');
    return 0;
  }
  const rows = [['RULE', 'KIND', 'GROUP', 'STATE', 'SINCE', 'COUNT', 'VALUE', 'LAST NOTIFICATION']];
  for (const r of data.rules) {
    if (r.groups.length === 0) rows.push([r.name, r.kind, '-', 'inactive', '-', '-', '-', '-']);
    for (const g of r.groups) {
      const group = Object.entries(g.group)
        .map(([k, v]) => (k === 'host' ? v : `${k}=${v}`))
        .join(',');
      const notes = Object.entries(g.notifications)
        .map(([sink, n]) => `${sink}: ${n.status} ${n.ok ? 'ok' : `FAILED (${(n.error ?? '').slice(0, 80)})`} ${ago(n.at, now)} ago`)
        .join('; ');
      rows.push([r.name, r.kind, group || '-', g.state, `${g.since} (${ago(g.since, now)} ago)`, String(g.count), g.value === undefined ? '-' : String(g.value), notes || '-']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) o.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n');
  const queued = data.sinks.filter((s) => s.queued > 0);
  if (queued.length > 0) o.write(`queued notifications: ${queued.map((s) => `${s.name} ${s.queued}`).join(', ')}\n`);
  return 0;
}
