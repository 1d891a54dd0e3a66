/**
 * The pattern language of the `pattern` step: a regex with named building
 * blocks. `%{NAME}` inserts block NAME (patterns.ts or the step's own
 * `definitions`), `%{NAME:field}` also captures what it matched into
 * `field` (a dotted ECS path), `%{NAME:field:type}` converts it (int,
 * float, unescape: decodes the \xHH, \" and \\ escapes nginx and Apache
 * write into their logs). A field whose name starts with `_pattern.` is
 * scratch space for the preset's own later steps. Everything else is
 * JavaScript regex syntax. A pattern matches from the start of the field.
 * The expanded regex must pass lib/regex-safety.ts.
 */

import { regexSafetyProblem } from '../../lib/regex-safety.js';
import { BLOCKS } from './patterns.js';
import { fieldProblem, splitPath } from './fields.js';

export const CAPTURE_TYPES = ['string', 'int', 'float', 'unescape'] as const;
export type CaptureType = (typeof CAPTURE_TYPES)[number];

export interface Capture {
  /** index of the capturing group in the compiled regex */
  index: number;
  field: string;
  keys: string[];
  type: CaptureType;
}

export interface CompiledPattern {
  source: string;
  regex: RegExp;
  captures: Capture[];
}

export class PatternError extends Error {
  constructor(
    message: string,
    /** offset in the pattern text the problem is at, when known */
    readonly offset?: number,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 12;
const MAX_EXPANDED = 32 * 1024;
const REF = /%\{([A-Za-z0-9_]+)(?::([^:}]+))?(?::([A-Za-z0-9_]+))?\}/g;

/** Expands `pattern` into a regex and its captures. Throws PatternError saying what is wrong. */
export function compilePattern(pattern: string, definitions: Readonly<Record<string, string>> = {}): CompiledPattern {
  const fields: Array<{ field: string; type: CaptureType }> = [];
  const lookup = (name: string): string | undefined => (Object.hasOwn(definitions, name) ? definitions[name] : Object.hasOwn(BLOCKS, name) ? BLOCKS[name] : undefined);
  const expand = (text: string, depth: number, stack: string[], top: boolean): string =>
    text.replace(REF, (whole, name: string, field: string | undefined, type: string | undefined, offset: number) => {
      const at = top ? offset : undefined;
      const body = lookup(name);
      if (body === undefined) throw new PatternError(`unknown pattern name %{${name}}${top ? '' : ` (used by %{${stack[stack.length - 1]}})`}`, at);
      if (stack.includes(name)) throw new PatternError(`%{${name}} refers to itself (${[...stack, name].join(' -> ')})`, at);
      if (depth >= MAX_DEPTH) throw new PatternError(`patterns nest more than ${MAX_DEPTH} deep at %{${name}}`, at);
      const inner = expand(body, depth + 1, [...stack, name], false);
      if (field === undefined) return `(?:${inner})`;
      const problem = fieldProblem(field);
      if (problem) throw new PatternError(`in ${whole}: ${problem}`, at);
      if (type !== undefined && !(CAPTURE_TYPES as readonly string[]).includes(type)) throw new PatternError(`in ${whole}: unknown type "${type}" (${CAPTURE_TYPES.join(', ')})`, at);
      fields.push({ field, type: (type ?? 'string') as CaptureType });
      return `(?<_p${fields.length - 1}>${inner})`;
    });
  let source: string;
  try {
    source = expand(pattern, 0, [], true);
  } catch (err) {
    if (err instanceof PatternError) throw err;
    throw new PatternError((err as Error).message);
  }
  if (source.length > MAX_EXPANDED) throw new PatternError(`the pattern expands to ${source.length} characters (at most ${MAX_EXPANDED})`);
  source = source.startsWith('^') ? source : `^(?:${source})`;
  const problem = regexSafetyProblem(source);
  if (problem) throw new PatternError(`refused: ${problem}`);
  const index = groupIndexes(source);
  // Plain groups at run time: with named groups V8 builds a `groups` object on every match (measured: most of
  // the capture cost in bench pipeline-nginx). The indexes were taken above, from the named form.
  const regex = new RegExp(source.replace(/\(\?<_p\d+>/g, '('));
  const captures = fields.map((f, i) => ({ index: index.get(`_p${i}`)!, field: f.field, keys: splitPath(f.field), type: f.type }));
  return { source, regex, captures };
}

/** Index of every named group among all capturing groups, in order of their "(". */
function groupIndexes(source: string): Map<string, number> {
  const out = new Map<string, number>();
  let n = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') {
      if (source[i + 1] !== '?') n++;
      else if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
        n++;
        const end = source.indexOf('>', i);
        out.set(source.slice(i + 3, end), n);
      }
    }
  }
  return out;
}

const HEX = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/** Decodes \xHH (bytes, then UTF-8), \" and \\ as nginx and Apache escape them; anything else stays as written. */
export function unescapeLog(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  const bytes: number[] = [];
  const buf = Buffer.from(s, 'utf8');
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 92 && i + 1 < buf.length) {
      const n = buf[i + 1]!;
      if (n === 120 && i + 3 < buf.length && HEX(buf[i + 2]!) && HEX(buf[i + 3]!)) {
        bytes.push(parseInt(String.fromCharCode(buf[i + 2]!, buf[i + 3]!), 16));
        i += 3;
        continue;
      }
      if (n === 34 || n === 92) {
        bytes.push(n);
        i++;
        continue;
      }
    }
    bytes.push(c);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Converts a captured text; undefined when it does not convert (the step then fails). */
export function convertCapture(text: string, type: CaptureType): unknown {
  switch (type) {
    case 'string':
      return text;
    case 'int': {
      const v = Number(text);
      return Number.isSafeInteger(v) ? v : undefined;
    }
    case 'float': {
      const v = Number(text);
      return text !== '' && Number.isFinite(v) ? v : undefined;
    }
    case 'unescape':
      return unescapeLog(text);
  }
}
