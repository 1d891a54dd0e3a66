/**
 * The optional comparison of scenario 1: the same files through rsyslog,
 * imfile -> omfwd (TCP) -> imtcp -> omfile, two non-daemon rsyslogd processes
 * with their own configs, work directories and pid files in the scenario's temp
 * dir, on 127.0.0.1. Timed until the receiver's file holds every line.
 */
import { constants } from 'node:fs';
import { access, mkdir, open, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort, waitFor } from '../helpers/procs.js';
import type { Generated } from './gen-nginx.js';
import { envNumber, log, mib, MiB, progress, sleep, spawnTracked, stopService } from './harness.js';
import { ProcWatch } from './proc-stats.js';

export interface RsyslogResult {
  seconds: number;
  senderCpu: number;
  receiverCpu: number;
  senderPeakRss: number;
  receiverPeakRss: number;
  version: string;
}

export async function findRsyslogd(): Promise<string | undefined> {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, 'rsyslogd');
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const q = (s: string): string => JSON.stringify(s);

export async function runRsyslog(rsyslogd: string, dir: string, files: string[], gen: Generated): Promise<RsyslogResult> {
  const base = join(dir, 'rsyslog');
  await mkdir(join(base, 'sender-work'), { recursive: true });
  await mkdir(join(base, 'receiver-work'), { recursive: true });
  const port = await freePort();
  const out = join(base, 'out.log');
  const receiverConf = join(base, 'receiver.conf');
  const senderConf = join(base, 'sender.conf');
  await writeFile(
    receiverConf,
    [
      `global(workDirectory=${q(join(base, 'receiver-work'))} maxMessageSize="64k")`,
      'module(load="imtcp")',
      'template(name="msgonly" type="string" string="%msg%\\n")',
      `ruleset(name="store") { action(type="omfile" file=${q(out)} template="msgonly") }`,
      `input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="store")`,
      '',
    ].join('\n'),
  );
  await writeFile(
    senderConf,
    [
      `global(workDirectory=${q(join(base, 'sender-work'))} maxMessageSize="64k")`,
      'module(load="imfile" mode="inotify")',
      `ruleset(name="ship") { action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" template="RSYSLOG_ForwardFormat") }`,
      ...files.map((f) => `input(type="imfile" file=${q(f)} tag="nginx:" ruleset="ship" freshStartTail="off")`),
      '',
    ].join('\n'),
  );
  const version = ((await runOnce(rsyslogd, ['-v'])).split('\n')[0] ?? 'rsyslogd').replace(/\s*compiled with:.*$/, '').replace(/\s+/g, ' ').trim();
  const receiver = spawnTracked('rsyslog receiver', rsyslogd, ['-n', '-f', receiverConf, '-i', join(base, 'receiver.pid')]);
  let sender: ReturnType<typeof spawnTracked> | undefined;
  try {
    await waitFor(() => `rsyslog receiver on port ${port}\n${receiver.output()}`, () => canConnect(port), 20_000, 50);
    const rw = new ProcWatch(receiver.pid);
    log(`rsyslog comparison (${version}): ${mib(gen.bytes)} MiB`);
    const t0 = performance.now();
    sender = spawnTracked('rsyslog sender', rsyslogd, ['-n', '-f', senderConf, '-i', join(base, 'sender.pid')]);
    rw.mark();
    const sw = new ProcWatch(sender.pid);
    const counter = newlineCounter(out);
    let lines = 0;
    const pr = progress(() => {
      const s = (performance.now() - t0) / 1000;
      const done = (lines / gen.lines) * gen.bytes;
      return `rsyslog: ${mib(done)} / ${mib(gen.bytes)} MiB stored (${lines} / ${gen.lines} lines), ${(done / MiB / s).toFixed(1)} MiB/s`;
    });
    const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
    try {
      for (;;) {
        lines = await counter.count();
        rw.sample();
        sw.sample();
        if (lines >= gen.lines) break;
        if (sender.child.exitCode !== null || receiver.child.exitCode !== null) {
          throw new Error(`rsyslogd exited early:\n${sender.output().slice(-2000)}\n${receiver.output().slice(-2000)}`);
        }
        if (Date.now() > deadline) throw new Error(`rsyslog timed out with ${lines} of ${gen.lines} lines stored`);
        await sleep(200);
      }
    } finally {
      pr.stop();
      await counter.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    rw.sample();
    sw.sample();
    return { seconds, senderCpu: sw.cpu, receiverCpu: rw.cpu, senderPeakRss: sw.peakRss, receiverPeakRss: rw.peakRss, version };
  } finally {
    if (sender) await stopService(sender, 5_000);
    await stopService(receiver, 5_000);
  }
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** Counts the newlines of a growing file, reading only what is new. */
export function newlineCounter(path: string): { count: () => Promise<number>; close: () => Promise<void> } {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let pos = 0;
  let n = 0;
  const buf = Buffer.allocUnsafe(4 << 20);
  return {
    count: async () => {
      if (!fh) {
        try {
          fh = await open(path, 'r');
        } catch {
          return 0;
        }
      }
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        const got = buf.subarray(0, bytesRead);
        for (let i = got.indexOf(10); i !== -1; i = got.indexOf(10, i + 1)) n++;
      }
      return n;
    },
    close: async () => {
      await fh?.close();
    },
  };
}

async function runOnce(cmd: string, args: string[]): Promise<string> {
  const p = spawnTracked(cmd, cmd, args);
  await p.exited;
  return p.output();
}
