/**
 * One multi-string automaton (Aho-Corasick) for every required literal of a
 * topic's log-match patterns, run over the UTF-8 bytes of a whole delivery
 * at once. Built once per rule set; one table lookup per byte finds every
 * occurrence of every literal, whatever their number.
 *
 * The table is a complete DFA (goto and failure links folded together) in
 * one Int32Array, one row of 256 entries per state: an entry is the next
 * state's byte offset in the table (state * 1024), negated when keywords end
 * in that state, so the scan is one load per byte and a sign test. Each
 * state lists, flattened, the keywords ending there (its own and those of
 * its failure chain): a scan never walks failure links.
 *
 * The scan loop is a few WebAssembly instructions (below, assembled by hand:
 * no toolchain needed) over the delivery's messages written one after the
 * other with a NUL byte between them. A NUL is in no literal, so it takes the
 * automaton back to its start state (a NUL inside a message does too, and no
 * literal can span it); each hit's byte position tells its message. Each
 * byte's table load depends on the previous one's, so one stream waits on
 * memory at every byte: the delivery is cut at a message boundary near its
 * middle and the two halves are stepped in the same loop, their loads
 * overlapping (0.75 -> 0.51 us per nginx line for scanAll, 100 rules).
 */

/** Where things live in the scanner's memory: a scan leaves the end of stream B's hits at byte 8; the table follows. */
const B_END_AT = 8;
const NEXT_AT = 16; // the transition table
const ROW = 256 * 4;
const ROW_SHIFT = 10; // ROW = 1 << ROW_SHIFT
const PAGE = 65536;

/**
 * (func (param $a $aEnd $b $bEnd $next $outA $outB i32) (result i32)
 *   two streams of bytes, [a, aEnd) and [b, bEnd), stepped in the same loop: their table loads
 *   do not wait on each other, so the processor overlaps them. Per byte c of a stream, with its
 *   row (locals $rowA/$rowB, from 0): row = i32 at ($next + row + c * 4); when row < 0, append
 *   (the byte's address, row) at the stream's out pointer and continue from -row. Returns $outA's
 *   end; $outB's end is stored at B_END_AT.)
 */
function scannerModule(): Uint8Array<ArrayBuffer> {
  const uleb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      out.push(b);
    } while (n !== 0);
    return out;
  };
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const str = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const c32 = (v: number) => [0x41, ...sleb(v)];
  const add = 0x6a;
  const shl = 0x74;
  const A = 0, A_END = 1, B = 2, B_END = 3, NEXT = 4, OUT_A = 5, OUT_B = 6, ROW_A = 7, ROW_B = 8;
  // one byte of one stream
  const step = (p: number, row: number, out: number) => [
    ...get(NEXT), ...get(row), add, ...get(p), 0x2d, 0x00, 0x00, ...c32(2), shl, add, 0x28, 0x02, 0x00, // next + row + mem[p] * 4
    0x22, row, // row = that (tee)
    ...c32(0), 0x48, 0x04, 0x40, // if row < 0
    ...get(out), ...get(p), 0x36, 0x02, 0x00, // out[0] = p
    ...get(out), ...get(row), 0x36, 0x02, 0x04, // out[1] = row
    ...get(out), ...c32(8), add, ...set(out), // out += 8
    ...c32(0), ...get(row), 0x6b, ...set(row), // row = -row
    0x0b, // end if
    ...get(p), ...c32(1), add, ...set(p), // p++
  ];
  const done = (p: number, end: number) => [...get(p), ...get(end), 0x4f, 0x0d, 0x01]; // if p >= end: break
  const loop = (body: number[]) => [0x02, 0x40, 0x03, 0x40, ...body, 0x0c, 0x00, 0x0b, 0x0b]; // block loop body continue end end
  const code = [
    0x01, 0x02, 0x7f, // 2 locals of i32
    ...loop([...done(A, A_END), ...done(B, B_END), ...step(A, ROW_A, OUT_A), ...step(B, ROW_B, OUT_B)]),
    ...loop([...done(A, A_END), ...step(A, ROW_A, OUT_A)]),
    ...loop([...done(B, B_END), ...step(B, ROW_B, OUT_B)]),
    ...c32(0), ...get(OUT_B), 0x36, 0x02, ...uleb(B_END_AT), // mem[B_END_AT] = outB
    ...get(OUT_A), // return outA
    0x0b,
  ];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x07, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f]), // type: (i32 x7) -> i32
    ...section(3, [0x01, 0x00]), // one function of type 0
    ...section(5, [0x01, 0x00, 0x01]), // one memory, 1 page minimum
    ...section(7, [0x02, ...str('mem'), 0x02, 0x00, ...str('scan'), 0x00, 0x00]),
    ...section(10, [0x01, ...uleb(code.length), ...code]),
  ];
  return new Uint8Array(bytes);
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/**
 * Buffer's own latin1Write/utf8Write (string, offset): what buf.write(string, offset, encoding) ends
 * in, without its argument checks and encoding lookup, a sizeable share of writing a short message.
 * Not in Node's type declarations; buf.write when a runtime lacks them.
 */
