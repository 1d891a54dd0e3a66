/**
 * The byte path of the fast document writer: a stored line's bytes in, the
 * document's JSON bytes out, written into one output buffer, with no JS
 * string per line or per field (bench pipeline-nginx measured joining the
 * string writer's pieces and flattening them as the largest costs left).
 *
 * Covered: pipelines whose first step is the nginx_access or apache_access
 * preset on `message` (no `if`) and whose steps all have a fast plan
 * (writer.ts). The preset's pattern is matched by a linear scanner over the
 * bytes (scanAccess below), written to accept exactly what the preset's regex
 * accepts, alternatives and all; captures are (start, end) offsets. Values
 * are copied into the output with a check that takes the fast path when a
 * slice has no `"`, `\` or control byte (else JSON.stringify of the decoded
 * text), numbers are written from their digits, and the line's time is parsed
 * once per distinct time text (lines of a batch share seconds). Steps after
 * the preset run on decoded values through the fast plan's own step code.
 *
 * A record the scanner does not take goes the string way (the caller decodes
 * it and runs Pipeline.runJson, which also counts and tags failures): no
 * match, a number too long to be exact, a time that does not parse, or a line
 * that is not ASCII and either is not valid UTF-8 (decoding would replace
 * bytes) or holds a Unicode space (the regex's \s and \S know those).
 * test/unit/aggregator/pipelines/bytes.test.ts compares the byte path with
 * the string and object paths over generated, hostile and non-UTF-8 lines.
 */
import { isUtf8 } from 'node:buffer';
import { compilePattern, unescapeLog } from './pattern.js';
import { FAST_PRESETS } from './presets.js';
import { OK, DROP, type StepContext } from './steps.js';
import { isoTime, parseTimestamp } from './timestamp.js';
import type { StepConfig } from './types.js';
import { FastPlan, quote, ExtraFields, type Shape, type Val, type Vals } from './writer.js';

/** A growable output buffer (the ES sink's bulk job writes through a ByteBuffer too). */
export interface ByteOut {
  buf: Buffer;
  p: number;
  need(n: number): void;
  bytes(b: Uint8Array): void;
}

export class ByteBuffer implements ByteOut {
  buf: Buffer;
  p = 0;
  constructor(size = 1 << 16) {
    this.buf = Buffer.allocUnsafe(size);
  }
  need(n: number): void {
    if (this.p + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.p + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.p);
    this.buf = b;
  }
  /** Appends b at p. */
  bytes(b: Uint8Array): void {
    this.need(b.length);
    this.buf.set(b, this.p);
    this.p += b.length;
  }
}

/** write() outcomes */
export const BYTES_OK = 0;
export const BYTES_DROPPED = 1;
/** the byte path does not take this record: decode it and use Pipeline.runJson */
export const BYTES_FALLBACK = 2;

// Captures of the access presets, in scanAccess's order: [start, end) pairs in `caps`.
const CAP_FIELDS = ['source.ip', 'source.domain', 'user.name', 'http.request.method', 'url.original', 'http.version', 'http.response.status_code', 'http.response.body.bytes', 'http.request.referrer', 'user_agent.original'] as const;
const C_IP = 0;
const C_DOMAIN = 1;
const C_USER = 2;
const C_METHOD = 3;
const C_URL = 4;
const C_VERSION = 5;
const C_STATUS = 6;
const C_BYTES = 7;
const C_REF = 8;
const C_UA = 9;
const C_TIME = 10;
const C_REQUEST = 11;
const NCAP = 12;
const K_STRING = 0;
const K_UNESCAPE = 1;
const K_INT = 2;
const CAP_KIND = [K_STRING, K_STRING, K_STRING, K_STRING, K_UNESCAPE, K_STRING, K_INT, K_INT, K_UNESCAPE, K_UNESCAPE];

/**
 * What the scanner was written for: the presets' captures (field, type) in
 * pattern order. A preset whose pattern changes no longer matches this and
 * gets no byte plan (so the scanner can never silently differ from it).
 */
const EXPECTED: Record<string, string> = {
  NGINX_ACCESS: 'source.ip:string user.name:string _pattern.time:string http.request.method:string url.original:unescape http.version:string _pattern.request:unescape http.response.status_code:int http.response.body.bytes:int http.request.referrer:unescape user_agent.original:unescape',
  APACHE_ACCESS:
    'source.ip:string source.domain:string user.name:string _pattern.time:string http.request.method:string url.original:unescape http.version:string _pattern.request:unescape http.response.status_code:int http.response.body.bytes:int http.request.referrer:unescape user_agent.original:unescape',
};

