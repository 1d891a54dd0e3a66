import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HostMetricsInput, renderPrometheus, type Metric } from '../../../../../agent/inputs/host-metrics/index.js';
import { parsePromText } from '../../../../helpers/prom-text.js';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

/**
 * `promtool check metrics` (Debian package `prometheus`) reads an exposition on
 * stdin: exit 1 = the text does not parse; exit 3 = lint findings, one a line.
 */
function promtool(text: string): { status: number; out: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`promtool not found (looked for "${PROMTOOL}" on PATH). Install the test dependencies: run deploy/test-deps.sh (apt-get install -y prometheus) or set PROMTOOL=/path/to/promtool`);
  }
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

/** node_exporter's meminfo names are CamelCase by design; promtool's style lint flags them (it flags node_exporter too). */
const ACCEPTED_LINT = /^node_memory_\w+ metric names should be written in 'snake_case' not 'camelCase'$/;

describe('renderPrometheus', () => {
  it('groups families, one HELP/TYPE each before the samples, escapes label values and help', () => {
    const metrics: Metric[] = [
      { name: 'a_total', labels: { x: '1' }, value: 1, help: 'A\\B\nC', type: 'counter' },
      { name: 'b', labels: {}, value: 2.5, type: 'gauge' },
      { name: 'a_total', labels: { x: 'q"uo\\te\nnl' }, value: 3, type: 'counter' },
      { name: 'c', labels: { m: '/mnt/my disk' }, value: NaN },
      { name: 'd', labels: {}, value: Infinity, help: 'inf' },
      { name: 'd2', labels: {}, value: -Infinity, help: 'minus inf' },
      { name: 'e', labels: { a: '1', b: '2' }, value: 1e21, help: 'big' },
      { name: 'e', labels: { b: '2', a: '1' }, value: 7, help: 'dup, dropped' },
    ];
    expect(renderPrometheus(metrics)).toBe(
      [
        '# HELP a_total A\\\\B\\nC',
        '# TYPE a_total counter',
        'a_total{x="1"} 1',
        'a_total{x="q\\"uo\\\\te\\nnl"} 3',
        '# TYPE b gauge',
        'b 2.5',
        '# TYPE c untyped',
        'c{m="/mnt/my disk"} NaN',
        '# HELP d inf',
        '# TYPE d untyped',
        'd +Inf',
        '# HELP d2 minus inf',
        '# TYPE d2 untyped',
        'd2 -Inf',
        '# HELP e big',
        '# TYPE e untyped',
        'e{a="1",b="2"} 1e+21',
        '',
      ].join('\n'),
    );
    const parsed = parsePromText(renderPrometheus(metrics));
    expect(parsed.find((f) => f.name === 'a_total')!.samples[1]!.labels.x).toBe('q"uo\\te\nnl');
    expect(parsed.find((f) => f.name === 'a_total')!.help).toBe('A\\B\nC');
    expect(renderPrometheus([])).toBe('');
  });

  it('a real scrape of this host parses with our strict parser and passes `promtool check metrics`', async () => {
    const input = new HostMetricsInput({ name: 'h', topic: 't', interval: 1000, procRoot: '/proc', sysRoot: '/sys', rootfs: '/', onScrape() {} });
    await input.scrape();
    const text = renderPrometheus((await input.scrape()).metrics);
    const families = parsePromText(text);
    expect(families.length).toBeGreaterThan(40);
    expect(families.every((f) => f.type === 'counter' || f.type === 'gauge')).toBe(true);
    expect(families.filter((f) => f.type === 'counter').every((f) => f.name.endsWith('_total'))).toBe(true);
    const r = promtool(text);
    const problems = r.out.split('\n').filter((l) => l !== '' && !ACCEPTED_LINT.test(l));
    expect(problems, `promtool findings:\n${r.out}`).toEqual([]);
    expect([0, 3]).toContain(r.status); // 3 only for the accepted CamelCase findings
  });

  it('promtool agrees the escaping is valid (awkward label values and help text)', () => {
    const text = renderPrometheus([
      { name: 'logship_test_info', labels: { mountpoint: '/mnt/a "quoted" dir\\x\nnext', device: 'nas:/export' }, value: 1, help: 'Help with \\ backslash\nand newline.', type: 'gauge' },
      { name: 'logship_test_total', labels: {}, value: 12, help: 'A counter.', type: 'counter' },
    ]);
    const r = promtool(text);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });
});
