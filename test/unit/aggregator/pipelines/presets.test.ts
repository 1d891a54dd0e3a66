import { describe, expect, it } from 'vitest';
import { Pipeline } from '../../../../aggregator/pipelines/index.js';
import type { StoredRecord } from '../../../../aggregator/storage/record-decoder.js';
import type { StepConfig } from '../../../../aggregator/pipelines/types.js';

const rec = (message: string, timestamp = '2026-12-01T18:00:00.000Z'): StoredRecord => ({ offset: 0, timestamp, host: 'web-01', source: '/var/log/x.log', source_offset: 42, message });
const preset = (name: string): StepConfig => ({ type: 'pattern', field: 'message', preset: name as never, definitions: {} });
const run = (steps: StepConfig[], line: string, ts?: string) => new Pipeline('p', { topics: [], steps }).run(rec(line, ts));

describe('presets', () => {
  it('nginx_access: a combined line becomes ECS fields, with escapes decoded and the log time in @timestamp', () => {
    const line = '127.0.0.1 - - [01/Dec/2026:18:14:55 +0100] "GET /caf\\xC3\\xA9?q=a%20b&x=1 HTTP/1.1" 404 153 "-" "curl/8.5 \\"quoted\\""';
    const r = run([preset('nginx_access')], line);
    expect(r.failed).toEqual([]);
    expect(r.doc).toMatchObject({
      '@timestamp': '2026-12-01T17:14:55.000Z',
      message: line,
      source: { ip: '127.0.0.1' },
      http: { request: { method: 'GET' }, response: { status_code: 404, body: { bytes: 153 } }, version: '1.1' },
      url: { original: '/café?q=a%20b&x=1' },
      user_agent: { original: 'curl/8.5 "quoted"' },
      host: { name: 'web-01' },
      log: { file: { path: '/var/log/x.log' }, offset: 42 },
    });
    expect(r.doc._pattern).toBeUndefined();
    expect((r.doc.http as { request: Record<string, unknown> }).request.referrer).toBeUndefined();
  });

  it('nginx_access: a line that does not match keeps the raw message, is tagged and says which step failed', () => {
    const p = new Pipeline('web', { topics: [], steps: [preset('nginx_access')] });
    const r = p.run(rec('not an access log line'));
    expect(r.doc.message).toBe('not an access log line');
    expect(r.doc.tags).toEqual(['_parse_failure']);
    expect((r.doc.error as { message: string }).message).toMatch(/^0-pattern: the NGINX_ACCESS pattern did not match/);
    expect(p.failures.get('0-pattern')).toBe(1);
  });

  it('nginx_error: time (server zone, UTC by default), level, pid, client and request', () => {
    const line = '2026/12/01 18:14:55 [error] 1234#0: *7 open() "/srv/x" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1", host: "127.0.0.1:8080"';
    const r = run([preset('nginx_error')], line);
    expect(r.failed).toEqual([]);
    expect(r.doc).toMatchObject({
      '@timestamp': '2026-12-01T18:14:55.000Z',
      log: { level: 'error' },
      process: { pid: 1234 },
      source: { ip: '127.0.0.1' },
      http: { request: { method: 'GET' } },
      url: { original: '/x' },
      message: 'open() "/srv/x" failed (2: No such file or directory)',
    });
  });

  it('syslog_rfc3164 with and without PRI; year from the read time', () => {
    const r = run([preset('syslog')], '<34>Dec  1 18:14:55 web-01 sshd[4242]: Accepted publickey for alice', '2027-01-02T00:00:00.000Z');
    expect(r.failed).toEqual([]);
    expect(r.doc).toMatchObject({
      '@timestamp': '2026-12-01T18:14:55.000Z',
      message: 'Accepted publickey for alice',
      process: { name: 'sshd', pid: 4242 },
      host: { hostname: 'web-01' },
      log: { syslog: { priority: 34, severity: { code: 2, name: 'Critical' }, facility: { code: 4, name: 'auth' }, hostname: 'web-01', appname: 'sshd', procid: '4242' } },
    });
    const r2 = run([preset('syslog_rfc3164')], 'Dec 01 18:14:55 h1 kernel: boot');
    expect(r2.doc).toMatchObject({ process: { name: 'kernel' }, message: 'boot', '@timestamp': '2026-12-01T18:14:55.000Z' });
  });

  it('syslog_rfc5424 with structured data', () => {
    const r = run([preset('syslog')], '<165>1 2026-12-01T18:14:55.123456+01:00 mymachine.example.com evntslog 77 ID47 [exampleSDID@32473 iut="3" eventSource="App\\]lication"][x@1 a="b"] An application event');
    expect(r.failed).toEqual([]);
    expect(r.doc).toMatchObject({
      '@timestamp': '2026-12-01T17:14:55.123Z',
      message: 'An application event',
      process: { name: 'evntslog', pid: 77 },
      log: { syslog: { priority: 165, version: '1', msgid: 'ID47', severity: { code: 5, name: 'Notice' }, facility: { code: 20, name: 'local4' } } },
    });
  });

  it('logfmt, java and python traces, apache', () => {
    expect(run([preset('logfmt')], 'time=2026-12-01T18:14:55Z level=WARNING msg="disk almost full" disk.free=12 ok').doc).toMatchObject({
      '@timestamp': '2026-12-01T18:14:55.000Z',
      log: { level: 'warn' },
      message: 'disk almost full',
      disk: { free: '12' },
      ok: true,
    });
    const java = '2026-12-01 18:14:55 ERROR main - failed\njava.lang.IllegalStateException: boom here\n\tat com.x.Y.z(Y.java:10)\n\tat com.x.Y.main(Y.java:3)';
    expect(run([preset('java_stacktrace')], java).doc).toMatchObject({ error: { type: 'java.lang.IllegalStateException', message: 'boom here', stack_trace: java.slice(java.indexOf('java.lang')) } });
    const py = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n    f()\nValueError: bad value';
    expect(run([preset('python_traceback')], py).doc).toMatchObject({ error: { type: 'ValueError', message: 'bad value', stack_trace: py } });
    expect(run([preset('apache_access')], 'host.example.com - bob [01/Dec/2026:18:14:55 +0000] "POST /a HTTP/1.0" 200 -').doc).toMatchObject({
      source: { domain: 'host.example.com' },
      user: { name: 'bob' },
      http: { request: { method: 'POST' }, response: { status_code: 200 } },
    });
    expect(run([preset('apache_error')], '[Tue Dec 01 18:14:55.250000 2026] [core:error] [pid 12:tid 34] [client 10.0.0.1:5555] AH00037: Symbolic link not allowed').doc).toMatchObject({
      '@timestamp': '2026-12-01T18:14:55.250Z',
      log: { level: 'error' },
      process: { pid: 12 },
      source: { ip: '10.0.0.1', port: 5555 },
      message: 'AH00037: Symbolic link not allowed',
    });
  });
});
