/**
 * Chaos soak: real agent and aggregator processes, a writer appending numbered lines to several
 * files without pause, and random faults every few seconds: agent kill -9 and restart, aggregator
 * kill -9, aggregator outages long enough to fill and block the agent's buffer, rename rotation,
 * logrotate `create` and `copytruncate` (real logrotate, writer not paused), delete-while-open,
 * graceful restarts, and SIGHUP reloads of either process (the agent's with a changed config).
 * At the end every line is checked: exactly once, in order per file generation, except the
 * lines a copytruncate itself destroys (written after logrotate's copy and before its truncate:
 * docs/tailing.md), which are measured and reported.
 *
 *   npm run soak -- --minutes 8 --seed 42 [--rate 3000] [--files 6] [--buffer 4MiB] [--start-at end|beginning] [--dir D] [--keep]
 *
 * --start-at end (the agent's default) writes a history of lines to every file before the agent's
 * first start; the agent must read from their ends, and a history line stored is a violation
 * (a file read again from its start). With `beginning` the files start empty.
 *
 * Prints every action as it happens, progress every 30 s, then a summary; on any violation
 * prints it with the actions around it in time, keeps the scratch directory and exits 1.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { countLogged, freePort, spawnLogship, type Proc, writeYaml } from '../helpers/procs.js';
import { readCommand } from '../../aggregator/client/read.js';
import { makeRng } from '../bench/gen-nginx.js';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------- options

interface Options {
  minutes: number;
  seed: number;
  rate: number;
  files: number;
  buffer: string;
  startAt: 'beginning' | 'end';
  dir?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  // 4 MiB fills in about 15 s at 3,000 lines/s of these lines (~1.3:1 under zstd), so every 20-40 s outage fills and blocks it.
  const o: Options = { minutes: 8, seed: Math.floor(Math.random() * 2 ** 31), rate: 3000, files: 6, buffer: '4MiB', startAt: 'end', keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--minutes') o.minutes = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--rate') o.rate = Number(v());
    else if (a === '--files') o.files = Number(v());
    else if (a === '--buffer') o.buffer = v();
    else if (a === '--start-at') {
      const x = v();
      if (x !== 'beginning' && x !== 'end') throw new Error('--start-at is beginning or end');
      o.startAt = x;
    }
    else if (a === '--dir') o.dir = v();
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run soak -- [--minutes N] [--seed S] [--rate LINES_PER_S] [--files N] [--buffer SIZE] [--start-at end|beginning] [--dir SCRATCH] [--keep]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  for (const [k, x] of [['minutes', o.minutes], ['seed', o.seed], ['rate', o.rate], ['files', o.files]] as const) {
    if (!Number.isFinite(x) || x <= 0) throw new Error(`--${k} must be a positive number`);
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it is truthy; throws after timeoutMs with the (lazily built) description. */
async function until(what: () => string, fn: () => Promise<unknown> | unknown, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- the writer

/** One application log file: numbered lines `<file> <seq> <random>`; the writer never pauses. */
class LogFile {
  readonly id: number;
  readonly path: string;
  fd: number;
  seq = 0;
  /** seq at which each generation (one file's content, one stream for the agent) begins */
  genStarts: number[] = [0];
  /** write time of every line, by seq (for placing an anomaly among the actions) */
  times = new Float64Array(1 << 16);
  /** copytruncate windows [from, to): lines that may be missing (written after the copy, before the truncate) */
  windows: Array<[number, number]> = [];
  /** a fault on this file is running (one at a time per file) */
  busy = false;

  constructor(id: number, path: string) {
    this.id = id;
    this.path = path;
    this.fd = openSync(path, 'a');
  }

  write(n: number, now: number): number {
    let s = '';
    for (let i = 0; i < n; i++) {
      if (this.seq >= this.times.length) {
        const t = new Float64Array(this.times.length * 2);
        t.set(this.times);
        this.times = t;
      }
      this.times[this.seq] = now;
      s += `${this.id} ${String(this.seq++).padStart(9, '0')} ${randomBytes(72).toString('base64')}\n`;
    }
    const b = Buffer.from(s);
    writeSync(this.fd, b);
    return b.length;
  }

  /** The application reopens its log (after a rename or a delete): a new file, a new generation. */
  reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
    this.genStarts.push(this.seq);
  }

  genOf(seq: number): number {
    let lo = 0;
    let hi = this.genStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.genStarts[mid]! <= seq) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  inWindow(seq: number): boolean {
    for (const [a, b] of this.windows) if (seq >= a && seq < b) return true;
    return false;
  }
}

