import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { regexSafetyProblem } from '../../../lib/regex-safety.js';

describe('regex safety', () => {
  it('refuses the classic catastrophic shapes and says why', () => {
    const refused: Array<[string, RegExp]> = [
      ['(a+)+$', /nested quantifiers/],
      ['^(\\w*\\s?)*$', /nested quantifiers/],
      ['^(a|ab)*c', /alternatives inside a repetition/],
      ['^(a?)*$', /can match nothing/],
      ['^.*x.*y$', /follows an ambiguous one/],
      ['^\\d+\\d+x', /follows an ambiguous one/],
      ['ERROR.*timeout', /unanchored pattern/],
      ['(a)\\1', /backreferences/],
      ['a(?=b)', /lookaround/],
    ];
    for (const [re, why] of refused) expect(regexSafetyProblem(re), re).toMatch(why);
  });

  it('accepts the usual delimiter-bounded shapes', () => {
    for (const re of ['ERROR|FATAL', '^(?<a>[^ ]+) (?<b>[^ ]+)$', '^"(?:[^"\\\\]|\\\\.)*" \\d+', '^\\d+\\.\\d+$', 'user=\\w+', 'x\\d+y', '^(?:\\d{1,3}\\.){3}\\d{1,3}$', '^[\\s\\S]*$']) {
      expect(regexSafetyProblem(re), re).toBeUndefined();
    }
  });

  it('never throws on arbitrary input, and answers quickly', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom('', 'i', 's', 'm'), (src, flags) => {
        const r = regexSafetyProblem(src, flags);
        expect(r === undefined || typeof r === 'string').toBe(true);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[()|*+?.\\a-c[\]^$-]{0,60}$/), (src) => {
        const r = regexSafetyProblem(src);
        expect(r === undefined || typeof r === 'string').toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('what it accepts stays linear: time on a 64x longer hostile line grows far less than 64x64 (ratio in one run)', () => {
    // random patterns over a small alphabet; those accepted are timed on lines built to make backtracking engines suffer
    const accepted: RegExp[] = [];
    fc.assert(
      fc.property(fc.stringMatching(/^\^?(?:[ab.]|\[\^?[ab]\]|\\d)[*+?]?(?:[ab.x]|\[\^?[ab]\])[*+?]?(?:[ab.x]|\[\^?[ab]\])?[*+]?(?:[ab.x]|\[\^?[ab]\])[*+?]?x?\$?$/), (src) => {
        if (regexSafetyProblem(src) === undefined) accepted.push(new RegExp(src));
      }),
      { numRuns: 400 },
    );
    expect(accepted.length).toBeGreaterThan(20);
    const lines = (n: number) => ['a'.repeat(n), 'ab'.repeat(n / 2), 'a'.repeat(n) + 'c', '1'.repeat(n) + 'c'];
    const time = (n: number) => {
      const start = process.hrtime.bigint();
      for (let k = 0; k < 3; k++) for (const re of accepted) for (const l of lines(n)) re.exec(l);
      return Number(process.hrtime.bigint() - start);
    };
    time(1024); // warm-up
    const short = Math.max(time(1024), 1);
    const long = time(65536);
    // linear: about 64; quadratic: about 4096
    expect(long / short).toBeLessThan(1024);
  });
});
