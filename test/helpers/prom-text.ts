/**
 * A small, strict parser for the Prometheus text exposition format 0.0.4,
 * for tests that read real exporters' output (node_exporter) or our own.
 * Throws on anything malformed: bad names, bad escapes, a TYPE after the
 * first sample of its family, a family split in two, duplicate series.
 * Histograms/summaries are accepted as plain samples (suffix names).
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  help?: string;
  type?: string;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class PromParseError extends Error {
  constructor(lineNo: number, line: string, why: string) {
    super(`line ${lineNo}: ${why}: ${JSON.stringify(line.slice(0, 200))}`);
    this.name = 'PromParseError';
  }
}

function parseValue(s: string): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)}`);
  return Number(s);
}

function familyOf(sampleName: string, families: Map<string, PromFamily>): string {
  if (families.has(sampleName)) return sampleName;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const base = sampleName.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (f.type === 'histogram' || f.type === 'summary')) return base;
    }
  }
  return sampleName;
}

/** Parse an exposition; families in order of appearance. */
export function parsePromText(text: string): PromFamily[] {
  if (text !== '' && !text.endsWith('\n')) throw new PromParseError(0, text.slice(-50), 'exposition does not end with a newline');
  const families = new Map<string, PromFamily>();
  const closed = new Set<string>();
  const seenSeries = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const getFamily = (name: string, lineNo: number, line: string): PromFamily => {
    if (current !== name) {
      if (closed.has(name)) throw new PromParseError(lineNo, line, `family ${name} is not contiguous`);
      if (current !== undefined) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) return; // plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) throw new PromParseError(lineNo, line, 'bad metric name');
      const f = getFamily(name!, lineNo, line);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new PromParseError(lineNo, line, 'second HELP');
        if (/\\[^\\n]/.test(rest.replaceAll('\\\\', ''))) throw new PromParseError(lineNo, line, 'bad escape in HELP');
        f.help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (f.type !== undefined) throw new PromParseError(lineNo, line, 'second TYPE');
        if (f.samples.length > 0) throw new PromParseError(lineNo, line, 'TYPE after samples');
        if (!TYPES.has(rest.trim())) throw new PromParseError(lineNo, line, 'unknown TYPE');
        f.type = rest.trim();
      }
      return;
    }
    // sample line
    let p = 0;
    while (p < line.length && /[a-zA-Z0-9_:]/.test(line[p]!)) p++;
    const name = line.slice(0, p);
    if (!METRIC_NAME.test(name)) throw new PromParseError(lineNo, line, 'bad metric name');
    const labels: Record<string, string> = {};
    if (line[p] === '{') {
      p++;
      for (;;) {
        while (line[p] === ' ') p++;
        if (line[p] === '}') {
          p++;
          break;
        }
        let q = p;
        while (q < line.length && /[a-zA-Z0-9_]/.test(line[q]!)) q++;
        const ln = line.slice(p, q);
        if (!LABEL_NAME.test(ln)) throw new PromParseError(lineNo, line, 'bad label name');
        if (line[q] !== '=' || line[q + 1] !== '"') throw new PromParseError(lineNo, line, 'expected ="');
        q += 2;
        let v = '';
        for (;;) {
          const c = line[q];
          if (c === undefined) throw new PromParseError(lineNo, line, 'unterminated label value');
          if (c === '"') break;
          if (c === '\\') {
            const n = line[q + 1];
            if (n === '\\') v += '\\';
            else if (n === '"') v += '"';
            else if (n === 'n') v += '\n';
            else throw new PromParseError(lineNo, line, 'bad escape in label value');
            q += 2;
            continue;
          }
          v += c;
          q++;
        }
        if (ln in labels) throw new PromParseError(lineNo, line, `duplicate label ${ln}`);
        labels[ln] = v;
        p = q + 1;
        if (line[p] === ',') p++;
        else if (line[p] !== '}') throw new PromParseError(lineNo, line, 'expected , or }');
      }
    }
    if (line[p] !== ' ') throw new PromParseError(lineNo, line, 'expected a space before the value');
    const parts = line.slice(p + 1).trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2) throw new PromParseError(lineNo, line, 'expected value [timestamp]');
    let value: number;
    try {
      value = parseValue(parts[0]!);
    } catch (e) {
      throw new PromParseError(lineNo, line, (e as Error).message);
    }
    const sample: PromSample = { name, labels, value };
    if (parts[1] !== undefined) {
      if (!/^-?\d+$/.test(parts[1])) throw new PromParseError(lineNo, line, 'bad timestamp');
      sample.timestampMs = Number(parts[1]);
    }
    const id = seriesKey(name, labels);
    if (seenSeries.has(id)) throw new PromParseError(lineNo, line, 'duplicate series');
    seenSeries.add(id);
    getFamily(familyOf(name, families), lineNo, line).samples.push(sample);
  });
  return [...families.values()];
}

/** `name{a="1",b="2"}` with label names sorted: a stable series identity. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

/** All samples of an exposition, flattened. */
export function parsePromSamples(text: string): PromSample[] {
  return parsePromText(text).flatMap((f) => f.samples);
}