/** A shape of the preset-only path: its text pieces, and between them a capture index or one of OP_*. */
interface Prog {
  seps: Buffer[];
  ops: Int32Array;
}
const OP_TS = -1;
const OP_MSG = -2;
const OP_OFFSET = -3;

// Base document slots (writer.ts lays them out first, in this order).
const TS = 0;
const MSG = 1;
const HOST = 2;
const FILE = 3;
const OFFSET = 4;

export class BytePlan {
  readonly #plan: FastPlan;
  readonly #apache: boolean;
  /** slot of each capture (-1: the pipeline has no such field) */
  readonly #capSlot: Int32Array;
  /** slots the captures write (cleared per record) */
  readonly #written: number[];
  /** capture index of each slot a capture writes */
  readonly #capOf: Int32Array;
  #extraVals: readonly Val[] = [];
  readonly #more: boolean;
  readonly #vals: Vals;
  readonly #caps = new Int32Array(2 * NCAP);
  readonly #seps = new WeakMap<Shape, Buffer[]>();
  /** shapes of the preset-only path by capture-presence mask, for the current context */
  readonly #progs = new Map<number, Prog>();
  #host = '';
  #source = '';
  #readIso = '';
  #readTime: number | undefined;
  // the last time text seen and its @timestamp JSON ("...Z" with quotes)
  readonly #tText = Buffer.alloc(64);
  #tLen = -1;
  #tJson = Buffer.alloc(0);
  /** routes of the last record written or dropped (undefined: every sink) */
  routes: string[] | undefined = undefined;