// ---------------------------------------------------------------- processes

interface AgentStatus {
  files: Array<{ path: string; offset: number; size: number; state: string }>;
  buffer: { bytes: number; max_bytes: number; unacked_batches: number };
  backlog: { bytes_to_read: number };
  health: { ok: boolean; state?: string; problems: string[] };
}

class Soak {
  o: Options;
  rand: () => number;
  dir = '';
  logs = '';
  files: LogFile[] = [];
  aggPort = 0;
  statusPort = 0;
  aggUrl = '';
  aggConfig = '';
  agentConfig = '';
  agent: Proc | undefined;
  agg: Proc | undefined;
  /** the aggregator is down on purpose until this time (outage) */
  aggDownUntil = 0;
  /** an outage is in progress (stopped, or restarting) */
  aggDown = false;
  /** agent kills wait while a deleted file is being drained (its unread lines exist nowhere else) */
  drainingDeleted = false;
  start = Date.now();
  actions: Array<{ t: number; what: string }> = [];
  counts = new Map<string, number>();
  peakRss = { agent: 0, aggregator: 0 };
  written = 0;
  bytes = 0;
  rotationSeq = 0;
  anomalies: string[] = [];
  rejectedProcesses: string[] = [];

  constructor(o: Options) {
    this.o = o;
    // seeded (mulberry32), so a seed replays the same schedule of faults
    this.rand = makeRng(o.seed);
  }

