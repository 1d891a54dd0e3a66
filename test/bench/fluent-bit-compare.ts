/**
 * logship beside Fluent Bit on the same data in the same run (issue 17), with
 * FLUENT_BIT=/path/to/fluent-bit. One generated file of nginx lines goes
 * through, in interleaved repetitions (BENCH_FB_REPS, 3 by default):
 *
 *   - logship: agent (start_at beginning) -> aggregator, local storage, fsync, zstd;
 *   - Fluent Bit, default read buffers: tail (offsets in its sqlite DB) ->
 *     filesystem buffer -> forward -> a second Fluent Bit (forward in) -> file;
 *   - the same with 2 MiB read buffers.
 *
 * Each run is timed from the sender's start until the receiving end holds
 * every line; CPU is user + system of each process from /proc. Each sender's
 * start-up CPU is measured apart, the same way for both: a separate start of
 * the same binary and config on an empty input directory, until its CPU stops
 * growing (logship's agent: after its /healthz answers); the totals still
 * include it, the "excluding start-up" row takes it off. Fluent Bit's
 * tail tells the kernel to drop the page cache of what it has read, so the
 * input is read once into the page cache before every run of either shipper:
 * every run starts from memory. Figures are medians over the repetitions.
 * Without FLUENT_BIT the Fluent Bit rows say "not measured" and nothing runs
 * (file-to-aggregator measures logship alone).
 */
import { constants } from 'node:fs';
import { access, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, topicCount, waitFor } from '../helpers/procs.js';
import { generateFiles, type Generated } from './gen-nginx.js';
import { atLeast, atMost, envNumber, info, log, mib, MiB, perGiB, progress, scratch, sleep, spawnTracked, stopService, type BenchOptions, type Row, type Scenario, type ScenarioResult } from './harness.js';
import { ProcWatch, settledCpu } from './proc-stats.js';
import { agentStartupCpu } from './file-to-aggregator.js';
import { canConnect, newlineCounter } from './rsyslog-compare.js';
import { benchStack } from './stack.js';

export const fluentBitCompare: Scenario = {
  name: 'fluent-bit-compare',
  title: 'logship beside Fluent Bit (FLUENT_BIT=...), same file, same run',
  run,
};

export interface PathRun {
  seconds: number;
  senderCpu: number;
  /** CPU seconds of the sender's start-up alone (a separate start on an empty input directory) */
  senderStartupCpu: number;
  receiverCpu: number;
  senderPeakRss: number;
  receiverPeakRss: number;
}

interface PathSpec {
  key: string;
  label: string;
  run: () => Promise<PathRun>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Reads a file to its end so that the next reader finds it in the page cache. */
export async function warmPageCache(path: string): Promise<void> {
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    while ((await fh.read(buf, 0, buf.length)).bytesRead > 0);
  } finally {
    await fh.close();
  }
}