  private constructor(plan: FastPlan, apache: boolean, more: boolean) {
    this.#plan = plan;
    this.#apache = apache;
    this.#more = more;
    this.#capSlot = Int32Array.from(CAP_FIELDS, (f) => plan.slotOf(f) ?? -1);
    this.#written = [...this.#capSlot].filter((s) => s >= 0);
    this.#capOf = new Int32Array(plan.size).fill(-1);
    this.#capSlot.forEach((slot, c) => {
      if (slot >= 0) this.#capOf[slot] = c;
    });
    this.#vals = new Array<Val>(plan.size);
  }

  /** The byte plan of these steps with these extra fields, or undefined when they need the string path. */
  static compile(steps: readonly StepConfig[], extra?: ExtraFields): BytePlan | undefined {
    const first = steps[0];
    if (!first || first.type !== 'pattern' || first.preset === undefined || first.field !== 'message' || first.if !== undefined) return undefined;
    const fp = FAST_PRESETS[first.preset];
    if (!fp || (fp.block !== 'NGINX_ACCESS' && fp.block !== 'APACHE_ACCESS') || fp.time.format !== 'nginx') return undefined;
    const caps = compilePattern(`%{${fp.block}}$`).captures.map((c) => `${c.field}:${c.type}`).join(' ');
    if (caps !== EXPECTED[fp.block]) return undefined;
    const plan = FastPlan.compile(steps, extra);
    if (!plan || plan.shapeOf([]) === undefined) return undefined;
    return new BytePlan(plan, fp.block === 'APACHE_ACCESS', steps.length > 1);
  }

  /**
   * The fields every following record shares (a stored batch's): its host,
   * source, read time (ISO 8601: @timestamp when the line has none, and the
   * reference of later steps) and the caller's extra values.
   */
  context(host: string, source: string, readIso: string, extraValues: readonly Val[] = []): void {
    // the shapes hold host, source and the extra values in their text
    let same = host === this.#host && source === this.#source && extraValues.length === this.#extraVals.length;
    for (let i = 0; same && i < extraValues.length; i++) same = extraValues[i] === this.#extraVals[i];
    if (!same) this.#progs.clear();
    this.#host = host;
    this.#source = source;
    if (readIso !== this.#readIso) this.#readTime = undefined;
    this.#readIso = readIso;
    const v = this.#vals;
    v[HOST] = host;
    v[FILE] = source;
    this.#extraVals = extraValues;
    const ex = this.#plan.extraSlots;
    for (let i = 0; i < ex.length; i++) v[ex[i]!] = extraValues[i];
  }

  /**
   * The document of the line src[s, e) at source offset `sourceOffset`,
   * written at out.p (out.p moves past it on BYTES_OK only).
   */
  write(src: Buffer, s: number, e: number, sourceOffset: number, out: ByteOut): number {
    this.routes = undefined;
    const caps = this.#caps;
    if (!scanAccess(src, s, e, this.#apache, caps)) return BYTES_FALLBACK;
    // the line's own time
    const ta = caps[2 * C_TIME]!;
    const tz = caps[2 * C_TIME + 1]!;
    if (!this.#time(src, ta, tz)) return BYTES_FALLBACK;
    if (this.#more) {
      const vals = this.#vals;
      const written = this.#written;
      for (let i = 0; i < written.length; i++) vals[written[i]!] = undefined;
      vals[OFFSET] = sourceOffset;
      return this.#writeMore(src, s, e, sourceOffset, out);
    }
    // the document's shape follows from which captures are present
    const capSlot = this.#capSlot;
    let mask = 0;
    for (let c = 0; c < C_TIME; c++) if (capSlot[c]! >= 0 && caps[2 * c]! >= 0) mask |= 1 << c;
    const prog = this.#progs.get(mask) ?? this.#prog(mask);
    const seps = prog.seps;
    const ops = prog.ops;
    const start = out.p;
    const clean = dirty === 0;
    // where the message's text starts in out (a clean line's captures are copied from there)
    let msgAt = -1;
    for (let i = 0; ; i++) {
      const sep = seps[i]!;
      out.bytes(sep);
      if (i === ops.length) break;
      const op = ops[i]!;
      if (op === OP_TS) {
        const tj = this.#tJson;
        out.bytes(tj);
      } else if (op === OP_MSG) {
        if (clean) msgAt = cleanMessage(src, s, e, out);
        else if (!jsonRange(src, s, e, out, true)) {
          out.p = start;
          return BYTES_FALLBACK;
        }
      } else if (op === OP_OFFSET) writeNumber(out, sourceOffset);
      else {
        const c = op;
        const a = caps[2 * c]!;
        const z = caps[2 * c + 1]!;
        const kind = CAP_KIND[c]!;
        if (kind === K_INT) {
          out.need(16);
          out.p = writeDigits(src, a, z, out.buf, out.p);
        } else if (clean) cleanCapture(src, a, z, s, msgAt, out);
        else if (kind === K_UNESCAPE && has(src, a, z, 92)) writeString(out, unescapeLog(src.toString('utf8', a, z)));
        else jsonRange(src, a, z, out, false);
      }
    }
    // ints of more than 15 digits were refused by the scanner; a message that is not valid UTF-8 went back above
    return BYTES_OK;
  }

  /** The shape of documents whose present captures are `mask` (a bit per capture), as text pieces and what goes between them. */
  #prog(mask: number): Prog {
    const vals = this.#vals;
    const capSlot = this.#capSlot;
    for (const w of this.#written) vals[w] = undefined;
    // placeholders: the shape only asks which fields are present (the context's are in vals already)
    vals[TS] = '';
    vals[MSG] = '';
    vals[OFFSET] = 0;
    for (let c = 0; c < C_TIME; c++) if (mask & (1 << c)) vals[capSlot[c]!] = '';
    const sh = this.#plan.shapeOf(vals)!;
    const prog: Prog = {
      seps: sh.seps.map((x) => Buffer.from(x, 'utf8')),
      ops: Int32Array.from(sh.slots, (slot) => (slot === TS ? OP_TS : slot === MSG ? OP_MSG : slot === OFFSET ? OP_OFFSET : this.#capOf[slot]!)),
    };
    if (this.#progs.size >= 1024) this.#progs.clear();
    this.#progs.set(mask, prog);
    return prog;
  }

  /** Steps after the preset: decoded values through the fast plan's steps, then the document from them. */
  #writeMore(src: Buffer, s: number, e: number, sourceOffset: number, out: ByteOut): number {
    if (!textOk(src, s, e)) return BYTES_FALLBACK;
    const vals = this.#vals;
    const caps = this.#caps;
    const capSlot = this.#capSlot;
    vals[TS] = this.#tJson.toString('latin1', 1, this.#tJson.length - 1);
    vals[MSG] = src.toString('utf8', s, e);
    for (let c = 0; c < C_TIME; c++) {
      const slot = capSlot[c]!;
      const a = caps[2 * c]!;
      if (slot < 0 || a < 0) continue;
      const z = caps[2 * c + 1]!;
      const kind = CAP_KIND[c]!;
      vals[slot] = kind === K_INT ? Number(src.toString('latin1', a, z)) : kind === K_UNESCAPE ? unescapeLog(src.toString('utf8', a, z)) : src.toString('utf8', a, z);
    }
    const scratch: Record<string, string> = { time: src.toString('latin1', caps[2 * C_TIME]!, caps[2 * C_TIME + 1]!) };
    if (caps[2 * C_REQUEST]! >= 0) scratch.request = src.toString('utf8', caps[2 * C_REQUEST]!, caps[2 * C_REQUEST + 1]!);
    const self = this;
    const ctx: StepContext = {
      get readTime(): number {
        if (self.#readTime === undefined) {
          const t = Date.parse(self.#readIso);
          self.#readTime = Number.isFinite(t) ? t : Date.now();
        }
        return self.#readTime;
      },
      identity: `${this.#host}\u0000${this.#source}\u0000${sourceOffset}`,
      routes: undefined,
      scratch,
    };
    // as on the string path, the caller's extra fields are set after the steps (which do not see them)
    const ex = this.#plan.extraSlots;
    for (let i = 0; i < ex.length; i++) vals[ex[i]!] = undefined;
    const r = this.#plan.runSteps(vals, ctx, 1);
    this.routes = ctx.routes ? [...ctx.routes] : undefined;
    if (r !== OK) {
      this.#clearAll();
      return r === DROP ? BYTES_DROPPED : BYTES_FALLBACK;
    }
    for (let i = 0; i < ex.length; i++) vals[ex[i]!] = this.#extraVals[i];
    const sh = this.#plan.shapeOf(vals)!;
    let seps = this.#seps.get(sh);
    if (seps === undefined) this.#seps.set(sh, (seps = sh.seps.map((x) => Buffer.from(x, 'utf8'))));
    const slots = sh.slots;
    for (let i = 0; ; i++) {
      const sep = seps[i]!;
      out.bytes(sep);
      if (i === slots.length) break;
      const v = vals[slots[i]!]!;
      if (typeof v === 'number') writeNumber(out, v);
      else writeString(out, v);
    }
    this.#clearAll();
    return BYTES_OK;
  }

  /** After later steps: every slot but the batch's context back to absent. */
  #clearAll(): void {
    const vals = this.#vals;
    vals.fill(undefined);
    vals[HOST] = this.#host;
    vals[FILE] = this.#source;
    const ex = this.#plan.extraSlots;
    for (let i = 0; i < ex.length; i++) vals[ex[i]!] = this.#extraVals[i];
  }

  /** The time text src[a, z) as @timestamp JSON in #tJson (kept while the text stays the same); false when it is not a time. */
  #time(src: Buffer, a: number, z: number): boolean {
    const t = this.#tText;
    const n = z - a;
    if (n === this.#tLen) {
      let i = 0;
      while (i < n && t[i] === src[a + i]) i++;
      if (i === n) return true;
    }
    if (n > t.length) return false;
    const ms = parseTimestamp(src.toString('latin1', a, z), 'nginx', FAST_PRESETS.nginx_access!.time.zone, 0);
    if (ms === undefined) {
      this.#tLen = -1;
      return false;
    }
    src.copy(t, 0, a, z);
    this.#tLen = n;
    this.#tJson = Buffer.from(`"${isoTime(ms)}"`, 'latin1');
    return true;
  }
}

/** True when the line is ASCII, or valid UTF-8 without a Unicode space (what decoding leaves as it is and the regex sees as the scanner does). */
function textOk(b: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i]! >= 0x80) return utf8Ok(b, s, e);
  return true;
}

/** Non-ASCII line: valid UTF-8 and none of the spaces JavaScript's \s has beyond ASCII (U+00A0, U+1680, U+2000-200A, U+2028/9, U+202F, U+205F, U+3000, U+FEFF). */
function utf8Ok(b: Buffer, s: number, e: number): boolean {
  if (!isUtf8(b.subarray(s, e))) return false;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c < 0xc2) continue;
    const c1 = b[i + 1];
    const c2 = b[i + 2];
    if (c === 0xc2 && c1 === 0xa0) return false;
    if (c === 0xe1 && c1 === 0x9a && c2 === 0x80) return false;
    if (c === 0xe2 && c1 === 0x80 && c2 !== undefined && (c2 <= 0x8a || c2 === 0xa8 || c2 === 0xa9 || c2 === 0xaf)) return false;
    if (c === 0xe2 && c1 === 0x81 && c2 === 0x9f) return false;
    if (c === 0xe3 && c1 === 0x80 && c2 === 0x80) return false;
    if (c === 0xef && c1 === 0xbb && c2 === 0xbf) return false;
  }
  return true;
}

