/**
 * The agent's own Prometheus registry (agent/metrics-registry.ts): the text format Prometheus
 * parses, prom-client's semantics for what the agent calls, the process and V8 figures, and that
 * the agent's modules load neither prom-client nor undici (each costs the host resident memory).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Registry } from '../../../agent/metrics-registry.js';
import { createAgentMetrics } from '../../../agent/metrics.js';
import { ROOT } from '../../helpers/procs.js';

describe('agent metrics registry', () => {
  it('writes counters and gauges in the text exposition format, labels escaped', async () => {
    const r = new Registry();
    const plain = new Counter({ name: 'x_total', help: 'plain\\one\nline two', registers: [r] });
    const byInput = new Counter({ name: 'x_by_input_total', help: 'by input', labelNames: ['input'], registers: [r] });
    const g = new Gauge({ name: 'x_state', help: 'state', labelNames: ['state'], registers: [r] });
    const empty = new Counter({ name: 'x_never_total', help: 'never used', labelNames: ['kind'], registers: [r] });
    plain.inc();
    plain.inc(2.5);
    byInput.inc({ input: 'a"b\\c\nd' }, 3);
    byInput.inc({ input: 'files' });
    byInput.inc({ input: 'files' }, 4);
    g.set({ state: 'ok' }, 1);
    g.set({ state: 'stuck' }, 0);
    g.reset();
    g.set({ state: 'waiting' }, 1);
    expect(empty.name).toBe('x_never_total');
    expect(await r.metrics()).toBe(
      [
        '# HELP x_total plain\\\\one\\nline two',
        '# TYPE x_total counter',
        'x_total 3.5',
        '# HELP x_by_input_total by input',
        '# TYPE x_by_input_total counter',
        'x_by_input_total{input="a\\"b\\\\c\\nd"} 3',
        'x_by_input_total{input="files"} 5',
        '# HELP x_state state',
        '# TYPE x_state gauge',
        'x_state{state="waiting"} 1',
        '# HELP x_never_total never used',
        '# TYPE x_never_total counter',
        '',
      ].join('\n'),
    );
    expect(r.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(() => plain.inc(-1)).toThrow(/cannot increase/);
    expect(() => byInput.inc({ nope: 'x' })).toThrow(/no label nope/);
    expect(() => new Counter({ name: 'x_total', help: 'again', registers: [r] })).toThrow(/already registered/);
    expect((await byInput.get()).values.reduce((a, v) => a + v.value, 0)).toBe(8);
  });

  it('the agent registry carries the process and V8 figures under its prefix', async () => {
    const m = createAgentMetrics();
    m.linesRead.inc({ input: 'f' }, 7);
    const text = await m.registry.metrics();
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(value(/^logship_agent_lines_read_total\{input="f"\} (\d+)$/m)).toBe(7);
    expect(value(/^logship_agent_process_resident_memory_bytes (\d+)$/m)).toBeGreaterThan(10 << 20);
    expect(value(/^logship_agent_process_cpu_seconds_total ([\d.e-]+)$/m)).toBeGreaterThan(0);
    expect(value(/^logship_agent_nodejs_heap_space_size_used_bytes\{space="old"\} (\d+)$/m)).toBeGreaterThan(0);
    expect(value(/^logship_agent_nodejs_heap_size_total_bytes (\d+)$/m)).toBeGreaterThan(0);
    expect(value(/^logship_agent_nodejs_external_memory_bytes (\d+)$/m)).toBeGreaterThan(0);
    expect(value(/^logship_agent_process_open_fds (\d+)$/m)).toBeGreaterThan(2);
    expect(text).toMatch(/^logship_agent_nodejs_version_info\{version="v\d+\.\d+\.\d+",major="\d+",minor="\d+",patch="\d+"\} 1$/m);
    // every line is a comment or a sample Prometheus can parse
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[\d.e+-]+|NaN|[+-]Inf))$/);
  });

  it('the agent (compiled) loads neither prom-client nor undici', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(join(ROOT, 'dist/agent/index.js'))});
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ n: loaded.length, heavy: loaded.filter((k) => /node_modules\\/(prom-client|undici)\\//.test(k)) }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 })) as { n: number; heavy: string[] };
    expect(out.n).toBeGreaterThan(0); // the cache does list the CommonJS packages the agent imports (pino, yaml)
    expect(out.heavy).toEqual([]);
  });
});