type Writer = (buf: Buffer, s: string, at: number) => number;
const proto = Buffer.prototype as unknown as { latin1Write?: (s: string, at: number) => number; utf8Write?: (s: string, at: number) => number };
const latin1Native = proto.latin1Write;
const utf8Native = proto.utf8Write;
const writeLatin1: Writer = typeof latin1Native === 'function' ? (buf, s, at) => latin1Native.call(buf, s, at) : (buf, s, at) => buf.write(s, at, 'latin1');
const writeUtf8: Writer = typeof utf8Native === 'function' ? (buf, s, at) => utf8Native.call(buf, s, at) : (buf, s, at) => buf.write(s, at, 'utf8');

let compiled: WebAssembly.Module | undefined;
type ScanFn = (a: number, aEnd: number, b: number, bEnd: number, next: number, outA: number, outB: number) => number;

export class LiteralAutomaton {
  /** state * 256 + byte -> the next state * 1024, negative when keywords end there */
  readonly next: Int32Array;
  /** keywords ending at state s: out[outStart[s] .. outStart[s + 1]) */
  readonly outStart: Int32Array;
  readonly out: Int32Array;
  readonly states: number;
  #mem: WebAssembly.Memory;
  #scan: ScanFn;
  #i32 = new Int32Array(0);
  #buf = Buffer.alloc(0);
  /** where the scanned bytes go, and where each message of the last scanAll starts in them */
  #inAt: number;
  #starts = new Int32Array(1024);
  #outAt = 0;
  #hitLines = new Int32Array(1024);
  #hitStates = new Int32Array(1024);
  /** every keyword is ASCII: messages are written as latin1 (see scanAll) */
  #ascii: boolean;

