/** `logship topics`: topics, partitions, first and next offsets, bytes. */
import { ApiClient, type TopicsResponse } from './http.js';

export async function topicsCommand(o: { url: string; token?: string; format: 'text' | 'json'; write: (s: string) => void }): Promise<number> {
  const data = await new ApiClient(o.url, o.token).get<TopicsResponse>('/v1/topics');
  if (o.format === 'json') {
    o.write(JSON.stringify(data, null, 2) + '\n');
    return 0;
  }
  const rows = [['TOPIC', 'PARTITION', 'FIRST_OFFSET', 'NEXT_OFFSET', 'RECORDS', 'BYTES']];
  for (const t of data.topics)
    for (const p of t.partitions) rows.push([t.name, String(p.partition), String(p.first_offset), String(p.next_offset), String(p.next_offset - p.first_offset), String(p.bytes)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) o.write(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
  if (data.topics.length === 0) o.write('(no topics yet)\n');
  return 0;
}