  log(msg: string): void {
    console.log(`[soak ${((Date.now() - this.start) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
  }

  action(what: string, detail = ''): void {
    this.actions.push({ t: Date.now(), what: `${what}${detail ? ' ' + detail : ''}` });
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
    this.log(`${what}${detail ? ' ' + detail : ''}`);
  }

  async setup(): Promise<void> {
    this.dir = this.o.dir ?? (await mkdtemp(join(tmpdir(), 'logship-soak-')));
    await mkdir(this.dir, { recursive: true });
    this.logs = join(this.dir, 'logs');
    await mkdir(this.logs, { recursive: true });
    await mkdir(join(this.dir, 'proc-logs'), { recursive: true });
    for (let i = 0; i < this.o.files; i++) this.files.push(new LogFile(i, join(this.logs, `app${i}.log`)));
    this.aggPort = await freePort();
    this.statusPort = await freePort();
    this.aggUrl = `http://127.0.0.1:${this.aggPort}`;
    this.aggConfig = await writeYaml(join(this.dir, 'aggregator.yaml'), {
      listen: `127.0.0.1:${this.aggPort}`,
      data_dir: join(this.dir, 'agg-data'),
      topics: { default: { partitions: 4 } },
    });
    await this.writeAgentConfig();
    for (const f of this.files) {
      await writeFile(join(this.dir, `logrotate-create-${f.id}.conf`), `${f.path} {\n  rotate 100000\n  missingok\n  ifempty\n  create\n}\n`);
      await writeFile(join(this.dir, `logrotate-copytruncate-${f.id}.conf`), `${f.path} {\n  rotate 100000\n  missingok\n  ifempty\n  copytruncate\n}\n`);
    }
  }

  /** Reloads so far: each one alternates batch.max_wait, so a SIGHUP reloads a config that changed. */
  agentReloads = 0;

  get agentMaxWait(): string {
    return this.agentReloads % 2 ? '300ms' : '200ms';
  }

  async writeAgentConfig(): Promise<void> {
    this.agentConfig = await writeYaml(join(this.dir, 'agent.yaml'), {
      id: 'soak-host',
      data_dir: join(this.dir, 'agent-data'),
      aggregator: { urls: [this.aggUrl], max_backoff: '2s' },
      // Every rotated name is matched (docs/tailing.md: a copy or rename that is matched is read to its
      // end even when the agent was down across rotations); compressed rotations are not.
      inputs: [{ type: 'file', topic: 'soak', include: [join(this.logs, 'app*.log*')], exclude: ['*.gz'], start_at: this.o.startAt }],
      batch: { max_bytes: '1MiB', max_wait: this.agentMaxWait },
      buffer: { max_bytes: this.o.buffer, when_full: 'block' },
      status: { listen: `127.0.0.1:${this.statusPort}` },
    });
  }

  /** Every process's output goes to <scratch>/proc-logs/<name>-<pid>.log, kept with the scratch data. */
  spawn(name: string, args: string[]): Proc {
    const p = spawnLogship(args);
    const file = join(this.dir, 'proc-logs', `${name}-${p.child.pid}.log`);
    const keep = (d: Buffer) => {
      try {
        appendFileSync(file, d);
      } catch {
        /* scratch dir gone at the very end */
      }
    };
    p.child.stdout!.on('data', keep);
    p.child.stderr!.on('data', keep);
    return p;
  }

  /**
   * SIGTERM and wait: the contract says a clean exit within 10 s. Past 20 s (a loaded machine gets
   * slack) it is an anomaly, reported with the process state, and the process is SIGKILLed.
   */
  async stopProc(p: Proc, name: string): Promise<number | null> {
    if (!this.alive(p)) return p.child.exitCode;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      let state = '';
      try {
        const f = readFileSync(`/proc/${p.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        state = `state ${f[0]}, utime ${f[11]} stime ${f[12]} ticks`;
      } catch {
        state = 'no /proc entry';
      }
      this.anomalies.push(`${name} (pid ${p.child.pid}) did not exit within 20 s of SIGTERM (${state}); SIGKILLed. Its log: ${join(this.dir, 'proc-logs', `${name}-${p.child.pid}.log`)}`);
      p.child.kill('SIGKILL');
    }, 20_000);
    const code = await p.exited;
    clearTimeout(timer);
    return code;
  }

  /**
   * While the aggregator is down its port is held by a listener that resets every connection
   * (the agent sees a dead aggregator), so no other process on this busy machine takes the port
   * as its ephemeral port meanwhile (a lost port made the restart fail: seed 107's first run).
   */
  holder: Server | undefined;

  async holdPort(): Promise<void> {
    const h = createServer((sock) => sock.destroy());
    const ok = await new Promise<boolean>((resolve) => {
      h.once('error', () => resolve(false));
      h.listen(this.aggPort, '127.0.0.1', () => resolve(true));
    });
    if (ok) this.holder = h;
    else this.log(`(could not hold port ${this.aggPort} while the aggregator is down)`);
  }

  async releasePort(): Promise<void> {
    const h = this.holder;
    this.holder = undefined;
    if (h) await new Promise((r) => h.close(r));
  }

  /** Restarts the aggregator; a failed start is an anomaly, retried a few times. */
  async restartAggregator(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.releasePort();
      try {
        await this.startAggregator();
        return;
      } catch (err) {
        this.anomalies.push(`aggregator restart attempt ${attempt} failed: ${(err as Error).message.slice(0, 2000)}`);
        if (this.agg && this.alive(this.agg)) this.agg.child.kill('SIGKILL');
        if (attempt >= 3) throw err;
        await sleep(2000);
      }
    }
  }

  async startAggregator(): Promise<void> {
    const p = this.spawn('aggregator', ['aggregator', '--config', this.aggConfig]);
    this.agg = p;
    await until(() => `aggregator ready\n${p.output().slice(-3000)}`, async () => (await fetch(`${this.aggUrl}/readyz`)).ok, 60_000, 100);
  }

  async startAgent(): Promise<void> {
    const p = this.spawn('agent', ['agent', '--config', this.agentConfig]);
    this.agent = p;
    await until(() => `agent status listener\n${p.output().slice(-3000)}`, async () => (await fetch(`http://127.0.0.1:${this.statusPort}/healthz`)).status > 0, 60_000, 100);
  }

  alive(p: Proc | undefined): boolean {
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  async agentStatus(): Promise<AgentStatus | undefined> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.statusPort}/status`, { signal: AbortSignal.timeout(5_000) });
      return (await r.json()) as AgentStatus;
    } catch {
      return undefined;
    }
  }

  /** A process we did not stop on purpose has exited: a crash is a finding. */
  checkCrashed(p: Proc | undefined, name: string): void {
    if (p && !this.alive(p) && !this.rejectedProcesses.includes(name + p.child.pid)) {
      this.rejectedProcesses.push(name + p.child.pid);
      this.anomalies.push(`${name} (pid ${p.child.pid}) exited by itself (code ${p.child.exitCode}, signal ${p.child.signalCode}); its last output:\n${p.output().slice(-3000)}`);
    }
  }

  sampleRss(): void {
    for (const [name, p] of [['agent', this.agent], ['aggregator', this.agg]] as const) {
      if (!p || !this.alive(p)) continue;
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'));
        if (m) this.peakRss[name] = Math.max(this.peakRss[name], Number(m[1]) * 1024);
      } catch {
        /* exited between the check and the read */
      }
    }
  }

  // -------------------------------------------------------------- the writer loop

  writing = false;

  async writer(): Promise<void> {
    this.writing = true;
    const tickMs = 20;
    let carry = 0;
    let next = Date.now();
    let turn = 0;
    while (this.writing) {
      const now = Date.now();
      // lines due since the last tick, spread over the files in turn
      carry += (this.o.rate * tickMs) / 1000;
      const n = Math.floor(carry);
      carry -= n;
      const per = Math.floor(n / this.files.length);
      let extra = n - per * this.files.length;
      for (let i = 0; i < this.files.length; i++) {
        const f = this.files[(turn + i) % this.files.length]!;
        const k = per + (extra > 0 ? 1 : 0);
        if (extra > 0) extra--;
        if (k > 0) {
          this.bytes += f.write(k, now);
          this.written += k;
        }
      }
      turn++;
      next += tickMs;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else {
        next = Date.now();
        await sleep(0);
      }
    }
  }

  // -------------------------------------------------------------- faults

  pickFile(): LogFile | undefined {
    const free = this.files.filter((f) => !f.busy);
    return free.length ? free[Math.floor(this.rand() * free.length)] : undefined;
  }

  async agentKill(): Promise<void> {
    if (!this.alive(this.agent) || this.drainingDeleted) return this.skip('agent-kill', this.drainingDeleted ? 'a deleted file is being drained' : 'agent not running');
    const a = this.agent!;
    this.action('agent-kill', `pid ${a.child.pid}`);
    a.child.kill('SIGKILL');
    await a.exited;
    await sleep(this.rand() * 3000);
    await this.startAgent();
    this.log(`agent restarted, pid ${this.agent!.child.pid}`);
  }

  async agentRestart(): Promise<void> {
    if (!this.alive(this.agent)) return this.skip('agent-restart', 'agent not running');
    this.action('agent-restart', `SIGTERM pid ${this.agent!.child.pid}`);
    const code = await this.stopProc(this.agent!, 'agent');
    if (code !== 0) this.anomalies.push(`agent exited ${code} on SIGTERM (expected 0)`);
    await this.startAgent();
  }

  /**
   * SIGHUP with a changed config (batch.max_wait alternates): the agent closes (flush, checkpoint)
   * and starts again in the same process, which must neither lose nor repeat a line (CONTRACT).
   */
  async agentReload(): Promise<void> {
    if (!this.alive(this.agent)) return this.skip('agent-reload', 'agent not running');
    const a = this.agent!;
    this.agentReloads++;
    await this.writeAgentConfig();
    const started = countLogged(a, 'agent started');
    this.action('agent-reload', `SIGHUP pid ${a.child.pid} (batch.max_wait ${this.agentMaxWait})`);
    a.child.kill('SIGHUP');
    await until(() => `the agent to start again after SIGHUP\n${a.output().slice(-3000)}`, () => !this.alive(a) || countLogged(a, 'agent started') > started, 60_000, 100);
  }

  /** SIGHUP to the aggregator (same config): it closes its listener and storage and opens them again in the same process. */
  async aggReload(): Promise<void> {
    if (!this.alive(this.agg) || this.aggDown) return this.skip('aggregator-reload', 'aggregator down');
    const g = this.agg!;
    const listening = countLogged(g, 'aggregator listening');
    this.action('aggregator-reload', `SIGHUP pid ${g.child.pid}`);
    g.child.kill('SIGHUP');
    await until(() => `the aggregator to listen again after SIGHUP\n${g.output().slice(-3000)}`, () => !this.alive(g) || countLogged(g, 'aggregator listening') > listening, 60_000, 100);
  }

  async aggKill(): Promise<void> {
    if (!this.alive(this.agg) || this.aggDown) return this.skip('aggregator-kill', 'aggregator down');
    const g = this.agg!;
    this.action('aggregator-kill', `pid ${g.child.pid}`);
    g.child.kill('SIGKILL');
    await g.exited;
    await this.holdPort();
    await sleep(this.rand() * 5000);
    await this.restartAggregator();
    this.log(`aggregator restarted, pid ${this.agg!.child.pid}`);
  }

  aggOutage(): void {
    if (!this.alive(this.agg) || this.aggDown) return this.skip('aggregator-outage', 'aggregator down already');
    const ms = 20_000 + this.rand() * 20_000;
    this.aggDownUntil = Date.now() + ms;
    this.aggDown = true;
    this.action('aggregator-outage', `${(ms / 1000).toFixed(0)}s (the buffer fills and blocks)`);
    const p = this.agg!;
    void (async () => {
      const code = await this.stopProc(p, 'aggregator');
      if (code !== 0) this.anomalies.push(`aggregator exited ${code} on SIGTERM (expected 0)`);
      await this.holdPort();
      // watch the buffer fill and block while the aggregator is away
      let full = false;
      let peak = 0;
      while (Date.now() < this.aggDownUntil) {
        await sleep(Math.min(2000, Math.max(0, this.aggDownUntil - Date.now())));
        const st = await this.agentStatus();
        if (!st) continue;
        peak = Math.max(peak, st.buffer.bytes);
        if (st.health.problems.some((x) => x.includes('buffer full'))) full = true;
      }
      if (full) this.counts.set('outage-filled-buffer', (this.counts.get('outage-filled-buffer') ?? 0) + 1);
      this.log(`outage over: agent buffer peaked at ${(peak / 1048576).toFixed(1)} MiB${full ? ', full and blocking' : ''}`);
      await this.restartAggregator();
      this.aggDown = false;
      this.log(`aggregator back after the outage, pid ${this.agg!.child.pid}`);
    })().catch((err) => this.anomalies.push(`outage restart failed: ${err}`));
  }

  async renameRotate(): Promise<void> {
    const f = this.pickFile();
    if (!f) return this.skip('rename-rotation', 'every file busy');
    f.busy = true;
    try {
      const to = `${f.path}.r${String(++this.rotationSeq).padStart(5, '0')}`;
      this.action('rename-rotation', `${f.path} -> ${to}`);
      await rename(f.path, to);
      // the application reopens a moment later (its lines meanwhile go to the renamed file)
      await sleep(this.rand() * 300);
      f.reopen();
    } finally {
      f.busy = false;
    }
  }

  async logrotateCreate(): Promise<void> {
    const f = this.pickFile();
    if (!f) return this.skip('logrotate-create', 'every file busy');
    f.busy = true;
    try {
      this.action('logrotate-create', f.path);
      await execFileAsync(LOGROTATE!, ['-f', '-s', join(this.dir, `logrotate-${f.id}.state`), join(this.dir, `logrotate-create-${f.id}.conf`)]);
      await sleep(this.rand() * 300); // postrotate: the application reopens
      f.reopen();
    } finally {
      f.busy = false;
    }
  }

  async logrotateCopytruncate(): Promise<void> {
    const f = this.pickFile();
    if (!f) return this.skip('logrotate-copytruncate', 'every file busy');
    f.busy = true;
    try {
      const before = f.seq;
      const t0 = Date.now();
      await execFileAsync(LOGROTATE!, ['-f', '-s', join(this.dir, `logrotate-${f.id}.state`), join(this.dir, `logrotate-copytruncate-${f.id}.conf`)]);
      const ms = Date.now() - t0;
      // The window: lines after the copy's last line and before the first line of the truncated file.
      const copyLast = lastSeq(await tailOf(`${f.path}.1`));
      const head = await headOf(f.path);
      const truncFirst = head ? firstSeq(head) : f.seq;
      if (copyLast === undefined || truncFirst === undefined) {
        this.anomalies.push(`copytruncate of ${f.path}: cannot read the copy's last line or the new first line`);
        return;
      }
      f.windows.push([copyLast + 1, truncFirst]);
      // the truncated file's content is a new stream for the agent
      f.genStarts.push(truncFirst);
      this.action('logrotate-copytruncate', `${f.path} (copy took ${ms} ms while writing; lines ${before}.. copy ends at ${copyLast}, truncated file starts at ${truncFirst}: window ${truncFirst - copyLast - 1} lines)`);
    } finally {
      f.busy = false;
    }
  }

