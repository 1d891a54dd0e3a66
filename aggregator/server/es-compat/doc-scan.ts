/**
 * One pass over a _bulk document line, in its bytes: checks it is one JSON
 * object (RFC 8259 grammar: strings without raw control characters, numbers,
 * literals, nesting up to MAX_DEPTH) and picks out the three values a record
 * needs: top-level `@timestamp`, `host.name` (`host` an object), a flattened
 * `"host.name"` key, or a string `host`. No string or object is built for
 * the rest of the document, so the hot path allocates almost nothing per
 * document (JSON.parse would build the whole object graph only to find
 * two fields). UTF-8 is passed through as it is, as JSON.parse of the
 * decoded text would accept it.
 */

export interface ScannedDoc {
  /** undefined: a valid object; else why not (for the item error) */
  error?: string;
  /** raw value of @timestamp: a string or a number, undefined when absent or another type */
  timestamp?: string | number;
  /** the first usable (documents.ts usableHost) of host.name, "host.name", a string host */
  host?: string;
}

import { usableHost } from './documents.js';

const MAX_DEPTH = 512;

const K_TIMESTAMP = Buffer.from('@timestamp');
const K_HOST = Buffer.from('host');
const K_HOST_NAME = Buffer.from('host.name');
const K_NAME = Buffer.from('name');

let b: Buffer;
let p = 0;
let end = 0;
let fail: string | undefined;
// What the scan of the current document found (scanDocument resets them).
let timestamp: string | number | undefined;
let hostObj: string | undefined;
let hostFlat: string | undefined;
let hostStr: string | undefined;

class Bad extends Error {}
const BAD = new Bad();

function bad(what: string): never {
  fail ??= `${what} at byte ${p}`;
  throw BAD;
}

function ws(): void {
  while (p < end) {
    const c = b[p]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
    else return;
  }
}

/** Skips a string starting at p (the opening quote); returns [start, end) of its content and whether it has escapes. */
function str(): [number, number, boolean] {
  p++;
  const s = p;
  let esc = false;
  while (p < end) {
    const c = b[p]!;
    if (c === 0x22) {
      p++;
      return [s, p - 1, esc];
    }
    if (c === 0x5c) {
      esc = true;
      const n = b[p + 1];
      if (n === 0x75) {
        for (let k = 2; k < 6; k++) {
          const h = b[p + k];
          if (h === undefined || !((h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66))) bad('bad \\u escape');
        }
        p += 6;
        continue;
      }
      if (n === 0x22 || n === 0x5c || n === 0x2f || n === 0x62 || n === 0x66 || n === 0x6e || n === 0x72 || n === 0x74) {
        p += 2;
        continue;
      }
      bad('bad escape');
    }
    if (c < 0x20) bad('control character in a string');
    p++;
  }
  bad('unterminated string');
}

