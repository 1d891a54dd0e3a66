/**
 * logship's one regex policy (lib/regex-safety.ts regexProblem): statically linear patterns are
 * accepted for every use; patterns that only select lines (alert match) are also accepted when
 * V8's linear-time engine can run them, and then a search that backtracks too much finishes on
 * that engine (the module turns the switch on); patterns that extract fields (pipelines) must be
 * statically linear; backreferences and lookaround are refused for both.
 */
import { describe, expect, it } from 'vitest';
import { linearEngineProblem, regexProblem, regexSafetyProblem } from '../../../lib/regex-safety.js';

describe('regex policy', () => {
  it('one decision per use', () => {
    const cases: Array<[string, boolean, boolean]> = [
      // pattern, accepted to select, accepted to extract
      ['ERROR|FATAL', true, true],
      ['^(?<ip>\\S+) - (?<user>[^ ]+)', true, true],
      ['\\d{1,20}', true, true], // statically linear; V8's linear engine cannot unroll it
      ['ERROR.*timeout', true, false], // rescans from every ERROR on the backtracking engine
      ['(a+)+$', true, false],
      ['(a)\\1', false, false],
      ['(?=x)y', false, false],
      ['(?<!x)y', false, false],
    ];
    for (const [src, select, extract] of cases) {
      expect(regexProblem(src, 'select') === undefined, `${src} select`).toBe(select);
      expect(regexProblem(src, 'extract') === undefined, `${src} extract`).toBe(extract);
      // extract is exactly the static check the pipelines use
      expect(regexProblem(src, 'extract')).toBe(regexSafetyProblem(src));
    }
    expect(linearEngineProblem('\\d{1,20}')).toMatch(/linear-time engine cannot run it/);
    expect(regexProblem('(', 'select')).toMatch(/not a valid regular expression/);
    expect(regexProblem('(?=a)(a+)+$', 'select')).toMatch(/lookaround.*linear-time engine cannot run it/);
  });

  it('a pattern accepted only to select finishes on a hostile line (the switch to the linear engine is on)', () => {
    const src = '(x+x+)+y';
    expect(regexProblem(src, 'select')).toBeUndefined();
    // exponential on the backtracking engine alone: the test's timeout would fail it
    expect(new RegExp(src).test('x'.repeat(5000))).toBe(false);
  });
});
