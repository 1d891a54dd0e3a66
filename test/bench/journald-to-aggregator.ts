/**
 * Scenario: journald -> agent -> aggregator, beside the file input on the same
 * messages. A journal of nginx lines (one entry each, with the fields a
 * service's entry has: unit, identifier, priority, pid, boot id, host) is
 * written first by systemd-journal-remote (not timed; ~N bytes of journal
 * file, default the run's --bytes). Then an agent with a journald input
 * (start_at: beginning, journal_directory) ships it: timed from the agent's
 * spawn until the aggregator holds every entry. CPU is counted for the agent
 * and, separately, for its journalctl child (the reader's cost). Then the same
 * messages, one a line in a file, go through a file input for comparison.
 *
 *   npm run bench -- journald-to-aggregator --bytes 256MiB
 *   BENCH_JOURNAL_ENTRIES=500000 npm run bench -- journald-to-aggregator
 */
import { spawn } from 'node:child_process';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { agentStatus, topicCount } from '../helpers/procs.js';
import { JOURNAL_REMOTE, requireJournalTools } from '../helpers/journal-export.js';
import { makeRng, nginxLine } from './gen-nginx.js';
import { envNumber, info, log, mib, MiB, progress, scratch, sleep, stopService, type BenchOptions, type Row, type Scenario, type ScenarioResult } from './harness.js';
import { ProcWatch } from './proc-stats.js';
import { agentReady, benchStack } from './stack.js';

const TOPIC = 'bench';
/** Journal file bytes per entry of this shape, measured (journal-remote, no compression of small fields). */
const JOURNAL_BYTES_PER_ENTRY = 420;
const BASE_US = 1_767_225_600_000_000;

export const journaldToAggregator: Scenario = {
  name: 'journald-to-aggregator',
  title: 'journald (journalctl export) -> agent -> aggregator, beside the file input on the same messages',
  run,
};