async function run(o: BenchOptions): Promise<ScenarioResult> {
  const fb = process.env.FLUENT_BIT;
  const notes: string[] = [];
  if (!fb) {
    const nm = 'not measured (set FLUENT_BIT=/path/to/fluent-bit)';
    return {
      scenario: fluentBitCompare.name,
      seconds: 0,
      rows: [
        info('Fluent Bit (tail -> fs buffer -> forward -> Fluent Bit -> file)', nm),
        info('Fluent Bit 2M (same, 2 MiB read buffers)', nm),
        info('logship / Fluent Bit throughput', 'not measured'),
        info('logship / Fluent Bit CPU s/GiB total', 'not measured'),
      ],
      notes: ['logship alone: see file-to-aggregator'],
      raw: { measured: false },
    };
  }
  try {
    await access(fb, constants.X_OK);
  } catch {
    throw new Error(`FLUENT_BIT=${fb} is not an executable file`);
  }
  const version = (await runOnce(fb, ['--version'])).split('\n')[0]?.trim() ?? 'Fluent Bit';
  if (!/Fluent Bit/i.test(version)) throw new Error(`${fb} --version did not answer like Fluent Bit (missing libraries? apt-get install -y libyaml-0-2 libsqlite3-0):\n${version}`);
  const reps = Math.round(envNumber('BENCH_FB_REPS', 3));
  const tmp = await scratch('fbcmp');
  try {
    const input = join(tmp.dir, 'logs', 'access.log');
    await mkdir(join(tmp.dir, 'logs'));
    log(`generating ${mib(o.bytes)} MiB of nginx lines in one file (not timed)`);
    const gen = await generateFiles([input], o.bytes, 42);
    log(`generated ${gen.lines} lines, ${mib(gen.bytes)} MiB`);

    let runNo = 0;
    const paths: PathSpec[] = [
      { key: 'logship', label: 'logship', run: () => runLogship(join(tmp.dir, `logship-${runNo}`), input, gen) },
      { key: 'fluentbit', label: 'Fluent Bit', run: () => runFluentBit(fb, join(tmp.dir, `fb-${runNo}`), input, gen, '256k') },
      { key: 'fluentbit2m', label: 'Fluent Bit 2M', run: () => runFluentBit(fb, join(tmp.dir, `fb2m-${runNo}`), input, gen, '2M') },
    ];
    const got = new Map<string, PathRun[]>(paths.map((p) => [p.key, []]));
    for (let r = 0; r < reps; r++) {
      for (const p of paths) {
        runNo++;
        await warmPageCache(input);
        log(`fluent-bit-compare: repetition ${r + 1} / ${reps}: ${p.label}`);
        const res = await p.run();
        got.get(p.key)!.push(res);
        log(`  ${(gen.bytes / MiB / res.seconds).toFixed(1)} MiB/s, CPU ${res.senderCpu.toFixed(2)} + ${res.receiverCpu.toFixed(2)} s`);
      }
    }

    const summary = (key: string) => {
      const rs = got.get(key)!;
      const mibs = median(rs.map((x) => gen.bytes / MiB / x.seconds));
      const snd = median(rs.map((x) => perGiB(x.senderCpu, gen.bytes)));
      const rcv = median(rs.map((x) => perGiB(x.receiverCpu, gen.bytes)));
      const tot = median(rs.map((x) => perGiB(x.senderCpu + x.receiverCpu, gen.bytes)));
      const startup = median(rs.map((x) => x.senderStartupCpu));
      const sndEx = median(rs.map((x) => perGiB(Math.max(0, x.senderCpu - x.senderStartupCpu), gen.bytes)));
      const totEx = median(rs.map((x) => perGiB(Math.max(0, x.senderCpu - x.senderStartupCpu) + x.receiverCpu, gen.bytes)));
      const rssS = Math.max(...rs.map((x) => x.senderPeakRss)) / MiB;
      const rssR = Math.max(...rs.map((x) => x.receiverPeakRss)) / MiB;
      return { mibs, snd, rcv, tot, startup, sndEx, totEx, rssS, rssR, runs: rs };
    };
    const s = Object.fromEntries(paths.map((p) => [p.key, summary(p.key)]));
    const rows: Row[] = [info('data', `${mib(gen.bytes)} MiB, ${gen.lines} lines, one file; ${reps} interleaved repetitions, medians`)];
    for (const p of paths) {
      const x = s[p.key]!;
      rows.push(
        info(`${p.label}: throughput`, x.mibs, 'MiB/s'),
        info(`${p.label}: CPU sender / receiver / total`, `${x.snd.toFixed(2)} / ${x.rcv.toFixed(2)} / ${x.tot.toFixed(2)}`, 'CPU s/GiB'),
        info(`${p.label}: peak RSS sender / receiver`, `${x.rssS.toFixed(0)} / ${x.rssR.toFixed(0)}`, 'MiB'),
        info(`${p.label}: sender start-up (separate start, empty input)`, x.startup, 'CPU s', 3),
        info(`${p.label}: CPU excluding sender start-up, sender / total`, `${x.sndEx.toFixed(2)} / ${x.totEx.toFixed(2)}`, 'CPU s/GiB'),
      );
    }
    const ls = s.logship!;
    const fd = s.fluentbit!;
    const f2 = s.fluentbit2m!;
    rows.push(
      atLeast('logship / Fluent Bit throughput', ls.mibs / fd.mibs, 4, 'x', 2),
      info('logship / Fluent Bit 2M throughput', ls.mibs / f2.mibs, 'x', 2),
      atMost('logship / Fluent Bit CPU s/GiB total', ls.tot / fd.tot, 0.25, 'x', 2),
      info('logship / Fluent Bit 2M CPU s/GiB total', ls.tot / f2.tot, 'x', 2),
      info('logship / Fluent Bit peak RSS sender', ls.rssS / fd.rssS, 'x', 2),
    );
    notes.push('logship: agent -> aggregator (local storage, fsync before ack, zstd on the wire)');
    notes.push(`Fluent Bit: ${version} tail (default 256k buffers) -> filesystem buffer -> forward -> Fluent Bit (forward in) -> file; Fluent Bit 2M: the same with 2 MiB read buffers`);
    notes.push('the input was read into the page cache before every run (Fluent Bit tail drops the cache of what it reads)');
    return { scenario: fluentBitCompare.name, seconds: 0, rows, notes, raw: { measured: true, version, reps, bytes: gen.bytes, lines: gen.lines, ...s } };
  } finally {
    await tmp.cleanup();
  }
}

