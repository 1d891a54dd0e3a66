/**
 * Alert rule config at logship check: templates, patterns, group_by and
 * reserved labels are reported at FILE:LINE:COL; templates render as documented.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseAggregatorConfig } from '../../../../aggregator/config.js';
import { compileTemplate, render, templateProblem } from '../../../../aggregator/alerts/template.js';
import { ConfigError } from '../../../../lib/errors.js';
import { withAlertSecretsChecked } from '../../../../aggregator/alerts/secrets.js';
import { checkConfig } from '../../../../bin/config/check.js';
import { groupKey } from '../../../../aggregator/alerts/identity.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function issues(text: string): string[] {
  try {
    parseAggregatorConfig(text, 'agg.yaml', {});
  } catch (err) {
    return (err as ConfigError).issues.map(String);
  }
  throw new Error('expected a ConfigError');
}

describe('alert rule config', () => {
  it('reports bad templates, refused patterns, group_by and reserved labels where they are written', () => {
    const text = [
      'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
      'alerts:',
      '  - name: A', // 3
      '    topic: app',
      '    match: "(a)\\\\1"', // 5
      '    threshold: 1',
      '    window: 1m',
      '    sinks: [am]',
      '    annotations:',
      '      summary: "{{hostname}} is bad"', // 10
      '      detail: "{{count"', // 11
      '    labels:',
      '      alertname: x', // 13
      '  - {name: B, metric: m, above: 1, group_by: [mountpoint, "bad-name"], sinks: [am]}', // 14
      '  - {name: C, absent_for: 1m, group_by: [mountpoint], sinks: [am]}', // 15
    ].join('\n');
    expect(issues(text)).toEqual([
      expect.stringMatching(/^agg\.yaml:5:\d+: alerts\[0\]\.match: this pattern needs a backtracking engine/),
      expect.stringMatching(/^agg\.yaml:10:\d+: alerts\[0\]\.annotations\.summary: unknown template variable \{\{hostname\}\}/),
      expect.stringMatching(/^agg\.yaml:11:\d+: alerts\[0\]\.annotations\.detail: unclosed "\{\{"/),
      expect.stringMatching(/^agg\.yaml:13:\d+: alerts\[0\]\.labels\.alertname: "alertname" is set by logship/),
      expect.stringMatching(/^agg\.yaml:14:\d+: alerts\[1\]\.group_by\[1\]: "bad-name" is not a label name/),
      expect.stringMatching(/^agg\.yaml:15:\d+: alerts\[2\]\.group_by: absence rules group by host only/),
    ]);
  });

  it('rules on parsed fields: pipeline, group_by field paths, where and {{field.PATH}} are checked where they are written', () => {
    const text = [
      'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
      'pipelines:',
      '  nginx: {topics: [web], steps: [{type: pattern, preset: nginx_access}]}',
      'alerts:',
      '  - name: A', // 5
      '    topic: web',
      '    pipeline: ngnix', // 7
      '    where: "http.response.status_code >= 500 and and"', // 8
      '    group_by: [source.ip, "a..b", source_ip]', // 9
      '    threshold: 1',
      '    window: 1m',
      '    sinks: [am]',
      '    annotations: {summary: "{{field.url..original}}"}', // 13
      '    labels: {source_ip: x}', // 14
      '  - {name: B, topic: web, threshold: 1, window: 1m, sinks: [am]}', // 15
      '  - {name: C, metric: m, above: 1, annotations: {s: "{{field.x}}"}, sinks: [am]}', // 16
    ].join('\n');
    const got = issues(text);
    expect(got).toEqual([
      expect.stringMatching(/^agg\.yaml:7:\d+: alerts\[0\]\.pipeline: no pipeline named "ngnix" \(configured: nginx; "none"/),
      // the column of the second "and" inside the quoted condition: 12 + 1 (quote) + 37
      expect.stringMatching(/^agg\.yaml:8:50: alerts\[0\]\.where: expected a field, a value or "\("/),
      expect.stringMatching(/^agg\.yaml:9:\d+: alerts\[0\]\.group_by\[1\]: not a field path: "a\.\.b" has an empty part/),
      expect.stringMatching(/^agg\.yaml:9:\d+: alerts\[0\]\.group_by\[2\]: "source_ip" and "source\.ip" would both be the label source_ip/),
      expect.stringMatching(/^agg\.yaml:13:\d+: alerts\[0\]\.annotations\.summary: \{\{field\.url\.\.original\}\}: "url\.\.original" has an empty part/),
      expect.stringMatching(/^agg\.yaml:14:\d+: alerts\[0\]\.labels\.source_ip: "source_ip" is set by logship \(the group_by value\)/),
      expect.stringMatching(/^agg\.yaml:15:\d+: alerts\[1\]: give match, where, or both/),
      expect.stringMatching(/^agg\.yaml:16:\d+: alerts\[2\]\.annotations\.s: unknown template variable \{\{field\.x\}\}/),
    ]);
    const ok = parseAggregatorConfig(
      [
        'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
        'pipelines:',
        '  nginx: {topics: [web], steps: [{type: pattern, preset: nginx_access}]}',
        'alerts:',
        '  - {name: A, topic: web, where: "http.response.status_code >= 500", group_by: [source.ip], threshold: 10, window: 1m, sinks: [am], annotations: {s: "{{labels.source_ip}} {{field.url.original}}"}}',
        '  - {name: B, topic: web, match: x, pipeline: none, threshold: 1, window: 1m, sinks: [am]}',
      ].join('\n'),
      'agg.yaml',
      {},
    );
    expect(ok.alerts[0]).toMatchObject({ kind: 'match', match: '', where: 'http.response.status_code >= 500', group_by: ['source.ip'] });
    expect(ok.alerts[1]).toMatchObject({ kind: 'match', match: 'x', pipeline: 'none' });
  });

  it('logship check warns when a rule reads parsed fields of a topic without a pipeline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logship-alert-parsed-check-'));
    try {
      const cfg = join(dir, 'agg.yaml');
      writeFileSync(
        cfg,
        [
          'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
          'alerts:',
          '  - name: A',
          '    topic: web', // 4
          '    where: "http.response.status_code >= 500"',
          '    threshold: 1',
          '    window: 1m',
          '    sinks: [am]',
          '  - {name: B, topic: web, match: x, threshold: 1, window: 1m, sinks: [am]}',
        ].join('\n'),
      );
      const r = await checkConfig(cfg, {}, { kind: 'aggregator' });
      expect(r.exitCode).toBe(0);
      expect(r.warnings).toMatch(new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: alerts\\[0\\]\\.topic: warning: topic "web" has no pipeline`));
      expect(r.warnings).not.toMatch(/alerts\[1\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('group keys: a host reads as before; slashes in field values cannot make two groups one key', () => {
    expect(groupKey('HostSilent', ['host'], { host: 'web-01' })).toBe('logship/HostSilent/web-01');
    const a = groupKey('R', ['url.path', 'source.ip'], { 'url.path': '/a/b', 'source.ip': 'c' });
    const b = groupKey('R', ['url.path', 'source.ip'], { 'url.path': '/a', 'source.ip': 'b/c' });
    expect(a).toBe('logship/R/%2Fa%2Fb/c');
    expect(a).not.toBe(b);
    expect(groupKey('R', ['x'], { x: '100%/' })).toBe('logship/R/100%25%2F');
  });

  it('defaults: group_by [host], max_age 5m; metric rules take match_labels and aggregate', () => {
    const c = parseAggregatorConfig(
      [
        'sinks: [{name: am, type: alertmanager, urls: ["http://a"]}]',
        'alerts:',
        '  - {name: Disk, metric: node_filesystem_avail_bytes, below: 1e9, match_labels: {mountpoint: /}, aggregate: min, group_by: [host, mountpoint], max_age: 10m, sinks: [am]}',
      ].join('\n'),
      'agg.yaml',
      {},
    );
    expect(c.alerts[0]).toMatchObject({ kind: 'metric', below: 1e9, match_labels: { mountpoint: '/' }, aggregate: 'min', group_by: ['host', 'mountpoint'], max_age: 600_000 });
    expect(c.sinks[0]).toMatchObject({ resend_interval: 60_000 });
  });

  it('templates render host, count, value and labels', () => {
    const t = compileTemplate('{{ host }}: {{count}} errors, value {{value}}, sev {{labels.severity}}{{labels.none}}');
    expect(render(t, { host: 'web-01', count: 11, value: 0.93456, labels: { severity: 'critical' } })).toBe('web-01: 11 errors, value 0.9346, sev critical');
    expect(render(compileTemplate('no vars at all'), { host: '', count: 0, value: undefined, labels: {} })).toBe('no vars at all');
    expect(templateProblem('{{labels.bad-name}}')).toMatch(/unknown template variable/);
    expect(templateProblem('plain { braces } are fine')).toBeUndefined();
  });

  it("the README's alerting example is a valid config", () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Page with PagerDuty / route with Alertmanager'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    // the secret files it names are read while loading: made here, in a temp dir
    const dir = mkdtempSync(join(tmpdir(), 'logship-alert-readme-'));
    try {
      writeFileSync(join(dir, 'pd.key'), '0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
      writeFileSync(join(dir, 'hook.token'), 'a-bearer-token\n', { mode: 0o600 });
      expect(yaml).toContain('/etc/logship/pd.key');
      const c = parseAggregatorConfig(yaml.replaceAll('/etc/logship/', `${dir}/`), 'README.md', {});
      expect(c.alerts.map((r) => [r.name, r.kind])).toEqual([['ErrorBurst', 'match'], ['HighCPU', 'metric'], ['HostSilent', 'absent']]);
      expect(c.sinks.map((x) => x.type)).toEqual(['alertmanager', 'pagerduty', 'webhook']);
      // the second example: a rule on parsed nginx fields, with a route
      const parsed = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)][1]![1]!;
      const p = parseAggregatorConfig(parsed, 'README.md', {});
      expect(p.alerts[0]).toMatchObject({ name: 'Client5xxBurst', kind: 'match', where: 'http.response.status_code >= 500', group_by: ['source.ip'] });
      expect(Object.keys(p.pipelines)).toEqual(['nginx']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('alert sink secret files are checked while loading: missing or empty is a config error naming the key, never the content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logship-alert-secrets-'));
    try {
      const good = join(dir, 'pd.key');
      writeFileSync(good, '0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
      const empty = join(dir, 'empty.token');
      writeFileSync(empty, ' \n', { mode: 0o600 });
      const ok = { sinks: [{ type: 'pagerduty', name: 'pd', routing_key_file: good }] };
      expect(withAlertSecretsChecked(ok, 'agg.yaml')).toBe(ok);
      let err: unknown;
      try {
        withAlertSecretsChecked({ sinks: [{ type: 'pagerduty', name: 'pd', routing_key_file: join(dir, 'missing') }, { type: 'webhook', name: 'h', bearer_token_file: empty }] }, 'agg.yaml');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues.map(String);
      expect(issues).toHaveLength(2);
      expect(issues[0]).toMatch(/^agg\.yaml:1:1: sinks\[0\]\.routing_key_file: .*missing/);
      expect(issues[1]).toMatch(/^agg\.yaml:1:1: sinks\[1\]\.bearer_token_file: .*empty/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logship check reports a missing routing_key_file (warning) and an empty bearer_token_file (error) at the key, FILE:LINE:COL, never the content', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logship-alert-check-'));
    try {
      const empty = join(dir, 'empty.token');
      writeFileSync(empty, '\n', { mode: 0o600 });
      const key = join(dir, 'missing.key');
      const cfg = join(dir, 'agg.yaml');
      writeFileSync(
        cfg,
        [
          'sinks:',
          '  - name: pd',
          '    type: pagerduty',
          `    routing_key_file: ${key}`, // 4
          '  - name: hook',
          '    type: webhook',
          '    url: http://127.0.0.1:9/hook',
          `    bearer_token_file: ${empty}`, // 8
          'alerts:',
          '  - {name: Silent, absent_for: 1m, sinks: [pd, hook]}',
        ].join('\n'),
      );
      const at = (line: number) => `${cfg}:${line}:5: `;
      const r = await checkConfig(cfg, {}, { kind: 'aggregator' });
      expect(r.exitCode).toBe(2);
      expect(r.output).toBe(`${at(8)}sinks[1].bearer_token_file: ${empty} is empty`);
      // a start refuses the missing one too
      expect(() => withAlertSecretsChecked({ sinks: [{ type: 'pagerduty', name: 'pd', routing_key_file: key }] }, cfg)).toThrow(ConfigError);
      writeFileSync(empty, 'bearer-secret-value\n', { mode: 0o600 });
      const warned = await checkConfig(cfg, {}, { kind: 'aggregator' });
      expect(warned.exitCode).toBe(0);
      expect(warned.warnings).toBe(`${at(4)}sinks[0].routing_key_file: warning: ${key}: cannot read it: no such file (a start fails until it is readable)`);
      writeFileSync(key, 'pd-secret-value-0123456789abcdef\n', { mode: 0o600 });
      const ok = await checkConfig(cfg, {}, { kind: 'aggregator' });
      expect(ok.exitCode).toBe(0);
      expect(ok.warnings).toBeUndefined();
      for (const text of [r.output, warned.warnings, ok.output]) {
        expect(text).not.toContain('secret-value');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
