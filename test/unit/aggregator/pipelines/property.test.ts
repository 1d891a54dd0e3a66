import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseTimestamp, parseZone, TIMESTAMP_FORMATS } from '../../../../aggregator/pipelines/timestamp.js';
import { compilePattern, PatternError } from '../../../../aggregator/pipelines/pattern.js';
import { Pipeline } from '../../../../aggregator/pipelines/index.js';
import { PRESETS, type StepConfig } from '../../../../aggregator/pipelines/types.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';

const rec = (message: string): StoredRecord => ({ offset: 0, timestamp: '2026-12-01T18:00:00.000Z', host: 'h', source: '/f', source_offset: 0, message });

// text that looks like log lines: the characters the parsers care about, plus anything
const logish = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.stringMatching(/^[0-9 :/.+\-TZ<>[\]"a-zA-Z\\x#*,=]{0,200}$/),
  fc.constantFrom('01/Dec/2026:18:14:55 +0000', '2026-12-01T18:14:55.123Z', 'Dec  1 18:14:55', '<34>1 2026-12-01T18:14:55Z h a 1 - - m').chain((s) => fc.nat(s.length).map((n) => s.slice(0, n) + s.slice(n + 1))),
);

describe('property: parsers never throw or hang', () => {
  it('timestamp: every format, any text, any zone: a finite time or undefined', () => {
    const zones = ['UTC', '+05:30', '-0800', 'Europe/Paris', 'America/New_York'].map((z) => parseZone(z)!);
    fc.assert(
      fc.property(logish, fc.constantFrom(...TIMESTAMP_FORMATS), fc.constantFrom(...zones), fc.integer({ min: -8.64e15, max: 8.64e15 }), (text, format, zone, ref) => {
        const v = parseTimestamp(text, format, zone, ref);
        expect(v === undefined || Number.isFinite(v)).toBe(true);
        if (v !== undefined) expect(Number.isNaN(new Date(v).getTime())).toBe(false);
      }),
      { numRuns: 10_000 },
    );
  });

  it('pattern compiler: any pattern text compiles or is refused with a PatternError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.stringMatching(/^(?:%\{[A-Z_0-9]{1,12}(?::[a-z.]{1,8})?(?::int)?\}|[()|*+?.\\ \[\]^$a-z]){0,12}$/)), (p) => {
        try {
          compilePattern(p);
        } catch (err) {
          expect(err).toBeInstanceOf(PatternError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('every preset and a json/kv pipeline on arbitrary lines: a document, never an exception', () => {
    const pipelines = [
      ...PRESETS.map((preset) => new Pipeline(preset, { topics: [], steps: [{ type: 'pattern', field: 'message', preset, definitions: {} }] })),
      new Pipeline('mix', {
        topics: [],
        steps: [
          { type: 'json', field: 'message', target: '', levels: true },
          { type: 'kv', field: 'message', target: 'kv', separator: '=', delimiter: ' ' },
          { type: 'timestamp', field: 'message', formats: [...TIMESTAMP_FORMATS], timezone: 'UTC', target: '@timestamp', remove: false },
        ] as StepConfig[],
      }),
    ];
    fc.assert(
      fc.property(logish, (line) => {
        for (const p of pipelines) {
          const r = p.run(rec(line));
          expect(typeof r.doc).toBe('object');
          if (r.failed.length > 0) expect(r.doc.tags).toContain('_parse_failure');
        }
      }),
      { numRuns: 800 },
    );
  });

  it('presets stay linear on hostile lines (time ratio of a 64x longer line, one run)', () => {
    const p = PRESETS.map((preset) => new Pipeline(preset, { topics: [], steps: [{ type: 'pattern', field: 'message', preset, definitions: {} }] }));
    const hostile = (n: number) => [
      '1.2.3.4 - - [01/Dec/2026:18:14:55 +0000] "GET /' + 'a'.repeat(n) + ' HTTP/1.1" 200',
      '1.2.3.4 - - [01/Dec/2026:18:14:55 +0000] "GET / HTTP/1.1" 200 1 "' + '\\"'.repeat(n / 2) + '" "x',
      '<1>1 - - - - - [' + '][\\]'.repeat(n / 4),
      'Dec  1 18:14:55 ' + 'h'.repeat(n) + ' x',
      'Traceback (most recent call last):\n' + '  x\n'.repeat(n / 4),
      'a=' + '"'.repeat(n),
      ' '.repeat(n) + 'x',
    ];
    const time = (n: number) => {
      const lines = hostile(n);
      const start = process.hrtime.bigint();
      for (let k = 0; k < 3; k++) for (const pl of p) for (const l of lines) pl.run(rec(l));
      return Number(process.hrtime.bigint() - start);
    };
    time(2048);
    const short = Math.max(time(2048), 1);
    const long = time(131072);
    expect(long / short).toBeLessThan(1024); // linear: about 64, quadratic: about 4096
  });
});
