/** `logship sinks`: each record sink's state, lag per topic, documents and last error. */
import type { SinkReport } from '../sinks/runner.js';
import { ApiClient } from './http.js';

export async function sinksCommand(o: { url: string; token?: string; format: 'text' | 'json'; write: (s: string) => void }): Promise<number> {
  const data = await new ApiClient(o.url, o.token).get<{ sinks: SinkReport[] }>('/v1/sinks');
  if (o.format === 'json') {
    o.write(JSON.stringify(data, null, 2) + '\n');
    return 0;
  }
  const rows = [['NAME', 'TYPE', 'STATE', 'LAG', 'DOCS', 'LAST_ERROR']];
  for (const s of data.sinks) {
    const lag = Object.entries(s.lag).map(([t, n]) => `${t}=${n}`).join(',') || '-';
    const docs = s.status?.docs as Record<string, number> | undefined;
    const docText = docs ? Object.entries(docs).filter(([k]) => k !== 'requests').map(([k, n]) => `${k}=${n}`).join(',') : '-';
    const last = s.status?.last_error as { time: string; message: string } | null | undefined;
    rows.push([s.name, s.type, s.state, lag, docText, last ? `${last.time} ${last.message}` : (s.reason ?? '-')]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  // The last column is free text: not padded.
  for (const r of rows) o.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n');
  if (data.sinks.length === 0) o.write('(no sinks configured)\n');
  return 0;
}
