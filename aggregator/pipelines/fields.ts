/**
 * Dotted field paths over a nested document (`source.ip` is `{source: {ip}}`,
 * as ECS and Beats send it). Paths are split once, when a pipeline is
 * compiled; the hot path walks arrays of keys. Keys that could reach an
 * object's prototype are refused at compile time (fieldProblem); reads use
 * own properties only (Object.hasOwn), and a key such as `__proto__` that
 * comes from the data (a JSON line, a kv pair) is defined as an own
 * property, never assigned. Documents are plain objects, not null-prototype
 * ones: V8 keeps those in dictionary mode, which made building and
 * serializing a document several times slower (bench pipeline-nginx).
 */

export type Doc = Record<string, unknown>;

export const newDoc = (): Doc => ({});

const BAD_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `path` cannot name a field, or undefined. */
export function fieldProblem(path: string): string | undefined {
  if (path === '') return 'a field name cannot be empty';
  if (path.length > 256) return `the field name is ${path.length} characters long (at most 256)`;
  const parts = path.split('.');
  if (parts.some((p) => p === '')) return `"${path}" has an empty part (two dots, or a dot at an end)`;
  const bad = parts.find((p) => BAD_KEYS.has(p));
  if (bad) return `"${bad}" is not allowed as a field name part`;
  if (parts.length > 16) return `"${path}" is nested ${parts.length} deep (at most 16)`;
  return undefined;
}

export function splitPath(path: string): string[] {
  return path.split('.');
}

const isObj = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

export function getPath(doc: Doc, keys: readonly string[]): unknown {
  let cur: unknown = doc;
  for (let i = 0; i < keys.length; i++) {
    if (!isObj(cur)) return undefined;
    const k = keys[i]!;
    if (!Object.hasOwn(cur, k)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** Sets a value, making (null-prototype) objects on the way; a scalar in the way is replaced. */
export function setPath(doc: Doc, keys: readonly string[], value: unknown): void {
  let cur = doc;
  const last = keys.length - 1;
  for (let i = 0; i < last; i++) {
    const k = keys[i]!;
    const next = Object.hasOwn(cur, k) ? cur[k] : undefined;
    if (isObj(next)) {
      cur = next;
    } else {
      const made = newDoc();
      defineOwn(cur, k, made);
      cur = made;
    }
  }
  defineOwn(cur, keys[last]!, value);
}

function defineOwn(o: Doc, k: string, v: unknown): void {
  // only an assignment to "__proto__" reaches the prototype; "constructor" and "prototype" become own properties
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** Removes a field; parents left empty are removed too. Answers whether it was there. */
export function deletePath(doc: Doc, keys: readonly string[]): boolean {
  const chain: Doc[] = [doc];
  let cur: unknown = doc;
  for (let i = 0; i < keys.length - 1; i++) {
    if (!isObj(cur) || !Object.hasOwn(cur, keys[i]!)) return false;
    cur = cur[keys[i]!];
    if (!isObj(cur)) return false;
    chain.push(cur);
  }
  const parent = chain[chain.length - 1]!;
  const k = keys[keys.length - 1]!;
  if (!Object.hasOwn(parent, k)) return false;
  delete parent[k];
  for (let i = chain.length - 1; i > 0; i--) {
    if (Object.keys(chain[i]!).length > 0) break;
    delete chain[i - 1]![keys[i - 1]!];
  }
  return true;
}

/** A JSON value copied with own-property keys only (bounded depth: deeper parts are kept as JSON text). */
export function toDocValue(v: unknown, depth = 0): unknown {
  if (Array.isArray(v)) return depth > 32 ? JSON.stringify(v) : v.map((x) => toDocValue(x, depth + 1));
  if (isObj(v)) {
    if (depth > 32) return JSON.stringify(v);
    const out = newDoc();
    for (const k of Object.keys(v)) defineOwn(out, k, toDocValue(v[k], depth + 1));
    return out;
  }
  return v;
}

/** The value as text for templates, conditions and patterns (objects as JSON). */
export function asText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
