import { describe, expect, it } from 'vitest';
import { Pipeline, routedTo } from '../../../../aggregator/pipelines/index.js';
import { compileCondition } from '../../../../aggregator/pipelines/condition.js';
import { parseTimestamp, parseZone } from '../../../../aggregator/pipelines/timestamp.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import type { StepConfig } from '../../../../aggregator/pipelines/types.js';
import { newDoc, setPath } from '../../../../aggregator/pipelines/fields.js';

const rec = (message: string, source_offset = 0): StoredRecord => ({ offset: 0, timestamp: '2026-12-01T18:00:00.000Z', host: 'h', source: '/f', source_offset, message });
const run = (steps: StepConfig[], line: string) => new Pipeline('p', { topics: [], steps }).run(rec(line));

describe('steps', () => {
  it('json: pino, bunyan, logrus and zap lines get log.level, message and @timestamp', () => {
    const json = (l: string) => run([{ type: 'json', field: 'message', target: '', levels: true }], l).doc;
    expect(json('{"level":50,"time":1764612895123,"msg":"boom","pid":7}')).toMatchObject({ log: { level: 'error' }, message: 'boom', '@timestamp': '2025-12-01T18:14:55.123Z', pid: 7 });
    expect(json('{"level":"warning","time":"2026-12-01T18:14:55+01:00","msg":"x"}')).toMatchObject({ log: { level: 'warn' }, '@timestamp': '2026-12-01T17:14:55.000Z' });
    expect(json('{"level":"info","ts":1764612895.5,"msg":"zap"}')).toMatchObject({ log: { level: 'info' }, '@timestamp': '2025-12-01T18:14:55.500Z' });
    const proto = json('{"__proto__":{"polluted":1},"a":{"b":2}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(proto.a).toEqual(Object.assign(Object.create(null), { b: 2 }));
    const bad = run([{ type: 'json', field: 'message', target: 'j', levels: true }], 'not json');
    expect(bad.doc.tags).toEqual(['_parse_failure']);
    expect(bad.doc.message).toBe('not json');
  });

  it('regex: named groups, a__b is field a.b', () => {
    const r = run([{ type: 'regex', field: 'message', pattern: '^user=(?<user__name>\\w+) took=(?<took>\\d+)' }], 'user=bob took=12ms');
    expect(r.doc).toMatchObject({ user: { name: 'bob' }, took: '12' });
    expect(() => run([{ type: 'regex', field: 'message', pattern: '(?<x>(a|a)*)$' }], 'a')).toThrow(/alternatives inside a repetition/);
  });

  it('timestamp formats, zones and the syslog year rule', () => {
    const utc = parseZone('UTC')!;
    expect(parseTimestamp('01/Dec/2026:18:14:55 -0530', 'nginx', utc, 0)).toBe(Date.parse('2026-12-01T23:44:55Z'));
    expect(parseTimestamp('2026-12-01T18:14:55.5Z', 'rfc3339', utc, 0)).toBe(Date.parse('2026-12-01T18:14:55.500Z'));
    expect(parseTimestamp('2026-12-01 18:14:55,123', 'rfc3339', parseZone('+02:00')!, 0)).toBe(Date.parse('2026-12-01T16:14:55.123Z'));
    expect(parseTimestamp('2026-07-01 12:00:00', 'rfc3339', parseZone('Europe/Paris')!, 0)).toBe(Date.parse('2026-07-01T10:00:00Z'));
    expect(parseTimestamp('2026-01-01 12:00:00', 'rfc3339', parseZone('Europe/Paris')!, 0)).toBe(Date.parse('2026-01-01T11:00:00Z'));
    expect(parseTimestamp('1764612895', 'epoch_s', utc, 0)).toBe(1764612895000);
    expect(parseTimestamp('1764612895123', 'epoch_ms', utc, 0)).toBe(1764612895123);
    expect(parseTimestamp('2026/12/01 18:14:55', 'nginx_error', utc, 0)).toBe(Date.parse('2026-12-01T18:14:55Z'));
    // year rule: the read time's year, unless that is more than 7 days ahead of the read time
    expect(parseTimestamp('Dec 31 23:59:59', 'syslog', utc, Date.parse('2027-01-01T00:00:05Z'))).toBe(Date.parse('2026-12-31T23:59:59Z'));
    expect(parseTimestamp('Jan  1 00:00:01', 'syslog', utc, Date.parse('2026-12-31T23:59:59Z'))).toBe(Date.parse('2026-01-01T00:00:01Z'));
    expect(parseTimestamp('Dec  3 10:00:00', 'syslog', utc, Date.parse('2026-12-01T00:00:00Z'))).toBe(Date.parse('2026-12-03T10:00:00Z'));
    for (const bad of ['31/Feb/2026:00:00:00 +0000', '01/Foo/2026:00:00:00 +0000', '2026-13-01T00:00:00Z', '', 'x'.repeat(100)]) {
      expect(parseTimestamp(bad, 'nginx', utc, 0)).toBeUndefined();
      expect(parseTimestamp(bad, 'rfc3339', utc, 0)).toBeUndefined();
    }
    const r = run([{ type: 'timestamp', field: 'when', formats: ['rfc3339'], timezone: 'UTC', target: '@timestamp', remove: true }, { type: 'set', field: 'when', value: 'x', override: true }], 'line');
    expect(r.doc['@timestamp']).toBe('2026-12-01T18:00:00.000Z'); // absent field: skipped, the read time stays
    expect(r.failed).toEqual([]);
  });

  it('set (with templates), rename, copy, remove', () => {
    const r = run(
      [
        { type: 'set', field: 'a.b', value: 'x-{{host.name}}-{{nope}}', override: true },
        { type: 'set', field: 'a.b', value: 'not this', override: false },
        { type: 'copy', fields: { 'a.b': 'c' } },
        { type: 'rename', fields: { 'a.b': 'd.e' } },
        { type: 'remove', fields: ['log'] },
      ],
      'm',
    );
    expect(JSON.parse(JSON.stringify(r.doc))).toEqual({ '@timestamp': '2026-12-01T18:00:00.000Z', message: 'm', host: { name: 'h' }, c: 'x-h-', d: { e: 'x-h-' } });
  });

  it('drop with a condition, deterministic sample, route', () => {
    const p = new Pipeline('p', {
      topics: [],
      steps: [
        { type: 'drop', if: 'message contains "healthz"' },
        { type: 'route', if: 'message matches "^ERROR"', sinks: ['pager'] },
        { type: 'sample', rate: 4 },
      ],
    });
    expect(p.run(rec('GET /healthz')).dropped).toBe(true);
    let kept = 0;
    for (let i = 0; i < 4000; i++) {
      const a = p.run(rec(`line ${i}`, i * 10));
      const b = p.run(rec(`line ${i}`, i * 10));
      expect(a.dropped).toBe(b.dropped);
      if (!a.dropped) kept++;
    }
    expect(kept).toBeGreaterThan(700);
    expect(kept).toBeLessThan(1300);
    const routed = new Pipeline('p', { topics: [], steps: [{ type: 'route', if: 'message matches "^ERROR"', sinks: ['pager'] }] });
    expect(routed.run(rec('ERROR x')).routes).toEqual(['pager']);
    expect(routed.run(rec('INFO x')).routes).toBeUndefined();
    // who sees it: an unrouted record every sink, a routed one the named sinks (an alert rule: any of its sinks)
    expect(routedTo(routed.run(rec('INFO x')).routes, ['es'])).toBe(true);
    expect(routedTo(routed.run(rec('ERROR x')).routes, ['es'])).toBe(false);
    expect(routedTo(routed.run(rec('ERROR x')).routes, ['am', 'pager'])).toBe(true);
    expect(routedTo([], ['es'])).toBe(false);
  });

  it('conditions: comparisons, numbers in strings, contains, in, not, parentheses', () => {
    const d = newDoc();
    setPath(d, ['http', 'response', 'status_code'], 503);
    setPath(d, ['log', 'level'], 'error');
    setPath(d, ['tags'], ['a', 'b']);
    setPath(d, ['n'], '42');
    const c = (s: string) => compileCondition(s)(d);
    expect(c('http.response.status_code >= 500 and log.level == "error"')).toBe(true);
    expect(c('http.response.status_code in [500, 503]')).toBe(true);
    expect(c("not (log.level == 'error' or false)")).toBe(false);
    expect(c('tags contains "b" and n > 41 and n == 42')).toBe(true);
    expect(c('missing')).toBe(false);
    expect(c('log.level')).toBe(true);
    expect(c('log.level < "f"')).toBe(true);
    expect(() => compileCondition('a ==')).toThrow(/expected a field, a value or "\(", got the end/);
    expect(() => compileCondition('a matches "(a+)+$"')).toThrow(/regex refused/);
    expect(() => compileCondition('('.repeat(100) + 'a' + ')'.repeat(100))).toThrow(/nested more than/);
  });
});