function num(): void {
  const s = p;
  if (b[p] === 0x2d) p++;
  if (b[p] === 0x30) p++;
  else if (b[p]! >= 0x31 && b[p]! <= 0x39) while (p < end && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
  else bad('bad number');
  if (b[p] === 0x2e) {
    p++;
    const d = p;
    while (p < end && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
    if (p === d) bad('bad number');
  }
  if (b[p] === 0x65 || b[p] === 0x45) {
    p++;
    if (b[p] === 0x2b || b[p] === 0x2d) p++;
    const d = p;
    while (p < end && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
    if (p === d) bad('bad number');
  }
  if (p === s) bad('bad number');
}

function lit(word: string): void {
  for (let k = 0; k < word.length; k++) if (b[p + k] !== word.charCodeAt(k)) bad('unexpected character');
  p += word.length;
}

/** The keys compared are a few bytes: a loop beats Buffer.compare's call into C++. */
function keyIs(s: number, e: number, k: Buffer): boolean {
  if (e - s !== k.length) return false;
  for (let i = 0; i < k.length; i++) if (b[s + i] !== k[i]) return false;
  return true;
}

function text(s: number, e: number, esc: boolean): string {
  return esc ? (JSON.parse(b.toString('utf8', s - 1, e + 1)) as string) : b.toString('utf8', s, e);
}

/**
 * A value at p. role: 0 nothing wanted, 1 the top-level @timestamp, 2 the
 * top-level `host` (an object to look into, or a string), 3 `name` inside
 * that object, 4 the top-level flattened "host.name".
 */
function value(depth: number, role: 0 | 1 | 2 | 3 | 4): void {
  const c = b[p];
  if (c === 0x7b) return obj(depth + 1, role === 2 ? 2 : 0);
  if (c === 0x5b) {
    if (depth + 1 > MAX_DEPTH) bad('nested too deeply');
    p++;
    ws();
    if (b[p] === 0x5d) {
      p++;
      return;
    }
    for (;;) {
      ws();
      value(depth + 1, 0);
      ws();
      const d = b[p];
      if (d === 0x2c) {
        p++;
        continue;
      }
      if (d === 0x5d) {
        p++;
        return;
      }
      bad('expected , or ]');
    }
  }
  if (c === 0x22) {
    const [s, e, esc] = str();
    if (role === 1) timestamp = text(s, e, esc);
    else if (role === 2) hostStr = text(s, e, esc);
    else if (role === 3) hostObj = text(s, e, esc);
    else if (role === 4) hostFlat = text(s, e, esc);
    return;
  }
  if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
    const s = p;
    num();
    if (role === 1) timestamp = Number(b.toString('latin1', s, p));
    return;
  }
  if (c === 0x74) return lit('true');
  if (c === 0x66) return lit('false');
  if (c === 0x6e) return lit('null');
  bad('unexpected character');
}

/** An object at p. kind 1: the document itself; 2: the top-level `host` object; 0: any other. */
function obj(depth: number, kind: 0 | 1 | 2): void {
  if (depth > MAX_DEPTH) bad('nested too deeply');
  p++;
  ws();
  if (b[p] === 0x7d) {
    p++;
    return;
  }
  for (;;) {
    ws();
    if (b[p] !== 0x22) bad('expected a key');
    const [s, e] = str();
    ws();
    if (b[p] !== 0x3a) bad('expected :');
    p++;
    ws();
    let role: 0 | 1 | 2 | 3 | 4 = 0;
    if (kind === 1) {
      if (keyIs(s, e, K_TIMESTAMP)) role = 1;
      else if (keyIs(s, e, K_HOST)) role = 2;
      else if (keyIs(s, e, K_HOST_NAME)) role = 4;
    } else if (kind === 2 && keyIs(s, e, K_NAME)) role = 3;
    value(depth, role);
    ws();
    const d = b[p];
    if (d === 0x2c) {
      p++;
      continue;
    }
    if (d === 0x7d) {
      p++;
      return;
    }
    bad('expected , or }');
  }
}

/** Scans buf[start, stop) as one JSON document. */
export function scanDocument(buf: Buffer, start: number, stop: number): ScannedDoc {
  b = buf;
  p = start;
  end = stop;
  fail = undefined;
  timestamp = hostObj = hostFlat = hostStr = undefined;
  try {
    ws();
    if (b[p] !== 0x7b) return { error: 'the document must be a JSON object' };
    obj(1, 1);
    ws();
    if (p !== end) bad('unexpected data after the document');
  } catch (err) {
    if (err !== BAD) {
      // RangeError (stack) or the like: still the document's fault, never ours to throw.
      fail ??= (err as Error).message;
    }
    return { error: fail ?? 'invalid JSON' };
  } finally {
    b = EMPTY;
  }
  // The first usable of host.name (object), "host.name", a string host; a later duplicate key wins, as in JSON.parse.
  const out: ScannedDoc = {};
  if (timestamp !== undefined) out.timestamp = timestamp;
  const h = usableHost(hostObj) ?? usableHost(hostFlat) ?? usableHost(hostStr);
  if (h !== undefined) out.host = h;
  return out;
}

const EMPTY = Buffer.alloc(0);
