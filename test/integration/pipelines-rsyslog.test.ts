/**
 * Issue 14 acceptance: real syslog lines written by a private rsyslogd (its own
 * config, pid file and work dir; imtcp on 127.0.0.1:<free port>) in both
 * classic (RFC 3164, with PRI) and RFC 5424 file formats; the agent ships both
 * files; the syslog_rfc3164 and syslog_rfc5424 presets give host, program,
 * pid, severity, facility and timestamp, checked against what was sent.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, killAll, makeStack, runLogship, stop, tempDir, waitFor, waitSettled } from '../helpers/procs.js';

let rs: ChildProcess | undefined;
afterAll(async () => {
  if (rs?.pid && rs.exitCode === null) rs.kill('SIGKILL');
  await killAll();
});

function rsyslogd(): string {
  const r = spawnSync('sh', ['-c', 'command -v rsyslogd || ls /usr/sbin/rsyslogd'], { encoding: 'utf8' });
  const path = r.stdout.trim().split('\n')[0];
  if (!path) throw new Error('rsyslogd is missing: run deploy/test-deps.sh (installs rsyslog)');
  return path;
}

interface Sent {
  host: string;
  app: string;
  pid: number;
  pri: number;
  time: number;
  msg: string;
}

describe('pipelines: syslog from a private rsyslogd', () => {
  it('RFC 3164 and RFC 5424 lines parse into host, program, pid, severity and timestamp', { timeout: 180_000 }, async () => {
    const bin = rsyslogd();
    const t = await tempDir();
    try {
      const work = join(t.dir, 'rsyslog');
      const logs = join(t.dir, 'logs');
      await mkdir(join(work, 'spool'), { recursive: true });
      await mkdir(logs, { recursive: true });
      const port = await freePort();
      const conf = join(work, 'rsyslog.conf');
      await writeFile(
        conf,
        [
          `global(workDirectory="${join(work, 'spool')}" processInternalMessages="on")`,
          `module(load="imtcp")`,
          `input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="files")`,
          // classic format with the PRI in front (the RSYSLOG_TraditionalFileFormat has none, so no severity)
          `template(name="classic" type="string" string="<%PRI%>%TIMESTAMP% %HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")`,
          `ruleset(name="files") {`,
          `  action(type="omfile" file="${join(logs, 'rfc3164.log')}" template="classic")`,
          `  action(type="omfile" file="${join(logs, 'rfc5424.log')}" template="RSYSLOG_SyslogProtocol23Format")`,
          `}`,
          `*.* action(type="omfile" file="${join(work, 'internal.log')}")`,
        ].join('\n') + '\n',
      );
      rs = spawn(bin, ['-n', '-f', conf, '-i', join(work, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let rsOut = '';
      rs.stdout!.on('data', (d) => (rsOut += d));
      rs.stderr!.on('data', (d) => (rsOut += d));
      const sock = await waitFor(
        () => `rsyslogd listening on ${port}: ${rsOut}`,
        () =>
          new Promise<ReturnType<typeof connect> | undefined>((resolve) => {
            const s = connect(port, '127.0.0.1');
            s.once('connect', () => resolve(s));
            s.once('error', () => resolve(undefined));
          }),
        30_000,
      );

      const stack = await makeStack(
        t.dir,
        [
          { type: 'file', topic: 'syslog-classic', include: [join(logs, 'rfc3164.log')], start_at: 'beginning' },
          { type: 'file', topic: 'syslog-5424', include: [join(logs, 'rfc5424.log')], start_at: 'beginning' },
        ],
        {
          aggregator: {
            pipelines: {
              classic: { topics: ['syslog-classic'], steps: [{ type: 'pattern', preset: 'syslog_rfc3164' }] },
              modern: { topics: ['syslog-5424'], steps: [{ type: 'pattern', preset: 'syslog' }] },
            },
          },
        },
      );
      const agg = await stack.startAggregator();
      const agent = await stack.startAgent();

      const sent: Sent[] = [];
      const N = 300;
      const base = Date.now();
      for (let i = 0; i < N; i++) {
        const s: Sent = {
          host: `web-${i % 5}.example.com`,
          app: ['sshd', 'cron', 'kernel', 'my-app', 'postfix/smtpd'][i % 5]!,
          pid: 1000 + i,
          pri: (i % 24) * 8 + (i % 8),
          time: base - (N - i) * 1000 + (i % 1000),
          msg: `message ${i}: user=alice ok ü`,
        };
        sent.push(s);
        // RFC 5424 over TCP, one message a line
        sock.write(`<${s.pri}>1 ${new Date(s.time).toISOString()} ${s.host} ${s.app} ${s.pid} ID${i % 3} - ${s.msg}\n`);
      }
      sock.end();

      for (const topic of ['syslog-classic', 'syslog-5424']) {
        const got = await waitSettled({ aggUrl: stack.aggUrl, topic, atLeast: N, statusPort: stack.statusPort, timeoutMs: 90_000, detail: () => rsOut });
        expect(got, topic).toBe(N);
      }
      const read = async (topic: string) => {
        const r = await runLogship(['read', '--url', stack.aggUrl, '--topic', topic, '--parse'], {}, 60_000);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
      };
      const classic = await read('syslog-classic');
      const modern = await read('syslog-5424');
      const sample = (await readFile(join(logs, 'rfc3164.log'), 'utf8')).split('\n')[0] + '\n' + (await readFile(join(logs, 'rfc5424.log'), 'utf8')).split('\n')[0];
      for (const [name, docs] of [['classic', classic], ['5424', modern]] as const) {
        expect(docs.filter((d) => d.tags), `${name}: lines that failed to parse (first lines written: ${sample})`).toEqual([]);
        const byMsg = new Map(docs.map((d) => [d.message as string, d]));
        for (const s of sent) {
          const d = byMsg.get(s.msg);
          expect(d, `${name}: ${s.msg}`).toBeDefined();
          expect({ host: d!.host.hostname, program: d!.process.name, pid: d!.process.pid, severity: d!.log.syslog.severity.code, facility: d!.log.syslog.facility.code }).toEqual({
            host: s.host,
            program: s.app,
            pid: s.pid,
            severity: s.pri & 7,
            facility: s.pri >> 3,
          });
          // classic lines carry whole seconds and no year (the year rule gives this year); RFC 5424 keeps the fraction rsyslog writes
          const want = name === 'classic' ? Math.floor(s.time / 1000) * 1000 : s.time;
          expect(Date.parse(d!['@timestamp']), `${name}: ${s.msg}`).toBe(want);
        }
      }
      expect(await stop(agent)).toBe(0);
      expect(await stop(agg)).toBe(0);
    } finally {
      if (rs?.pid && rs.exitCode === null) rs.kill('SIGKILL');
      await t.cleanup();
    }
  });
});