  /** Keywords must not contain NUL (the message separator). */
  constructor(keywords: readonly string[]) {
    const kb = keywords.map((k) => {
      if (k.includes('\0')) throw new Error('alert literal contains NUL');
      if (k === '') throw new Error('empty alert literal');
      return Buffer.from(k, 'utf8');
    });
    this.#ascii = kb.every((k) => k.every((b) => b < 0x80));
    const cls = new Uint8Array(256);
    let classes = 1;
    for (const k of kb) for (const c of k) if (cls[c] === 0) cls[c] = classes++;
    // trie
    const gotoRows: Int32Array[] = [new Int32Array(classes).fill(-1)];
    const own: number[][] = [[]];
    kb.forEach((k, id) => {
      let s = 0;
      for (const byte of k) {
        const c = cls[byte]!;
        let n = gotoRows[s]![c]!;
        if (n < 0) {
          n = gotoRows.length;
          gotoRows.push(new Int32Array(classes).fill(-1));
          own.push([]);
          gotoRows[s]![c] = n;
        }
        s = n;
      }
      own[s]!.push(id);
    });
    const states = gotoRows.length;
    const next = new Int32Array(states * classes);
    const fail = new Int32Array(states);
    const outs: number[][] = own.map((o) => [...o]);
    // breadth first: a state's failure target is complete before the state
    const queue: number[] = [];
    for (let c = 0; c < classes; c++) {
      const n = gotoRows[0]![c]!;
      next[c] = n > 0 ? n : 0;
      if (n > 0) queue.push(n);
    }
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]!;
      const f = fail[s]!;
      if (outs[f]!.length > 0) outs[s] = outs[s]!.concat(outs[f]!);
      for (let c = 0; c < classes; c++) {
        const n = gotoRows[s]![c]!;
        if (n >= 0) {
          fail[n] = next[f * classes + c]!;
          next[s * classes + c] = n;
          queue.push(n);
        } else next[s * classes + c] = next[f * classes + c]!;
      }
    }
    // one row of 256 per state, entries are byte offsets of rows (negative: keywords end there)
    const table = new Int32Array(states * 256);
    for (let st = 0; st < states; st++) {
      for (let b = 0; b < 256; b++) {
        const n = next[st * classes + cls[b]!]!;
        table[st * 256 + b] = outs[n]!.length > 0 ? -n * ROW : n * ROW;
      }
    }
    const outStart = new Int32Array(states + 1);
    let total = 0;
    for (let s = 0; s < states; s++) {
      outStart[s] = total;
      total += outs[s]!.length;
    }
    outStart[states] = total;
    const out = new Int32Array(total);
    for (let s = 0; s < states; s++) out.set(outs[s]!, outStart[s]!);
    this.next = table;
    this.outStart = outStart;
    this.out = out;
    this.states = states;

    compiled ??= new WebAssembly.Module(scannerModule());
    const inst = new WebAssembly.Instance(compiled, {});
    this.#mem = inst.exports.mem as WebAssembly.Memory;
    this.#scan = inst.exports.scan as ScanFn;
    this.#inAt = NEXT_AT + table.byteLength;
    this.#ensure(this.#inAt);
    this.#i32.set(table, NEXT_AT >> 2);
  }

  #ensure(bytes: number): void {
    const have = this.#mem.buffer.byteLength;
    if (bytes > have) this.#mem.grow(Math.ceil((bytes - have) / PAGE));
    if (this.#buf.buffer !== this.#mem.buffer) {
      this.#buf = Buffer.from(this.#mem.buffer);
      this.#i32 = new Int32Array(this.#mem.buffer);
    }
  }

  /** Scans `messages`; returns the number of hits (in message order), read with hitLine/hitState. */
  scanAll(messages: readonly string[]): number {
    const inAt = this.#inAt;
    let chars = 0;
    for (let i = 0; i < messages.length; i++) chars += messages[i]!.length + 1;
    this.#ensure(inAt + chars * 3);
    if (this.#starts.length < messages.length + 1) this.#starts = new Int32Array(messages.length * 2 + 1);
    const starts = this.#starts;
    const buf = this.#buf;
    let pos = inAt;
    // ASCII keywords: a message's latin1 bytes hold a keyword wherever its UTF-8 bytes do (both are the
    // ASCII characters themselves); other characters become one byte each (their low 8 bits), which
    // can only add hits (a candidate more, tested with its pattern), never hide one. Cheaper to write.
    const write = this.#ascii ? writeLatin1 : writeUtf8;
    for (let i = 0; i < messages.length; i++) {
      starts[i] = pos;
      pos += write(buf, messages[i]!, pos);
      buf[pos++] = 0;
    }
    starts[messages.length] = pos;
    const len = pos - inAt;
    // two streams: the messages before the one starting past the middle, and the rest (a stream
    // starts after a NUL, where the automaton is in its start state anyway)
    let split = 0;
    for (let lo = 0, hi = messages.length; lo < hi; ) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! - inAt < len / 2) lo = split = mid + 1;
      else hi = mid;
    }
    const bAt = starts[Math.min(split, messages.length)]!;
    // at most one hit (8 bytes) per byte, per stream
    const outAt = (this.#outAt = (pos + 7) & ~7);
    const outB = outAt + (bAt - inAt) * 8 + 8;
    this.#ensure(outB + (pos - bAt) * 8 + 8);
    const i32 = this.#i32;
    const nA = (this.#scan(inAt, bAt, bAt, pos, NEXT_AT, outAt, outB) - outAt) >> 3;
    const nB = (i32[B_END_AT >> 2]! - outB) >> 3;
    // B's hits right after A's: one list, positions ascending
    if (nB > 0) i32.copyWithin((outAt >> 2) + nA * 2, outB >> 2, (outB >> 2) + nB * 2);
    const n = nA + nB;
    // the message of each hit: positions ascend, and so do messages
    if (this.#hitLines.length < n) {
      this.#hitLines = new Int32Array(n * 2);
      this.#hitStates = new Int32Array(n * 2);
    }
    const lines = this.#hitLines;
    const states = this.#hitStates;
    const o = outAt >> 2;
    let line = 0;
    for (let k = 0; k < n; k++) {
      const at = i32[o + k * 2]!;
      while (starts[line + 1]! <= at) line++;
      lines[k] = line;
      states[k] = -i32[o + k * 2 + 1]! >> ROW_SHIFT;
    }
    return n;
  }

  /** The message of hit k of the last scanAll. */
  hitLine(k: number): number {
    return this.#hitLines[k]!;
  }

  /** The automaton state of hit k of the last scanAll (keywords: out[outStart[s] .. outStart[s + 1])). */
  hitState(k: number): number {
    return this.#hitStates[k]!;
  }

  /** The last scanAll's hits: message and automaton state of hit k at [k] (the first scanAll() of them; valid until the next scanAll). */
  get hitLines(): Int32Array {
    return this.#hitLines;
  }

  get hitStates(): Int32Array {
    return this.#hitStates;
  }
  /** Every (message, keyword id) found, for tests and tools. */
  find(messages: readonly string[]): Array<[number, number]> {
    const found: Array<[number, number]> = [];
    const n = this.scanAll(messages);
    for (let k = 0; k < n; k++) {
      const s = this.hitState(k);
      for (let o = this.outStart[s]!; o < this.outStart[s + 1]!; o++) found.push([this.hitLine(k), this.out[o]!]);
    }
    return found;
  }
}