/** Writes `entries` journal entries through systemd-journal-remote and the same messages, one a line, into a file. */
async function generate(jfile: string, lfile: string, entries: number, onProgress: (n: number) => void): Promise<void> {
  const child = spawn(JOURNAL_REMOTE, [`--output=${jfile}`, '--compress=no', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const done = new Promise<void>((res, rej) => child.on('close', (c) => (c === 0 ? res() : rej(new Error(`journal-remote exited ${c}: ${err}`)))));
  const lf = await open(lfile, 'w');
  const rng = makeRng(42);
  const CHUNK = 10_000;
  try {
    for (let i = 0; i < entries; i += CHUNK) {
      let exp = '';
      let lines = '';
      for (let k = i; k < Math.min(entries, i + CHUNK); k++) {
        const msg = nginxLine(rng, 1_767_225_600 + Math.floor(k / 1000));
        lines += msg + '\n';
        exp +=
          `__REALTIME_TIMESTAMP=${BASE_US + k * 1000}\n__MONOTONIC_TIMESTAMP=${1_000_000 + k}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=bench-host\n` +
          `_SYSTEMD_UNIT=nginx.service\nSYSLOG_IDENTIFIER=nginx\nPRIORITY=6\n_PID=${1000 + (k % 50)}\n_TRANSPORT=stdout\n_UID=33\n_GID=33\n_COMM=nginx\n` +
          `_EXE=/usr/sbin/nginx\n_SYSTEMD_SLICE=system.slice\nSYSLOG_FACILITY=3\nMESSAGE=${msg}\n\n`;
      }
      await lf.write(lines);
      if (!child.stdin!.write(exp)) await new Promise((r) => child.stdin!.once('drain', r));
      onProgress(Math.min(entries, i + CHUNK));
    }
  } finally {
    await lf.close();
    child.stdin!.end();
  }
  await done;
}

async function shipAndMeasure(o: { dir: string; input: Record<string, unknown>; total: number; label: string; journald: boolean }) {
  const stack = await benchStack(o.dir, [o.input], { agent: { batch: { max_bytes: '1MiB', max_wait: '1s' } } });
  const agg = await stack.startAggregator();
  const aw = new ProcWatch(agg.pid);
  const t0 = performance.now();
  const agent = await stack.startAgent();
  const gw = new ProcWatch(agent.pid);
  let jw: ProcWatch | undefined;
  let count = 0;
  const pr = progress(() => `${o.label}: ${count} / ${o.total} acknowledged, ${Math.round(count / ((performance.now() - t0) / 1000))}/s`);
  const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
  try {
    if (o.journald) {
      await agentReady(stack, agent);
      const st = (await agentStatus(stack.statusPort)) as unknown as { journald: Array<{ pid: number | null }> };
      const pid = st.journald[0]?.pid;
      if (pid) jw = new ProcWatch(pid);
      // what journalctl used before the watch started is not counted: it had just started (< 1 s)
    }
    for (;;) {
      count = await topicCount(stack.aggUrl, TOPIC).catch(() => count);
      aw.sample();
      gw.sample();
      jw?.sample();
      if (count >= o.total) break;
      if (agent.child.exitCode !== null) throw new Error(`agent exited early (${agent.child.exitCode}):\n${agent.output().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`timed out with ${count} of ${o.total} acknowledged`);
      await sleep(200);
    }
  } finally {
    pr.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  await sleep(1_000);
  const final = await topicCount(stack.aggUrl, TOPIC);
  await stopService(agent);
  await stopService(agg);
  await rm(join(o.dir, 'agg-data'), { recursive: true, force: true });
  await rm(join(o.dir, 'agent-data'), { recursive: true, force: true });
  return { seconds, final, agentCpu: gw.cpu, readerCpu: jw?.cpu ?? 0, aggCpu: aw.cpu, agentPeakRss: gw.peakRss };
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  requireJournalTools();
  const tmp = await scratch('journald');
  const notes: string[] = [];
  try {
    const entries = envNumber('BENCH_JOURNAL_ENTRIES', Math.max(10_000, Math.round(o.bytes / JOURNAL_BYTES_PER_ENTRY)));
    const jdir = join(tmp.dir, 'journal');
    const ldir = join(tmp.dir, 'logs');
    await mkdir(jdir);
    await mkdir(ldir);
    const jfile = join(jdir, 'bench.journal');
    const lfile = join(ldir, 'same-messages.log');
    log(`writing ${entries} journal entries with systemd-journal-remote (not timed)`);
    let gen = 0;
    const gp = progress(() => `generating: ${gen} / ${entries} entries`);
    await generate(jfile, lfile, entries, (n) => (gen = n)).finally(() => gp.stop());
    // journal-remote rotates when a file is full: every file in the directory is the journal
    let jbytes = 0;
    const jfiles = await readdir(jdir);
    for (const f of jfiles) jbytes += (await stat(join(jdir, f))).size;
    const lbytes = (await stat(lfile)).size;
    log(`journal ${mib(jbytes)} MiB in ${jfiles.length} file(s), same messages as lines ${mib(lbytes)} MiB`);

    const j = await shipAndMeasure({ dir: tmp.dir, input: { type: 'journald', topic: TOPIC, journal_directory: jdir, start_at: 'beginning' }, total: entries, label: 'journald', journald: true });
    if (j.final !== entries) notes.push(`JOURNALD COUNT MISMATCH: aggregator holds ${j.final}, journal has ${entries}`);
    const f = await shipAndMeasure({ dir: tmp.dir, input: { type: 'file', topic: TOPIC, include: [join(ldir, '*.log')], start_at: 'beginning' }, total: entries, label: 'file', journald: false });
    if (f.final !== entries) notes.push(`FILE COUNT MISMATCH: aggregator holds ${f.final}, wrote ${entries}`);
    const perM = (cpu: number) => cpu / (entries / 1e6);
    const rows: Row[] = [
      info('data', `${entries} entries; journal ${mib(jbytes)} MiB in ${jfiles.length} files; as lines ${mib(lbytes)} MiB`),
      info('journald elapsed', j.seconds, 's', 2),
      info('journald entries/s', Math.round(entries / j.seconds), 'entries/s', 0),
      info('journald agent CPU', perM(j.agentCpu), 'CPU s per million entries', 2),
      info('journalctl child CPU', perM(j.readerCpu), 'CPU s per million entries', 2),
      info('journald aggregator CPU', perM(j.aggCpu), 'CPU s per million entries', 2),
      info('journald agent peak RSS', j.agentPeakRss / MiB, 'MiB'),
      info('file input elapsed', f.seconds, 's', 2),
      info('file input lines/s', Math.round(entries / f.seconds), 'lines/s', 0),
      info('file input agent CPU', perM(f.agentCpu), 'CPU s per million lines', 2),
      info('file input aggregator CPU', perM(f.aggCpu), 'CPU s per million lines', 2),
      info('file input agent peak RSS', f.agentPeakRss / MiB, 'MiB'),
      info('journald / file agent CPU (incl. journalctl)', (j.agentCpu + j.readerCpu) / Math.max(1e-9, f.agentCpu), 'x', 2),
    ];
    notes.push('journald records are JSON objects (message + journal fields), about 3x the bytes of the bare line: compression, buffer and aggregator costs grow with that');
    return { scenario: journaldToAggregator.name, seconds: j.seconds + f.seconds, rows, notes, raw: { entries, journalBytes: jbytes, lineBytes: lbytes, journald: j, file: f } };
  } finally {
    await tmp.cleanup();
  }
}
