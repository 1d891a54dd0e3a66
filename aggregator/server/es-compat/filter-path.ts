/**
 * Elasticsearch's `filter_path` response filter, for the forms shippers send:
 * comma-separated dotted paths where `*` matches one key (array elements are
 * walked through), `**` any depth, and a leading `-` excludes. An object or
 * array left empty by the filter disappears, as in Elasticsearch, so
 * `filter_path=errors,items.*.error` on a clean bulk gives `{"errors":false}`.
 */

type Pattern = string[];

export interface FilterPath {
  include: Pattern[];
  exclude: Pattern[];
}

export function parseFilterPath(v: string | null): FilterPath | undefined {
  if (v === null || v.trim() === '') return undefined;
  const include: Pattern[] = [];
  const exclude: Pattern[] = [];
  for (const raw of v.split(',')) {
    const p = raw.trim();
    if (p === '') continue;
    if (p.startsWith('-')) exclude.push(p.slice(1).split('.'));
    else include.push(p.split('.'));
  }
  return { include, exclude };
}

export function applyFilterPath(value: unknown, f: FilterPath): unknown {
  let v = value;
  if (f.include.length > 0) v = keep(v, f.include);
  if (v !== undefined && f.exclude.length > 0) v = drop(v, f.exclude);
  return v === undefined ? {} : v;
}

function matchKey(seg: string, key: string): boolean {
  if (seg === '*' || seg === '**') return true;
  if (!seg.includes('*')) return seg === key;
  const re = new RegExp('^' + seg.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(key);
}

/** Patterns that continue below `key` ([] when a pattern ends there: keep the whole subtree). */
function descend(patterns: Pattern[], key: string): { whole: boolean; rest: Pattern[] } {
  let whole = false;
  const rest: Pattern[] = [];
  for (const p of patterns) {
    const seg = p[0]!;
    if (seg === '**') {
      rest.push(p); // ** may match more levels
      if (p.length === 1) whole = true;
      else if (matchKey(p[1]!, key)) {
        if (p.length === 2) whole = true;
        else rest.push(p.slice(2));
      }
      continue;
    }
    if (!matchKey(seg, key)) continue;
    if (p.length === 1) whole = true;
    else rest.push(p.slice(1));
  }
  return { whole, rest };
}

function keep(v: unknown, patterns: Pattern[]): unknown {
  if (Array.isArray(v)) {
    const out = v.map((x) => keep(x, patterns)).filter((x) => x !== undefined);
    return out.length > 0 ? out : undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [k, x] of Object.entries(v)) {
    const { whole, rest } = descend(patterns, k);
    let r: unknown;
    if (whole) r = x;
    else if (rest.length > 0) r = keep(x, rest);
    if (r !== undefined) {
      out[k] = r;
      any = true;
    }
  }
  return any ? out : undefined;
}

function drop(v: unknown, patterns: Pattern[]): unknown {
  if (Array.isArray(v)) return v.map((x) => drop(x, patterns));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const { whole, rest } = descend(patterns, k);
    if (whole) continue;
    out[k] = rest.length > 0 ? drop(x, rest) : x;
  }
  return out;
}