const HEXD = Buffer.from('0123456789abcdef', 'latin1');

/**
 * src[a, z) as a JSON string at out.p, escaped as JSON.stringify escapes the
 * decoded text (`"` and `\`, control characters as \b \t \n \f \r or
 * \u00xx; everything else as it is, which for valid UTF-8 is its text).
 * `check`: false (nothing written) when the slice is not ASCII and fails
 * textOk (the message: decides for the whole line); without it the caller
 * knows the line passed.
 */
function jsonRange(src: Buffer, a: number, z: number, out: ByteOut, check: boolean): boolean {
  out.need(6 * (z - a) + 2);
  const buf = out.buf;
  let p = out.p;
  buf[p++] = 0x22;
  let hi = 0;
  for (let i = a; i < z; i++) {
    const c = src[i]!;
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
      hi |= c;
      buf[p++] = c;
      continue;
    }
    buf[p++] = 0x5c;
    if (c === 0x22 || c === 0x5c) buf[p++] = c;
    else if (c === 8) buf[p++] = 0x62;
    else if (c === 9) buf[p++] = 0x74;
    else if (c === 10) buf[p++] = 0x6e;
    else if (c === 12) buf[p++] = 0x66;
    else if (c === 13) buf[p++] = 0x72;
    else {
      buf[p++] = 0x75;
      buf[p++] = 0x30;
      buf[p++] = 0x30;
      buf[p++] = HEXD[c >> 4]!;
      buf[p++] = HEXD[c & 15]!;
    }
  }
  if (check && hi >= 0x80 && !utf8Ok(src, a, z)) return false;
  buf[p++] = 0x22;
  out.p = p;
  return true;
}

