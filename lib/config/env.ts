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
  let out = '';
  let substituted = false;
  const problems: EnvProblem[] = [];
  let ordinal = 0;
  let i = 0;
  while (i < input.length) {
    if (input.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!input.startsWith('${', i)) {
      out += input[i];
      i += 1;
      continue;
    }
    const close = input.indexOf('}', i + 2);
    if (close < 0) {
      problems.push({ ordinal, message: 'unterminated "${": expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)' });
      out += input.slice(i);
      break;
    }
    const body = input.slice(i + 2, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    const fallback = sep < 0 ? undefined : body.slice(sep + 2);
    if (!NAME_RE.test(name)) {
      problems.push({ ordinal, message: `invalid variable reference "\${${body}}": expected \${NAME} or \${NAME:-default}` });
    } else {
      const set = env[name];
      if (set !== undefined && set !== '') out += set;
      else if (fallback !== undefined) out += fallback;
      else if (set === '') out += '';
      else problems.push({ ordinal, message: `environment variable ${name} is not set (give a default: \${${name}:-value})` });
    }
    substituted = true;
    ordinal += 1;
    i = close + 1;
  }
  return { value: out, substituted, problems };
}

/** Offset in `raw` of the nth unescaped `${` (the same ordering substituteEnv uses), or -1. */
export function nthReference(raw: string, ordinal: number): number {
  let seen = 0;
  for (let i = 0; i < raw.length - 1; i += 1) {
    if (raw.startsWith('$${', i)) {
      i += 2;
      continue;
    }
    if (raw.startsWith('${', i)) {
      if (seen === ordinal) return i;
      seen += 1;
    }
  }
  return -1;
}
