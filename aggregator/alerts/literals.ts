/**
 * Required literals of a pattern: strings at least one of which every match
 * contains (one per top-level alternative), or undefined when the pattern
 * does not have such a set of useful length. Found by a conservative walk of
 * the pattern: only runs of plain characters outside groups, classes and
 * escapes count, and a quantified character ends a run; an alternative
 * without such a run may take the literals of a group every match of it
 * passes through (not optional, not lookaround), as in `(ERROR|FATAL)`. Used to prefilter
 * (pattern-set.ts): a message none of whose literals occur cannot match.
 */

/** Shorter literals find too many candidates to be worth it. */
export const MIN_LITERAL = 3;

const QUANT = /^\{\d+(,\d*)?\}/;

/** Index just past the group, class or escape starting at i. */
function skipUnit(src: string, i: number): number {
  const c = src[i];
  if (c === '\\') return i + 2;
  if (c === '[') {
    let j = i + 1;
    if (src[j] === '^') j++;
    if (src[j] === ']') j++; // a leading ] is literal in JS? no: [] is empty; [^] is any. Either way skip it
    for (; j < src.length; j++) {
      if (src[j] === '\\') j++;
      else if (src[j] === ']') return j + 1;
    }
    return src.length;
  }
  if (c === '(') {
    let depth = 0;
    for (let j = i; j < src.length; j++) {
      const d = src[j];
      if (d === '\\') j++;
      else if (d === '[') j = skipUnit(src, j) - 1;
      else if (d === '(') depth++;
      else if (d === ')' && --depth === 0) return j + 1;
    }
    return src.length;
  }
  return i + 1;
}

/** The pattern's top-level alternatives. */
function branches(src: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < src.length; ) {
    if (src[i] === '|') {
      out.push(src.slice(start, i));
      start = ++i;
    } else i = skipUnit(src, i);
  }
  out.push(src.slice(start));
  return out;
}

const ESCAPED_LITERAL = /[\\^$.*+?()[\]{}|/\-'"#%&,:;<=>@`~!]/;

/** The longest run of characters every match of this alternative contains, or ''. */
function longestRun(b: string): string {
  return runs(b).reduce((best, r) => (r.length > best.length ? r : best), '');
}

/** Every run of plain characters every match of this alternative contains (each one contiguous in the match). */
function runs(b: string): string[] {
  const all: string[] = [];
  let cur = '';
  const end = () => {
    if (cur) all.push(cur);
    cur = '';
  };
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const next = b[i + 1];
    if (c === '\\') {
      if (next !== undefined && ESCAPED_LITERAL.test(next)) {
        cur += next;
        i += 2;
      } else {
        end();
        i += 2;
        continue;
      }
    } else if (c === '[' || c === '(') {
      end();
      i = skipUnit(b, i);
      if (b[i] === '?' || b[i] === '*' || b[i] === '+') i++;
      continue;
    } else if (c === '.' || c === '^' || c === '$') {
      end();
      i++;
      continue;
    } else if (c === '*' || c === '?' || (c === '{' && QUANT.test(b.slice(i)))) {
      // the previous character is optional: it is not part of the run
      cur = cur.slice(0, -1);
      end();
      i += c === '{' ? QUANT.exec(b.slice(i))![0].length : 1;
      if (b[i] === '?') i++;
      continue;
    } else if (c === '+') {
      // the previous character is there at least once, but what follows need not be next to it
      end();
      i++;
      if (b[i] === '?') i++;
      continue;
    } else {
      cur += c;
      i++;
    }
    // a quantifier right after this character makes it optional or repeatable
    const q = b[i];
    if (q === '*' || q === '?' || (q === '{' && QUANT.test(b.slice(i)))) {
      cur = cur.slice(0, -1);
      end();
    } else if (q === '+') end();
  }
  end();
  return all;
}

export function requiredLiterals(src: string, depth = 0): string[] | undefined {
  const out = new Set<string>();
  for (const b of branches(src)) {
    const lit = longestRun(b);
    if (lit.length >= MIN_LITERAL) {
      out.add(lit);
      continue;
    }
    // no run of its own: a group every match of this alternative passes through, whose own
    // alternatives all have literals, e.g. (ERROR|FATAL) or ^\S+ (?:OOM|panic):
    const inner = depth < 4 ? mandatoryGroupLiterals(b, depth) : undefined;
    if (!inner) return undefined;
    for (const l of inner) out.add(l);
  }
  return [...out];
}

/** Literals of the first top-level group of `b` that is neither optional nor lookaround and has literals in every alternative. */
function mandatoryGroupLiterals(b: string, depth: number): string[] | undefined {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const end = skipUnit(b, i);
    if (c === '(') {
      const q = b[end];
      const optional = q === '?' || q === '*' || (q === '{' && /^\{0*[,}]/.test(b.slice(end))) || (q === '{' && /^\{0+\d*,/.test(b.slice(end)));
      let body = b.slice(i + 1, end - 1);
      const look = /^\?(=|!|<=|<!)/.test(body);
      if (body.startsWith('?:')) body = body.slice(2);
      else if (/^\?<[A-Za-z_$][\w$]*>/.test(body)) body = body.slice(body.indexOf('>') + 1);
      if (!optional && !look && !body.startsWith('?')) {
        const lits = requiredLiterals(body, depth + 1);
        if (lits) return lits;
      }
    }
    i = end;
  }
  return undefined;
}

/**
 * For a pattern without top-level alternatives: every required run of at
 * least MIN_LITERAL characters, longest first (a message lacking any of them
 * cannot match). Empty for patterns with alternatives.
 */
export function allRequiredRuns(src: string): string[] {
  const bs = branches(src);
  if (bs.length !== 1) return [];
  return [...new Set(runs(bs[0]!).filter((r) => r.length >= MIN_LITERAL))].sort((a, b) => b.length - a.length);
}
