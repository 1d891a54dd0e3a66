/**
 * Log-match patterns: logship check refuses what V8's linear-time engine
 * cannot run; a pattern that backtracks catastrophically on the backtracking
 * engine still answers at once on a hostile line (the switch to the linear
 * engine is on); the joined-batch scan finds exactly the messages that match
 * on their own.
 */
import { describe, expect, it } from 'vitest';
import { HitLists, LinePattern, PatternSet, patternProblem } from '../../../../aggregator/alerts/pattern.js';
import { allRequiredRuns, requiredLiterals } from '../../../../aggregator/alerts/literals.js';

function scan(p: LinePattern, messages: string[]): number[] {
  const starts: number[] = [];
  let pos = 0;
  for (const m of messages) {
    starts.push(pos);
    pos += m.length + 1;
  }
  return p.matching(messages, messages.join('\n'), starts);
}

describe('log-match patterns', () => {
  it('refuses backreferences and lookaround (lib/regex-safety.ts policy, use select); accepts the usual patterns', () => {
    for (const bad of ['(a)\\1', '(?=x)y', '(?!x)y', '(?<=x)y', '(?<!x)y', '(?=a)(a+)+$']) expect(patternProblem(bad), bad).toMatch(/backtracking engine/);
    expect(patternProblem('(')).toMatch(/invalid regular expression/);
    for (const ok of ['ERROR|FATAL', '^\\d{4}-\\d\\d-\\d\\d .*timeout', 'status=5\\d\\d', '(a+)+$', '\\bOOM\\b', '[Ee]rror: (disk|io) .*failed$', 'ERROR.*timeout']) expect(patternProblem(ok), ok).toBeUndefined();
    // lib/regex-safety.ts policy: statically linear on the backtracking engine is enough, even where V8's linear engine cannot unroll the count
    for (const ok of ['\\d{1,20}', 'a{1,100000}', 'took \\d{1,9}ms']) expect(patternProblem(ok), ok).toBeUndefined();
  });

  it('a catastrophic pattern on a hostile line answers (the linear engine takes over)', () => {
    // On the backtracking engine alone this takes longer than the universe is old; the test's timeout would fail it.
    const p = new LinePattern('(x+x+)+y');
    const hostile = 'x'.repeat(50_000);
    expect(p.test(hostile)).toBe(false);
    expect(scan(p, [hostile, 'xxy', hostile])).toEqual([1]);
    expect(new LinePattern('(a|aa)+$').test('a'.repeat(40) + 'b')).toBe(false);
  }, 60_000);

  it('the joined scan finds exactly the messages that match on their own', () => {
    const messages = ['INFO ok', 'ERROR disk', '', 'x ERROR', 'multi\nERROR line', 'FATAL', 'error lower', 'ERRORFATAL'];
    for (const src of ['ERROR|FATAL', '^ERROR', 'ERROR$', '^$', 'R\\s+[a-z]', 'x*', '\\bFATAL\\b', 'ERROR[^F]*FATAL', '.']) {
      const p = new LinePattern(src);
      const expected = messages.map((m, i) => (new RegExp(src).test(m) ? i : -1)).filter((i) => i >= 0);
      expect(scan(p, messages), src).toEqual(expected);
    }
  });

  it('random messages: the scan agrees with testing each message', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = 'aEROF \nx1';
    const messages = Array.from({ length: 2000 }, () => Array.from({ length: Math.floor(rnd() * 12) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(''));
    for (const src of ['ERR', 'E.R', '^a', 'a$', 'x\\s*1', 'O+F', '(a|x)1', '[^a]{3}']) {
      const p = new LinePattern(src);
      const expected = messages.map((m, i) => (new RegExp(src).test(m) ? i : -1)).filter((i) => i >= 0);
      expect(scan(p, messages), src).toEqual(expected);
    }
  });

  it('required literals: only what every match must contain', () => {
    expect(requiredLiterals('ERROR|FATAL')).toEqual(['ERROR', 'FATAL']);
    expect(requiredLiterals('"DELETE /api/v1/items/\\d+')).toEqual(['"DELETE /api/v1/items/']);
    expect(requiredLiterals('timeouts? after \\d+ms')).toEqual(['timeout']);
    expect(requiredLiterals('ab+cdef')).toEqual(['cdef']);
    expect(requiredLiterals('abcd?ef')).toEqual(['abc']);
    expect(requiredLiterals('x{2}yyyz')).toEqual(['yyyz']);
    expect(requiredLiterals('(ERROR|WARN) disk')).toEqual([' disk']);
    expect(requiredLiterals('\\.conf\\b')).toEqual(['.conf']);
    expect(requiredLiterals('ERROR|x')).toBeUndefined(); // one alternative has no literal of 3
    expect(requiredLiterals('[a-z]+\\d')).toBeUndefined();
    expect(requiredLiterals('a|(b|cde)')).toBeUndefined();
    // a group every match passes through lends its alternatives' literals
    expect(requiredLiterals('(ERROR|FATAL)')).toEqual(['ERROR', 'FATAL']);
    expect(requiredLiterals('^\\S+ (?:OOM|panic):')).toEqual(['OOM', 'panic']);
    expect(requiredLiterals('(?<lvl>ERROR|FATAL) x')).toEqual(['ERROR', 'FATAL']);
    expect(requiredLiterals('((ERROR|FATAL)){2}')).toEqual(['ERROR', 'FATAL']);
    expect(requiredLiterals('(ERROR|FATAL)?x')).toBeUndefined();
    expect(requiredLiterals('(ERROR|FATAL)*')).toBeUndefined();
    expect(requiredLiterals('(ERROR|FATAL){0,2}')).toBeUndefined();
    expect(requiredLiterals('(a|bcd)')).toBeUndefined();
    expect(allRequiredRuns('"[A-Z]+ /api/v1/items/\\d+[^"]*" 404 ')).toEqual([' /api/v1/items/', '" 404 ']);
    expect(allRequiredRuns('ab?cde+fgh')).toEqual(['cde', 'fgh']);
    expect(allRequiredRuns('ERROR|FATAL')).toEqual([]);
  });

  it('a pattern set (shared literal prefilter) finds exactly what each pattern finds alone', () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    // \u0145RR: its latin1 byte spells ERR (the scan writes messages as latin1 when every literal is ASCII)
    const words = ['ERROR', 'ERR', 'FATAL', 'disk', 'timeout', 'after', '500', '5', 'GET', '/api/v1', ' ', ' ', '\n', 'x', '\u0145RR', 'é'];
    const messages = Array.from({ length: 3000 }, () => Array.from({ length: Math.floor(rnd() * 8) }, () => words[Math.floor(rnd() * words.length)]).join(''));
    const sources = ['ERROR|FATAL', 'ERR', 'ERROR', 'ERRORERROR', 'timeout ?after', '(GET|POST) /api', '^GET', 'disk$', '50+ ', '[A-Z]{5}', 'x+ERR', 'ERR(OR)?FATAL', 'FATAL|disk', 'GET.*500 .*disk', 'ERR[^F]*FATAL x', 'after5?00? x', '(ERROR|FATAL)', '^(?:GET|disk) ?x', '(ERR|FATAL)?x', '(?<w>timeout|disk)+5', '(ERR(OR|FATAL))'];
    const set = new PatternSet(sources.map((s) => new LinePattern(s)));
    const starts: number[] = [];
    let pos = 0;
    for (const m of messages) {
      starts.push(pos);
      pos += m.length + 1;
    }
    const got = set.matchAll(messages, messages.join('\n'), starts);
    sources.forEach((src, k) => {
      const expected = messages.map((m, i) => (new RegExp(src).test(m) ? i : -1)).filter((i) => i >= 0);
      expect(got[k], src).toEqual(expected);
    });
  });

  it('a run found in most lines is left out of the scan after sampling, and the answers stay exact', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const agents = ['curl/8.0', 'Googlebot/2.1', 'Mozilla/5.0', 'sqlmap/1.7'];
    const line = () => {
      const status = [200, 200, 200, 404, 500, 503][Math.floor(rnd() * 6)];
      const path = ['/login', '/api/v1/items/7', '/health'][Math.floor(rnd() * 3)];
      // most lines hold '" "' and ':00:'; a few lines lack them
      const sep = rnd() < 0.95 ? '" "' : '"|"';
      return `10.0.0.${Math.floor(rnd() * 9)} [02/Dec/2026:0${rnd() < 0.9 ? 0 : 1}:12:13] "GET ${path}" ${status} 12 "-${sep}${agents[Math.floor(rnd() * agents.length)]}"`;
    };
    const sources = ['" 5\\d\\d \\d+ "[^"]*" "[^"]*Googlebot', '" 5\\d\\d \\d+ "[^"]*" "[^"]*curl', ':00:\\d\\d:\\d\\d\\] "GET /login', '/health" 404 ', 'Googlebot|sqlmap', ':01:\\d\\d'];
    const set = new PatternSet(sources.map((s) => new LinePattern(s)));
    expect(set.leftOut).toBe(0);
    let total = 0;
    for (let d = 0; d < 80; d++) {
      const messages = Array.from({ length: 700 }, line);
      const got = set.matchAll(messages, '', []);
      sources.forEach((src, k) => {
        const expected = messages.map((m, i) => (new RegExp(src).test(m) ? i : -1)).filter((i) => i >= 0);
        expect(got[k], `${src} delivery ${d}`).toEqual(expected);
        total += expected.length;
      });
    }
    // '" "' of both agent patterns and ':00:' of the login pattern; '" 5' and ':01:' are rare and stay
    expect(set.leftOut).toBe(3);
    expect(total).toBeGreaterThan(1000);
  });
  it('one HitLists refilled delivery after delivery (growing, then smaller) holds exactly each delivery\'s matches', () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const words = ['ERROR', 'disk', 'timeout', 'GET', '500', ' ', 'x', '7'];
    // literal-anchored patterns and two without a usable literal (the joined-text path)
    const sources = ['ERROR', 'disk.*timeout', 'GET|500', '[0-9]+x', 'x?', 'ERROR disk'];
    const set = new PatternSet(sources.map((s) => new LinePattern(s)));
    expect(set.plain.length).toBe(2);
    const into = new HitLists(sources.length);
    // sizes: past the arrays' first capacity, much larger, then small again (stale tails must not show)
    for (const size of [10, 200, 3000, 5, 0, 1500, 40]) {
      const messages = Array.from({ length: size }, () => Array.from({ length: Math.floor(rnd() * 6) }, () => words[Math.floor(rnd() * words.length)]).join(''));
      const starts: number[] = [];
      let pos = 0;
      for (const m of messages) {
        starts.push(pos);
        pos += m.length + 1;
      }
      const got = set.matchInto(messages, messages.join('\n'), starts, into);
      expect(got).toBe(into);
      sources.forEach((src, k) => {
        const expected = messages.map((m, i) => (new RegExp(src).test(m) ? i : -1)).filter((i) => i >= 0);
        expect(Array.from(into.lines[k]!.subarray(0, into.count[k]!)), `${src} size ${size}`).toEqual(expected);
      });
    }
    expect(into.lines[4]!.length).toBeGreaterThanOrEqual(3000);
  });
});