  async deleteWhileOpen(): Promise<void> {
    if (!this.alive(this.agent)) return this.skip('delete-while-open', 'agent not running');
    const st = await this.agentStatus();
    const f = this.pickFile();
    if (!f || !st) return this.skip('delete-while-open', 'no file or no status');
    if (!st.files.some((x) => x.path === f.path && x.state === 'open')) return this.skip('delete-while-open', `${f.path} not open in the agent`);
    f.busy = true;
    this.drainingDeleted = true;
    try {
      this.action('delete-while-open', f.path);
      // The agent holds the file open; the application's last lines are read through that
      // descriptor. No agent kill until it is drained: those lines exist nowhere else.
      await unlink(f.path);
      f.reopen();
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        await sleep(500);
        const s = await this.agentStatus();
        if (s && !s.files.some((x) => x.state === 'deleted' && x.offset < x.size)) break;
      }
    } finally {
      this.drainingDeleted = false;
      f.busy = false;
    }
  }

  skip(what: string, why: string): void {
    this.log(`(skipped ${what}: ${why})`);
  }

  async fault(): Promise<void> {
    const menu: Array<[number, () => Promise<void> | void]> = [
      [3, () => this.agentKill()],
      [2, () => this.aggKill()],
      [1, () => this.aggOutage()],
      [2, () => this.renameRotate()],
      [2, () => this.logrotateCreate()],
      [2, () => this.logrotateCopytruncate()],
      [1, () => this.deleteWhileOpen()],
      [1, () => this.agentRestart()],
      [1, () => this.agentReload()],
      [1, () => this.aggReload()],
    ];
    const total = menu.reduce((a, [w]) => a + w, 0);
    let r = this.rand() * total;
    for (const [w, f] of menu) {
      r -= w;
      if (r < 0) return void (await f());
    }
  }

  // -------------------------------------------------------------- run

  async run(): Promise<boolean> {
    await this.setup();
    this.log(`seed ${this.o.seed}, ${this.o.minutes} min, ${this.o.rate} lines/s over ${this.o.files} files, buffer ${this.o.buffer}, start_at ${this.o.startAt}, scratch ${this.dir}`);
    await this.startAggregator();
    if (this.o.startAt === 'end') {
      // A history the agent must never ship: it is there before the first start.
      for (const f of this.files) writeSync(f.fd, Buffer.from(Array.from({ length: 40 }, (_, i) => `history of ${f.id}: line ${i} ${'h'.repeat(60)}\n`).join('')));
    }
    await this.startAgent();
    if (this.o.startAt === 'end') {
      // The writer starts once every file is attached (from its end): lines before that are history too.
      await until(() => 'the agent to attach every file', async () => ((await this.agentStatus())?.files.length ?? 0) >= this.files.length, 60_000, 100);
    }
    const writer = this.writer();
    const rss = setInterval(() => this.sampleRss(), 1000);
    const progress = setInterval(async () => {
      const st = await this.agentStatus();
      const acts = [...this.counts].map(([k, v]) => `${k} ${v}`).join(', ');
      this.log(`progress: ${this.written} lines written (${(this.bytes / 1048576).toFixed(0)} MiB); agent ${st ? `buffer ${(st.buffer.bytes / 1048576).toFixed(1)} MiB, ${st.buffer.unacked_batches} unacked, ${st.health.state ?? (st.health.ok ? 'ok' : 'degraded')}` : 'not answering'}; actions: ${acts || 'none yet'}`);
    }, 30_000);
    const end = this.start + this.o.minutes * 60_000;
    try {
      while (Date.now() < end) {
        await sleep(5_000 + this.rand() * 15_000);
        if (Date.now() >= end) break;
        this.checkCrashed(this.agent, 'agent');
        if (!this.aggDown) this.checkCrashed(this.agg, 'aggregator');
        await this.fault();
      }
    } finally {
      this.writing = false;
      await writer;
      clearInterval(progress);
    }
    this.log(`writing stopped: ${this.written} lines; waiting for the outage to end and the agent to catch up`);
    await until(() => 'the aggregator back after the outage', () => !this.aggDown && this.alive(this.agg), 60_000, 500);
    if (!this.alive(this.agent)) await this.startAgent();
    const caughtUp = await this.waitCaughtUp();
    clearInterval(rss);
    this.sampleRss();
    const ok = await this.verify(caughtUp);
    const aCode = await this.stopProc(this.agent!, 'agent');
    const gCode = await this.stopProc(this.agg!, 'aggregator');
    if (aCode !== 0) this.anomalies.push(`agent exited ${aCode} on the final SIGTERM`);
    if (gCode !== 0) this.anomalies.push(`aggregator exited ${gCode} on the final SIGTERM`);
    for (const f of this.files) closeSync(f.fd);
    const pass = ok && this.anomalies.length === 0;
    if (this.anomalies.length) for (const a of this.anomalies) this.log(`ANOMALY: ${a}`);
    if (pass && !this.o.keep && !this.o.dir) await rm(this.dir, { recursive: true, force: true });
    else this.log(`scratch data kept in ${this.dir}`);
    this.log(pass ? 'PASS' : 'FAIL');
    return pass;
  }

  /** Everything written is read and acknowledged: no unacked batch, no unread byte, count stable. */
  async waitCaughtUp(): Promise<boolean> {
    const deadline = Date.now() + 300_000;
    let prev = -1;
    let stable = 0;
    while (Date.now() < deadline) {
      await sleep(1000);
      const st = await this.agentStatus();
      const n = await this.storedCount().catch(() => -1);
      const idle = st !== undefined && st.buffer.unacked_batches === 0 && st.backlog.bytes_to_read === 0 && st.files.every((f) => f.offset >= f.size);
      stable = idle && n === prev ? stable + 1 : 0;
      prev = n;
      if (stable >= 5) return true;
    }
    const st = await this.agentStatus();
    this.anomalies.push(`the agent did not catch up within 5 minutes after writing stopped; status: ${JSON.stringify(st)?.slice(0, 3000)}`);
    return false;
  }

  async storedCount(): Promise<number> {
    const r = await fetch(`${this.aggUrl}/v1/topics`);
    const t = (await r.json()) as { topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }> };
    return t.topics.find((x) => x.name === 'soak')?.partitions.reduce((a, p) => a + p.next_offset - p.first_offset, 0) ?? 0;
  }

  actionsAround(t: number, ms = 15_000): string {
    return this.actions
      .filter((a) => Math.abs(a.t - t) <= ms)
      .map((a) => `      ${((a.t - this.start) / 1000).toFixed(1)}s ${a.what}`)
      .join('\n');
  }

  async verify(caughtUp: boolean): Promise<boolean> {
    const counts = this.files.map((f) => new Uint8Array(f.seq));
    const last = new Map<string, number>();
    const dups: string[] = [];
    const order: string[] = [];
    const bad: string[] = [];
    let records = 0;
    let dupTotal = 0;
    let orderTotal = 0;
    let buf = '';
    const onLine = (line: string) => {
      if (!line) return;
      records++;
      const r = JSON.parse(line) as { source: string; partition: number; offset: number; source_offset: number; message: string };
      const m = /^(\d+) (\d{9}) /.exec(r.message);
      const f = m ? this.files[Number(m[1])] : undefined;
      const seq = m ? Number(m[2]) : NaN;
      if (!m || !f || seq >= f.seq) {
        if (bad.length < 10) bad.push(`unexpected record ${line.slice(0, 300)}`);
        return;
      }
      const c = counts[f.id]!;
      if (c[seq]! > 0) {
        dupTotal++;
        if (dups.length < 10) dups.push(`file ${f.id} line ${seq} stored again (partition ${r.partition} offset ${r.offset}, source ${r.source}@${r.source_offset}); written at ${((f.times[seq]! - this.start) / 1000).toFixed(1)}s, actions around it:\n${this.actionsAround(f.times[seq]!)}`);
      }
      if (c[seq]! < 255) c[seq]!++;
      const key = `${r.source}|${f.genOf(seq)}`;
      const prev = last.get(key);
      if (prev !== undefined && seq <= prev) {
        orderTotal++;
        if (order.length < 10) order.push(`file ${f.id} line ${seq} after line ${prev} in ${r.source} (generation ${f.genOf(seq)}), partition ${r.partition} offset ${r.offset}; actions around it:\n${this.actionsAround(f.times[seq]!)}`);
      }
      last.set(key, seq);
    };
    await readCommand({
      url: this.aggUrl,
      topic: 'soak',
      fromBeginning: true,
      follow: false,
      format: 'json',
      write: (s: string) => {
        buf += s;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      },
    });
    onLine(buf);
    let missing = 0;
    let windowMissing = 0;
    let windowLines = 0;
    const miss: string[] = [];
    for (const f of this.files) {
      for (const [a, b] of f.windows) windowLines += Math.max(0, b - a);
      const c = counts[f.id]!;
      for (let s = 0; s < f.seq; s++) {
        if (c[s] !== 0) continue;
        if (f.inWindow(s)) {
          windowMissing++;
          continue;
        }
        missing++;
        if (miss.length < 10) miss.push(`file ${f.id} line ${s} missing; written at ${((f.times[s]! - this.start) / 1000).toFixed(1)}s, actions around it:\n${this.actionsAround(f.times[s]!)}`);
      }
    }
    const acts = [...this.counts].map(([k, v]) => `${k} ${v}`).join(', ');
    const mib = (n: number) => (n / 1048576).toFixed(0);
    this.log(`actions: ${acts}`);
    this.log(
      `result: seed ${this.o.seed}, ${this.o.minutes} min: ${this.written} lines written, ${records} records stored; ` +
        `missing ${missing} (outside copytruncate windows), duplicated ${dupTotal}, out of order ${orderTotal}, unexpected ${bad.length}; ` +
        `copytruncate windows: ${this.files.reduce((a, f) => a + f.windows.length, 0)} holding ${windowLines} lines, ${windowMissing} of them lost (documented), ${windowLines - windowMissing} read before the truncate; ` +
        `peak RSS agent ${mib(this.peakRss.agent)} MiB, aggregator ${mib(this.peakRss.aggregator)} MiB`,
    );
    for (const x of [...bad, ...miss, ...dups, ...order]) this.log(`VIOLATION: ${x}`);
    return caughtUp && missing === 0 && dupTotal === 0 && orderTotal === 0 && bad.length === 0;
  }
}

