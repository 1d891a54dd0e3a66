import type { Metric } from './types.js';

function escapeHelp(s: string): string {
  return s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function escapeLabelValue(s: string): string {
  return s.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** Go-compatible float text: NaN, +Inf, -Inf; otherwise JS shortest round-trip form. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * Prometheus text exposition format 0.0.4. Samples are grouped by name (in
 * order of first appearance) so every family is contiguous, with one
 * `# HELP` (if any sample of the family has help) and one `# TYPE`
 * (`untyped` when no type is given). A repeated name+label set is dropped
 * (first one wins), since it would make the whole exposition invalid.
 * No timestamps. Ends with a newline (empty string for no metrics).
 */
export function renderPrometheus(metrics: Metric[]): string {
  const families = new Map<string, Metric[]>();
  for (const m of metrics) {
    let f = families.get(m.name);
    if (f === undefined) families.set(m.name, (f = []));
    f.push(m);
  }
  const out: string[] = [];
  for (const [name, samples] of families) {
    const help = samples.find((s) => s.help !== undefined)?.help;
    const type = samples.find((s) => s.type !== undefined)?.type ?? 'untyped';
    if (help !== undefined) out.push(`# HELP ${name} ${escapeHelp(help)}\n`);
    out.push(`# TYPE ${name} ${type}\n`);
    const seen = new Set<string>();
    for (const s of samples) {
      const keys = Object.keys(s.labels);
      let labels = '';
      if (keys.length > 0) {
        labels = '{' + keys.map((k) => `${k}="${escapeLabelValue(s.labels[k]!)}"`).join(',') + '}';
      }
      const id = keys.length > 1 ? '{' + keys.sort().map((k) => `${k}="${escapeLabelValue(s.labels[k]!)}"`).join(',') + '}' : labels;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(`${name}${labels} ${formatValue(s.value)}\n`);
    }
  }
  return out.join('');
}