/**
 * A clean line (see `dirty`) as a JSON string at out.p: one copy of its
 * bytes, then each part before one of its own quotes moved into place with
 * a `\` before the quote. Returns where the text starts in out.
 */
function cleanMessage(src: Buffer, s: number, e: number, out: ByteOut): number {
  const n = quoteCount;
  out.need(e - s + n + 2);
  const buf = out.buf;
  const base = out.p + 1;
  buf[out.p] = 0x22;
  const raw = base + n;
  buf.set(src.subarray(s, e), raw);
  let from = s;
  for (let k = 0; k < n; k++) {
    const q = quotes[k]!;
    if (q > from) buf.copyWithin(base + (from - s) + k, raw + (from - s), raw + (q - s));
    const at = base + (q - s) + k;
    buf[at] = 0x5c;
    buf[at + 1] = 0x22;
    from = q + 1;
  }
  const end = base + (e - s) + n;
  buf[end] = 0x22;
  out.p = end + 1;
  return base;
}

/** A capture src[a, z) of a clean line as a JSON string: its bytes, copied from the message's text already in out when long. */
function cleanCapture(src: Buffer, a: number, z: number, s: number, msgAt: number, out: ByteOut): void {
  out.need(z - a + 2);
  const buf = out.buf;
  let p = out.p;
  buf[p++] = 0x22;
  if (z - a >= 24 && msgAt >= 0) {
    let shift = 0;
    for (let k = 0; k < quoteCount; k++) if (quotes[k]! < a) shift++;
    const from = msgAt + (a - s) + shift;
    buf.copyWithin(p, from, from + (z - a));
    p += z - a;
  } else for (let i = a; i < z; i++) buf[p++] = src[i]!;
  buf[p++] = 0x22;
  out.p = p;
}

function has(b: Buffer, a: number, z: number, c: number): boolean {
  for (let i = a; i < z; i++) if (b[i] === c) return true;
  return false;
}

