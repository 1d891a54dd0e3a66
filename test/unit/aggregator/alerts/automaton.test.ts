/**
 * The literal automaton (Aho-Corasick over the UTF-8 bytes of a whole
 * delivery, scanned by a hand-assembled WebAssembly loop) reports exactly the
 * (message, literal) pairs a plain substring search finds: overlapping
 * literals, literals that are suffixes or prefixes of others, non-ASCII text,
 * NUL bytes inside messages, empty messages, and deliveries larger than the
 * scanner's memory so far; with ASCII literals (messages written as
 * latin1), every occurrence and extra hits only where a non-ASCII character's
 * low byte spells a literal.
 */
import { describe, expect, it } from 'vitest';
import { LiteralAutomaton } from '../../../../aggregator/alerts/automaton.js';

function expected(keywords: string[], messages: string[]): string[] {
  const out: string[] = [];
  messages.forEach((m, line) => {
    keywords.forEach((k, id) => {
      for (let at = m.indexOf(k); at >= 0; at = m.indexOf(k, at + 1)) out.push(`${line}:${id}`);
    });
  });
  return out.sort();
}

function found(a: LiteralAutomaton, messages: string[]): string[] {
  return a
    .find(messages)
    .map(([l, k]) => `${l}:${k}`)
    .sort();
}

describe('literal automaton', () => {
  it('finds every occurrence of every literal, per message', () => {
    const kws = ['he', 'she', 'his', 'hers', 'ERROR', 'RRO', '" 5', 'é/ü', '日本'];
    const a = new LiteralAutomaton(kws);
    const msgs = ['ushers', 'ERRORERROR', 'x" 500 " 5', '', 'café/über 日本語', 'he\0she', 'h', 'e', 'sh\0e'];
    expect(found(a, msgs)).toEqual(expected(kws, msgs));
  });

  it('agrees with substring search on random text, across growing deliveries', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const alphabet = ['a', 'b', 'c', 'ab', ' ', '"', 'é', '\0', '\n', 'ERR', '5'];
    const word = (max: number) => Array.from({ length: 1 + rnd(max) }, () => alphabet[rnd(alphabet.length)]).join('').replace(/\0/g, '');
    const kws = [...new Set(Array.from({ length: 40 }, () => word(4)))].filter((k) => k !== '');
    const a = new LiteralAutomaton(kws);
    for (const size of [1, 10, 2_000, 20_000]) {
      const msgs = Array.from({ length: size }, () => Array.from({ length: rnd(12) }, () => alphabet[rnd(alphabet.length)]).join(''));
      expect(found(a, msgs), `delivery of ${size}`).toEqual(expected(kws, msgs));
    }
  });

  it('ASCII literals over non-ASCII text (written as latin1): every occurrence found, extra hits only where a character\'s low byte looks like a literal', () => {
    const kws = ['ABC', '@x', 'ERR', '" 5'];
    const a = new LiteralAutomaton(kws);
    // U+0141 (low byte 0x41 "A"), U+0140 (0x40 "@"), U+0100 (0x00, the separator), U+0122 (0x22 '"'), é, 日本
    const msgs = ['ABC', '\u0141BC', 'x\u0140x @x', 'ER\u0100R ERR', '\u0122 5 " 5', 'éABCé', '日本 ERR 日本', 'AB\u0100C'];
    const got = found(a, msgs);
    const want = expected(kws, msgs);
    const extra = [...got];
    for (const w of want) {
      expect(extra, w).toContain(w);
      extra.splice(extra.indexOf(w), 1);
    }
    // the extra ones: \u0141BC (ABC), \u0140x (@x), \u0122 5 (" 5); none where a separator byte cut a literal
    expect(extra.sort()).toEqual(['1:0', '2:1', '4:3']);
    expect(found(a, ['ABC', 'x @x', 'ERR " 5'])).toEqual(expected(kws, ['ABC', 'x @x', 'ERR " 5']));
  });

  it('ASCII literals over large deliveries (written as latin1, long and empty messages): every message\'s hits, none across messages', () => {
    let seed = 11;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const alphabet = ['a', 'b', 'c', 'ab', ' ', '"', '\0', '5', 'ERR', 'OR'];
    const kws = ['abc', 'ERROR', 'RRO', '" 5', 'ba', 'cab', 'b a'];
    const a = new LiteralAutomaton(kws);
    for (const [size, long] of [
      [3, 0],
      [5_000, 0],
      [20_000, 3],
      [40, 40],
    ] as const) {
      // some messages longer than a chunk, some empty; literals that would span two messages must not be found
      const msgs = Array.from({ length: size }, (_, i) =>
        i < long ? Array.from({ length: 9_000 + rnd(40_000) }, () => alphabet[rnd(alphabet.length)]).join('') : Array.from({ length: rnd(14) }, () => alphabet[rnd(alphabet.length)]).join(''),
      );
      expect(found(a, msgs), `delivery of ${size}`).toEqual(expected(kws, msgs));
    }
    // every message ends with ERR or b and starts with OR or a: ERROR, RRO or "b a" across any two of
    // them (inside a chunk or between chunks, whatever byte separated them) would be wrong
    for (const edges of [Array.from({ length: 8_000 }, (_, i) => `OR${'xy'.repeat(i % 23)}ERR`), Array.from({ length: 8_000 }, (_, i) => `a${'xy'.repeat(i % 23)}b`)]) {
      expect(found(a, edges)).toEqual(expected(kws, edges));
    }
  });

  it('refuses a literal holding NUL (the message separator)', () => {
    expect(() => new LiteralAutomaton(['a\0b'])).toThrow(/NUL/);
    expect(() => new LiteralAutomaton([''])).toThrow(/empty/);
  });
});