async function runLogship(dir: string, input: string, gen: Generated): Promise<PathRun> {
  await mkdir(dir, { recursive: true });
  const stack = await benchStack(dir, [{ type: 'file', topic: 'cmp', include: [input], start_at: 'beginning' }], { agent: { batch: { max_bytes: '1MiB', max_wait: '1s' } } });
  const agg = await stack.startAggregator();
  const aw = new ProcWatch(agg.pid);
  try {
    const senderStartupCpu = await agentStartupCpu(stack, join(dir, 'startup'));
    const t0 = performance.now();
    const agent = await stack.startAgent();
    aw.mark();
    const gw = new ProcWatch(agent.pid);
    try {
      await untilAll(
        'logship',
        gen,
        () => topicCount(stack.aggUrl, 'cmp').catch(() => 0),
        () => {
          aw.sample();
          gw.sample();
          if (agent.child.exitCode !== null) throw new Error(`agent exited early:\n${agent.output().slice(-2000)}`);
        },
      );
      const seconds = (performance.now() - t0) / 1000;
      aw.sample();
      gw.sample();
      return { seconds, senderCpu: gw.cpu, senderStartupCpu, receiverCpu: aw.cpu, senderPeakRss: gw.peakRss, receiverPeakRss: aw.peakRss };
    } finally {
      await stopService(agent);
    }
  } finally {
    await stopService(agg);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fluent Bit classic-format configs for the two ends, written for this run (our own, from the description of the path). */
function fbConfigs(state: string, input: string, port: number, chunk: string): { rx: string; tx: string } {
  const rx = [
    '[SERVICE]',
    '    Flush        0.2',
    '    Log_Level    warn',
    '    Daemon       off',
    '[INPUT]',
    '    Name    forward',
    '    Listen  127.0.0.1',
    `    Port    ${port}`,
    '[OUTPUT]',
    '    Name   file',
    '    Match  *',
    `    Path   ${join(state, 'rx')}`,
    '    File   fb.out',
    '',
  ].join('\n');
  const tx = [
    '[SERVICE]',
    '    Flush                     0.2',
    '    Log_Level                 warn',
    '    Daemon                    off',
    `    storage.path              ${join(state, 'tx', 'storage')}`,
    '    storage.sync              normal',
    '    storage.checksum          off',
    '    storage.max_chunks_up     128',
    '    storage.backlog.mem_limit 64M',
    '[INPUT]',
    '    Name              tail',
    `    Path              ${input}`,
    '    Read_from_Head    true',
    `    DB                ${join(state, 'tx', 'tail.db')}`,
    `    Buffer_Chunk_Size ${chunk}`,
    `    Buffer_Max_Size   ${chunk}`,
    '    storage.type      filesystem',
    '[OUTPUT]',
    '    Name   forward',
    '    Match  *',
    '    Host   127.0.0.1',
    `    Port   ${port}`,
    '',
  ].join('\n');
  return { rx, tx };
}

export async function runFluentBit(fb: string, state: string, input: string, gen: Generated, chunk: string): Promise<PathRun> {
  await mkdir(join(state, 'rx'), { recursive: true });
  await mkdir(join(state, 'tx'), { recursive: true });
  const port = await freePort();
  const conf = fbConfigs(state, input, port, chunk);
  await writeFile(join(state, 'rx.conf'), conf.rx);
  await writeFile(join(state, 'tx.conf'), conf.tx);
  const receiver = spawnTracked('fluent-bit receiver', fb, ['-c', join(state, 'rx.conf')]);
  let sender: ReturnType<typeof spawnTracked> | undefined;
  try {
    await waitFor(() => `Fluent Bit receiver on port ${port}\n${receiver.output().slice(-2000)}`, () => {
      if (receiver.child.exitCode !== null) throw new Error(`Fluent Bit receiver exited:\n${receiver.output().slice(-2000)}`);
      return canConnect(port);
    }, 20_000, 50);
    const senderStartupCpu = await fluentBitStartupCpu(fb, join(state, 'startup'), port, chunk);
    const rw = new ProcWatch(receiver.pid);
    const t0 = performance.now();
    sender = spawnTracked('fluent-bit sender', fb, ['-c', join(state, 'tx.conf')]);
    rw.mark();
    const sw = new ProcWatch(sender.pid);
    const counter = newlineCounter(join(state, 'rx', 'fb.out'));
    const s = sender;
    try {
      await untilAll('Fluent Bit', gen, () => counter.count(), () => {
        rw.sample();
        sw.sample();
        if (s.child.exitCode !== null || receiver.child.exitCode !== null) throw new Error(`Fluent Bit exited early:\n${s.output().slice(-2000)}\n${receiver.output().slice(-2000)}`);
      });
    } finally {
      await counter.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    rw.sample();
    sw.sample();
    return { seconds, senderCpu: sw.cpu, senderStartupCpu, receiverCpu: rw.cpu, senderPeakRss: sw.peakRss, receiverPeakRss: rw.peakRss };
  } finally {
    if (sender) await stopService(sender, 5_000);
    await stopService(receiver, 5_000);
    await rm(state, { recursive: true, force: true });
  }
}

/**
 * CPU seconds of the Fluent Bit sender's start-up alone: the same sender config (tail on an
 * empty directory, its own DB and storage) from spawn until its CPU stops growing, then stopped.
 */
async function fluentBitStartupCpu(fb: string, state: string, port: number, chunk: string): Promise<number> {
  await mkdir(join(state, 'empty'), { recursive: true });
  await mkdir(join(state, 'tx'), { recursive: true });
  await writeFile(join(state, 'tx.conf'), fbConfigs(state, join(state, 'empty', '*.log'), port, chunk).tx);
  const p = spawnTracked('fluent-bit sender (start-up)', fb, ['-c', join(state, 'tx.conf')]);
  try {
    const cpu = await settledCpu(p.pid);
    if (p.child.exitCode !== null) throw new Error(`Fluent Bit start-up run exited (${p.child.exitCode}):\n${p.output().slice(-2000)}`);
    return cpu;
  } finally {
    await stopService(p, 5_000);
    await rm(state, { recursive: true, force: true });
  }
}

/** Polls count() every 100 ms until it reaches every generated line (bounded by BENCH_TIMEOUT_S). */
async function untilAll(who: string, gen: Generated, count: () => Promise<number>, check: () => void): Promise<void> {
  const t0 = performance.now();
  let n = 0;
  const pr = progress(() => `${who}: ${n} / ${gen.lines} lines, ${(((n / gen.lines) * gen.bytes) / MiB / ((performance.now() - t0) / 1000)).toFixed(1)} MiB/s`);
  const deadline = Date.now() + envNumber('BENCH_TIMEOUT_S', 1800) * 1000;
  try {
    for (;;) {
      n = await count();
      check();
      if (n >= gen.lines) return;
      if (Date.now() > deadline) throw new Error(`${who} timed out with ${n} of ${gen.lines} lines`);
      await sleep(100);
    }
  } finally {
    pr.stop();
  }
}

async function runOnce(cmd: string, args: string[]): Promise<string> {
  const p = spawnTracked(cmd, cmd, args);
  await p.exited;
  return p.output();
}