function writeString(out: ByteOut, s: string): void {
  const q = quote(s);
  out.need(q.length * 3);
  out.p += out.buf.write(q, out.p, 'utf8');
}

function writeNumber(out: ByteOut, n: number): void {
  out.need(24);
  if (Number.isSafeInteger(n) && n >= 0) {
    const buf = out.buf;
    let len = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
    let p = out.p + len;
    out.p = p;
    do {
      buf[--p] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    return;
  }
  out.p += out.buf.write(Number.isFinite(n) ? String(n) : 'null', out.p, 'latin1');
}

/** Decimal digits src[a, z) (at most 15: the scanner refuses longer) as the number's JSON: leading zeros dropped. */
function writeDigits(src: Buffer, a: number, z: number, buf: Buffer, p: number): number {
  while (a < z - 1 && src[a] === 48) a++;
  for (let i = a; i < z; i++) buf[p++] = src[i]!;
  return p;
}

// ---- the scanner ----

/**
 * Set by scanAccess for the line it matched: whether any byte of it may need
 * escaping in JSON or decoding (a control byte, `\`, a byte >= 0x80, or a `"`
 * other than the request's, referrer's and user agent's own quotes), and
 * where those own quotes are. A clean line's JSON is its bytes with a `\`
 * before each of those quotes; its captures need no escaping.
 */
let dirty = 0;
const quotes = new Int32Array(6);
let quoteCount = 0;
const restQuotes = new Int32Array(4);
let restQuoteCount = 0;

/** \S+ from j: the end of the run; flags the line when the run holds a byte JSON escapes or a non-ASCII one. */
function notSpaceRun(b: Buffer, j: number, e: number): number {
  while (j < e) {
    const c = b[j]!;
    if (c === 32 || (c >= 9 && c <= 13)) break;
    if (c < 0x20 || c >= 0x80 || c === 34 || c === 92) dirty = 1;
    j++;
  }
  return j;
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;
const isHex = (c: number) => (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
const isAlnum = (c: number) => (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122);
const isAlpha = (c: number | undefined) => c !== undefined && (c | 0x20) >= 97 && (c | 0x20) <= 122;
/** JavaScript's \s within ASCII (non-ASCII lines with a Unicode space never reach the scanner's result: textOk) */
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

/** IPV4: four groups of 1-3 digits joined by '.', exactly [a, z). */
function ipv4(b: Buffer, a: number, z: number): boolean {
  let i = a;
  for (let g = 0; g < 4; g++) {
    const d = i;
    while (i < z && i - d < 3 && isDigit(b[i])) i++;
    if (i === d) return false;
    if (g < 3) {
      if (i >= z || b[i] !== 46) return false;
      i++;
    }
  }
  return i === z;
}

/** IPV6 block: [hex]{0,4} ':' [hex:.]{1,45} ('%' [alnum]{1,16})?, exactly [a, z). */
function ipv6(b: Buffer, a: number, z: number): boolean {
  let i = a;
  while (i < z && i - a < 4 && isHex(b[i]!)) i++;
  if (i >= z || b[i] !== 58) return false;
  i++;
  const r = i;
  while (i < z && i - r < 45 && (isHex(b[i]!) || b[i] === 58 || b[i] === 46)) i++;
  if (i === r) return false;
  if (i === z) return true;
  if (b[i] !== 37) return false;
  const q = ++i;
  while (i < z && i - q < 16 && isAlnum(b[i]!)) i++;
  return i > q && i === z;
}

/** HOSTNAME block: [0-9A-Za-z][0-9A-Za-z._-]{0,254}, exactly [a, z). */
function hostname(b: Buffer, a: number, z: number): boolean {
  if (z <= a || z - a > 255 || !isAlnum(b[a]!)) return false;
  for (let i = a + 1; i < z; i++) {
    const c = b[i]!;
    if (!isAlnum(c) && c !== 46 && c !== 95 && c !== 45) return false;
  }
  return true;
}

/** End of a run of 1-20 digits from i that is not followed by another digit, or -1. */
function posint(b: Buffer, i: number, e: number): number {
  const d = i;
  while (i < e && isDigit(b[i])) i++;
  return i === d || i - d > 20 ? -1 : i;
}

/** QSBODY from i: up to the first '"' not escaped by '\'; its position, or -1. */
function qsbody(b: Buffer, i: number, e: number): number {
  while (i < e) {
    const c = b[i]!;
    if (c === 34) return i;
    if (c === 92) {
      dirty = 1;
      if (i + 1 >= e) return -1;
      i += 2;
    } else {
      if (c < 0x20 || c >= 0x80) dirty = 1;
      i++;
    }
  }
  return -1;
}

/**
 * The access presets' pattern (NGINX_ACCESS, APACHE_ACCESS in patterns.ts,
 * anchored at both ends) over b[s, e): true and the captures' [start, end)
 * pairs in caps (-1 when absent), or false where the regex does not match.
 * Each part of the regex either has one way to match (a run that must end at
 * a given byte) or tries its alternatives in the regex's order, so the result
 * is the regex's.
 */
export function scanAccess(b: Buffer, s: number, e: number, apache: boolean, caps: Int32Array): boolean {
  caps.fill(-1);
  dirty = 0;
  // client: IP (or, for Apache, HOSTNAME), then ' '
  let i = s;
  while (i < e && b[i] !== 32) i++;
  if (i >= e) return false;
  if (ipv4(b, s, i) || ipv6(b, s, i)) {
    caps[2 * C_IP] = s;
    caps[2 * C_IP + 1] = i;
  } else if (apache && hostname(b, s, i)) {
    caps[2 * C_DOMAIN] = s;
    caps[2 * C_DOMAIN + 1] = i;
  } else return false;
  // ident: \S+ then ' '
  let j = ++i;
  j = notSpaceRun(b, j, e);
  if (j === i || j >= e || b[j] !== 32) return false;
  // user: (?:-|(\S+)) then ' ['
  i = ++j;
  j = notSpaceRun(b, j, e);
  if (j === i || j + 1 >= e || b[j] !== 32 || b[j + 1] !== 91) return false;
  if (!(j - i === 1 && b[i] === 45)) {
    caps[2 * C_USER] = i;
    caps[2 * C_USER + 1] = j;
  }
  // time: \d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d{1,9})? [+-]\d{4} then '] "'
  i = j + 2;
  const t0 = i;
  if (
    i + 20 > e ||
    !isDigit(b[i]) || !isDigit(b[i + 1]) || b[i + 2] !== 47 ||
    !isAlpha(b[i + 3]) || !isAlpha(b[i + 4]) || !isAlpha(b[i + 5]) || b[i + 6] !== 47 ||
    !isDigit(b[i + 7]) || !isDigit(b[i + 8]) || !isDigit(b[i + 9]) || !isDigit(b[i + 10]) || b[i + 11] !== 58 ||
    !isDigit(b[i + 12]) || !isDigit(b[i + 13]) || b[i + 14] !== 58 ||
    !isDigit(b[i + 15]) || !isDigit(b[i + 16]) || b[i + 17] !== 58 ||
    !isDigit(b[i + 18]) || !isDigit(b[i + 19])
  )
    return false;
  i += 20;
  if (b[i] === 46) {
    const f = i + 1;
    let k = f;
    while (k < e && k - f < 9 && isDigit(b[k])) k++;
    if (k > f) i = k;
  }
  if (i + 9 > e || b[i] !== 32 || (b[i + 1] !== 43 && b[i + 1] !== 45) || !isDigit(b[i + 2]) || !isDigit(b[i + 3]) || !isDigit(b[i + 4]) || !isDigit(b[i + 5])) return false;
  i += 6;
  caps[2 * C_TIME] = t0;
  caps[2 * C_TIME + 1] = i;
  if (b[i] !== 93 || b[i + 1] !== 32 || b[i + 2] !== 34) return false;
  const r0 = i + 3;
  // request, first way: HTTPMETHOD ' ' URIPATHPARAM (' HTTP/' HTTPVERSION)? '"'
  let q1 = -1;
  let m = r0;
  if (m < e && b[m]! >= 65 && b[m]! <= 90) {
    m++;
    while (m < e && m - r0 < 32 && ((b[m]! >= 65 && b[m]! <= 90) || b[m] === 95 || b[m] === 45)) m++;
    if (m < e && b[m] === 32) {
      const u0 = m + 1;
      let u = u0;
      while (u < e) {
        const c = b[u]!;
        if (c === 34 || c === 32 || (c >= 9 && c <= 13)) break;
        if (c < 0x20 || c >= 0x80 || c === 92) dirty = 1;
        u++;
      }
      if (u > u0) {
        let v0 = -1;
        let v1 = -1;
        if (b[u] === 32 && b[u + 1] === 72 && b[u + 2] === 84 && b[u + 3] === 84 && b[u + 4] === 80 && b[u + 5] === 47 && isDigit(b[u + 6])) {
          let v = u + 7;
          if (b[v] === 46 && isDigit(b[v + 1])) v += 2;
          if (b[v] === 34) {
            v0 = u + 6;
            v1 = v;
            q1 = v;
          }
        }
        if (q1 < 0 && b[u] === 34) q1 = u;
        const r = q1 >= 0 ? rest(b, q1, e, caps) : NO;
        if (r === UNSURE) return false;
        if (r === YES) {
          caps[2 * C_METHOD] = r0;
          caps[2 * C_METHOD + 1] = m;
          caps[2 * C_URL] = u0;
          caps[2 * C_URL + 1] = u;
          caps[2 * C_VERSION] = v0;
          caps[2 * C_VERSION + 1] = v1;
          ownQuotes(r0 - 1, q1);
          return true;
        }
      }
    }
  }
  // second way: QSBODY (scratch only)
  const q2 = qsbody(b, r0, e);
  if (q2 < 0 || q2 === q1 || rest(b, q2, e, caps) !== YES) return false;
  caps[2 * C_REQUEST] = r0;
  caps[2 * C_REQUEST + 1] = q2;
  ownQuotes(r0 - 1, q2);
  return true;
}

function ownQuotes(open: number, close: number): void {
  quotes[0] = open;
  quotes[1] = close;
  for (let k = 0; k < restQuoteCount; k++) quotes[2 + k] = restQuotes[k]!;
  quoteCount = 2 + restQuoteCount;
}

const NO = 0;
const YES = 1;
/** a number of more than 15 digits (it may not be a safe integer): the string path decides the whole line */
const UNSURE = 2;

/** From the request's closing '"' at q: '" ' status ' ' (-|bytes) (' "' (-|QSBODY) '" "' (-|QSBODY) '"')? and the end. */
function rest(b: Buffer, q: number, e: number, caps: Int32Array): number {
  if (b[q + 1] !== 32) return NO;
  const st = q + 2;
  const sz = posint(b, st, e);
  if (sz < 0 || b[sz] !== 32) return NO;
  if (sz - st > 15) return UNSURE;
  let i = sz + 1;
  let b0 = -1;
  let b1 = -1;
  if (b[i] === 45) i++;
  else {
    const z = posint(b, i, e);
    if (z < 0) return NO;
    if (z - i > 15) return UNSURE;
    b0 = i;
    i = z;
  }
  if (b0 >= 0) b1 = i;
  let r0 = -1;
  let r1 = -1;
  let a0 = -1;
  let a1 = -1;
  restQuoteCount = 0;
  if (i !== e) {
    // the optional referrer and user agent, then the end
    if (b[i] !== 32 || b[i + 1] !== 34) return NO;
    let k = i + 2;
    restQuotes[0] = i + 1;
    if (b[k] === 45 && b[k + 1] === 34) k++;
    else {
      const z = qsbody(b, k, e);
      if (z < 0) return NO;
      r0 = k;
      r1 = k = z;
    }
    if (b[k + 1] !== 32 || b[k + 2] !== 34) return NO;
    restQuotes[1] = k;
    restQuotes[2] = k + 2;
    k += 3;
    if (b[k] === 45 && b[k + 1] === 34) k++;
    else {
      const z = qsbody(b, k, e);
      if (z < 0) return NO;
      a0 = k;
      a1 = k = z;
    }
    if (k + 1 !== e) return NO;
    restQuotes[3] = k;
    restQuoteCount = 4;
  }
  caps[2 * C_STATUS] = st;
  caps[2 * C_STATUS + 1] = sz;
  caps[2 * C_BYTES] = b0;
  caps[2 * C_BYTES + 1] = b1;
  caps[2 * C_REF] = r0;
  caps[2 * C_REF + 1] = r1;
  caps[2 * C_UA] = a0;
  caps[2 * C_UA + 1] = a1;
  return YES;
}