// ---------------------------------------------------------------- file helpers

async function tailOf(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const n = Math.min(size, 4096);
    const b = Buffer.alloc(n);
    await fh.read(b, 0, n, size - n);
    return b.toString('latin1');
  } finally {
    await fh.close();
  }
}

async function headOf(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(b, 0, 4096, 0);
    return b.subarray(0, bytesRead).toString('latin1');
  } finally {
    await fh.close();
  }
}

function lastSeq(tail: string): number | undefined {
  const lines = tail.split('\n').filter((l) => /^\d+ \d{9} /.test(l));
  const l = lines[lines.length - 1];
  return l === undefined ? undefined : Number(l.split(' ')[1]);
}

function firstSeq(head: string): number | undefined {
  const l = head.split('\n')[0];
  return l && /^\d+ \d{9} /.test(l) ? Number(l.split(' ')[1]) : undefined;
}

const LOGROTATE = ['/usr/sbin/logrotate', '/usr/bin/logrotate'].find((p) => existsSync(p));

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`soak: ${(err as Error).message}`);
    process.exit(2);
  }
  if (!LOGROTATE) {
    console.error('soak: logrotate is not installed: run deploy/test-deps.sh');
    process.exit(2);
  }
  const soak = new Soak(o);
  const stopAll = () => {
    for (const p of [soak.agent, soak.agg]) if (p && soak.alive(p)) p.child.kill('SIGKILL');
  };
  process.on('SIGINT', () => {
    stopAll();
    console.error(`soak: interrupted; scratch data kept in ${soak.dir}`);
    process.exit(130);
  });
  try {
    const pass = await soak.run();
    process.exit(pass ? 0 : 1);
  } catch (err) {
    stopAll();
    for (const a of soak.anomalies) console.error(`soak: ANOMALY: ${a}`);
    console.error(`soak: failed to run: ${(err as Error).stack ?? err}; scratch data kept in ${soak.dir}`);
    process.exit(1);
  }
}

void main();
