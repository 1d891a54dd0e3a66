/**
 * `${VAR}` and `${VAR:-default}` substitution inside scalar strings, done
 * before type conversion so `max_bytes: ${BUF:-2GiB}` works. `$${` is a
 * literal `${`. Errors carry the index of their `${` in the input so the
 * validator can point at the exact column.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvProblem {
  /** index of the offending `${` among the unescaped `${` in the input (0-based) */
  ordinal: number;
  message: string;
}

export interface Substituted {
  value: string;
  /** true if at least one `${...}` was replaced */
  substituted: boolean;
  problems: EnvProblem[];
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function substituteEnv(input: string, env: Env): Substituted {
  if (!input.includes('${')) return { value: input, substituted: false, problems: [] };
  // Slices, not characters: linear in the input however many references it holds.
  const out: string[] = [];
  let substituted = false;
  const problems: EnvProblem[] = [];
  let ordinal = 0;
  let i = 0;
  while (i < input.length) {
    const ref = input.indexOf('${', i);
    if (ref < 0) break;
    if (ref > 0 && input[ref - 1] === '$' && ref - 1 >= i) {
      // `$${` is a literal `${`
      out.push(input.slice(i, ref - 1), '${');
      i = ref + 2;
      continue;
    }
    out.push(input.slice(i, ref));
    const close = input.indexOf('}', ref + 2);
    if (close < 0) {
      problems.push({ ordinal, message: 'unterminated "${": expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)' });
      i = ref;
      break;
    }
    const body = input.slice(ref + 2, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    const fallback = sep < 0 ? undefined : body.slice(sep + 2);
    if (!NAME_RE.test(name)) {
      problems.push({ ordinal, message: `invalid variable reference "\${${clip(body)}}": expected \${NAME} or \${NAME:-default}` });
    } else {
      const set = env[name];
      if (set !== undefined && set !== '') out.push(set);
      else if (fallback !== undefined) out.push(fallback);
      else if (set !== '') problems.push({ ordinal, message: `environment variable ${name} is not set (give a default: \${${name}:-value})` });
    }
    substituted = true;
    ordinal += 1;
    i = close + 1;
  }
  out.push(input.slice(i));
  return { value: out.join(''), substituted, problems };
}

/** A reference body as shown in a message: long ones are cut. */
function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

/** Offset in `raw` of the nth unescaped `${` (the same ordering substituteEnv uses), or -1. */
export function nthReference(raw: string, ordinal: number): number {
  let seen = 0;
  for (let i = raw.indexOf('${'); i >= 0; i = raw.indexOf('${', i + 2)) {
    if (i > 0 && raw[i - 1] === '$') continue;
    if (seen === ordinal) return i;
    seen += 1;
  }
  return -1;
}
