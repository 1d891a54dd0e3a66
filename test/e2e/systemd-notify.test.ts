/**
 * Type=notify: each program, run with NOTIFY_SOCKET pointing at a datagram
 * socket this test owns, says READY=1 only once it listens, keeps STATUS=
 * current, wraps a SIGHUP reload in RELOADING=1 ... READY=1, says STOPPING=1
 * on SIGTERM, and pings WATCHDOG=1 only while it makes progress (the agent's
 * pipeline wedged by the LOGSHIP_TEST_HOOKS SIGUSR2 hook stops the pings).
 */
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createSocket } from 'unix-dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, makeStack, spawnLogship, stop, tempDir, waitFor } from '../helpers/procs.js';

afterAll(killAll);

interface Msg {
  at: number;
  fields: Record<string, string>;
  /** the aggregator's port accepted a connection when the message arrived */
  listening?: boolean;
}

/** A notify socket like systemd's: collects each datagram as KEY=value fields. */
function notifySocket(path: string, probePort?: number) {
  const msgs: Msg[] = [];
  const sock = createSocket('unix_dgram');
  sock.bind(path);
  sock.on('message', (buf: Buffer) => {
    const fields: Record<string, string> = {};
    for (const line of buf.toString('utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
    }
    const m: Msg = { at: Date.now(), fields };
    msgs.push(m);
    if (probePort !== undefined && fields.READY === '1') {
      // Is the listener up at the moment READY arrives?
      const c = connect(probePort, '127.0.0.1');
      c.on('connect', () => ((m.listening = true), c.destroy()));
      c.on('error', () => (m.listening = false));
    }
  });
  return {
    msgs,
    with: (key: string, value?: string) => msgs.filter((m) => key in m.fields && (value === undefined || m.fields[key] === value)),
    close: () => sock.close(),
  };
}

describe('systemd notify (Type=notify)', () => {
  it('aggregator: READY after the listener is up, STATUS, RELOADING/READY around SIGHUP, STOPPING on SIGTERM', { timeout: 90_000 }, async () => {
    const t = await tempDir();
    const stack = await makeStack(t.dir, []);
    const sock = notifySocket(join(t.dir, 'notify.sock'), stack.aggPort);
    try {
      const agg = spawnLogship(['aggregator', '--config', stack.aggConfig], { NOTIFY_SOCKET: join(t.dir, 'notify.sock') });
      const ready = await waitFor(() => `READY=1\n${agg.output()}`, () => sock.with('READY', '1')[0], 30_000, 20);
      await waitFor('listener probe', () => ready.listening !== undefined, 5_000, 10);
      expect(ready.listening).toBe(true);
      expect(Number(ready.fields.MAINPID)).toBe(agg.child.pid);
      expect(ready.fields.STATUS).toMatch(/^listening on 127\.0\.0\.1:\d+, storing \d+ records\/s/);
      // STATUS is refreshed (every 5 s, only when it changed): create a topic so the line changes.
      await fetch(`${stack.aggUrl}/v1/topics`).catch(() => undefined);
      const statuses = () => sock.with('STATUS').length;
      const before = statuses();

      const n = sock.msgs.length;
      agg.child.kill('SIGHUP');
      const reload = await waitFor('RELOADING then READY', () => {
        const after = sock.msgs.slice(n);
        const r = after.findIndex((m) => m.fields.RELOADING === '1');
        const ok = r >= 0 ? after.slice(r + 1).find((m) => m.fields.READY === '1') : undefined;
        return ok ? { reloading: after[r]!, ready: ok } : undefined;
      }, 30_000, 20);
      expect(Number(reload.reloading.fields.MONOTONIC_USEC)).toBeGreaterThan(0);
      expect(statuses()).toBeGreaterThan(before);

      // An invalid config: RELOADING, then READY again with the refusal in STATUS; still serving.
      const good = await readFile(stack.aggConfig, 'utf8');
      await writeFile(stack.aggConfig, good + 'bogus_key: 1\n');
      const m = sock.msgs.length;
      agg.child.kill('SIGHUP');
      const refused = await waitFor('READY after a refused reload', () => sock.msgs.slice(m).find((x) => x.fields.READY === '1'), 30_000, 20);
      expect(refused.fields.STATUS).toMatch(/reload refused/);
      expect((await fetch(`${stack.aggUrl}/healthz`)).ok).toBe(true);

      const s = sock.msgs.length;
      expect(await stop(agg)).toBe(0);
      expect(sock.msgs.slice(s).some((x) => x.fields.STOPPING === '1')).toBe(true);
    } finally {
      sock.close();
      await t.cleanup();
    }
  });

  it('agent: WATCHDOG=1 while it makes progress; the pings stop while the pipeline is wedged and resume after', { timeout: 120_000 }, async () => {
    const t = await tempDir();
    const logs = join(t.dir, 'logs');
    await mkdir(logs);
    const stack = await makeStack(t.dir, [{ type: 'file', topic: 'app', include: [join(logs, '*.log')], start_at: 'beginning' }]);
    const sock = notifySocket(join(t.dir, 'notify.sock'));
    try {
      const agg = await stack.startAggregator();
      // WatchdogSec=1s: pings every 500 ms.
      const agent = spawnLogship(['agent', '--config', stack.agentConfig], { NOTIFY_SOCKET: join(t.dir, 'notify.sock'), WATCHDOG_USEC: '1000000', LOGSHIP_TEST_HOOKS: '1' });
      const ready = await waitFor(() => `agent READY\n${agent.output()}`, () => sock.with('READY', '1')[0], 30_000, 20);
      expect(ready.fields.STATUS).toMatch(/^shipping .*\/s, lag .*, buffer .* \/ 2\.0 GiB, aggregator reachable$/);
      await waitFor('watchdog pings', () => sock.with('WATCHDOG', '1').length >= 3, 10_000, 50);
      let i = 0;
      const write = async (n: number) => {
        let s = '';
        for (let k = 0; k < n; k++) s += `line ${i++}\n`;
        await appendFile(join(logs, 'a.log'), s);
      };
      await write(100);

      // Wedge: appends held; new lines make batches that wait for a buffer with room -> stuck after 10 s.
      agent.child.kill('SIGUSR2');
      await waitFor('hold logged', () => agent.output().includes('test hook: pipeline appends held'), 10_000);
      await write(100);
      await waitFor(() => `pings withheld\n${agent.output().slice(-2000)}`, () => agent.output().includes('systemd watchdog pings withheld'), 40_000, 100);
      const quietFrom = Date.now();
      // STATUS= is refreshed every 5 s: the wedge shows in it (and no ping comes meanwhile).
      await waitFor('STATUS says STUCK', () => sock.msgs.some((m) => !m.fields.READY && m.fields.STATUS?.includes('STUCK')), 15_000, 50);
      await new Promise((r) => setTimeout(r, Math.max(0, 2_500 - (Date.now() - quietFrom))));
      expect(sock.msgs.filter((m) => m.at > quietFrom && m.fields.WATCHDOG === '1')).toEqual([]);

      // Release: progress again, pings again, and every line arrives once.
      agent.child.kill('SIGUSR2');
      const resumed = Date.now();
      await waitFor('pings resume', () => sock.msgs.some((m) => m.at > resumed && m.fields.WATCHDOG === '1'), 30_000, 50);
      await waitFor('200 lines stored', async () => {
        const r = await fetch(`${stack.aggUrl}/v1/topics`);
        const j = (await r.json()) as { topics: Array<{ name: string; partitions: Array<{ first_offset: number; next_offset: number }> }> };
        const app = j.topics.find((x) => x.name === 'app');
        return app ? app.partitions.reduce((a, p) => a + p.next_offset - p.first_offset, 0) === 200 : false;
      }, 30_000);
      // STATUS= kept current between the lifecycle messages: after the release it says so again.
      await waitFor('STATUS back to reachable', () => sock.msgs.some((m) => m.at > resumed && !m.fields.READY && m.fields.STATUS?.endsWith('aggregator reachable')), 15_000, 50);
      const s = sock.msgs.length;
      expect(await stop(agent)).toBe(0);
      expect(sock.msgs.slice(s).some((x) => x.fields.STOPPING === '1')).toBe(true);
      expect(await stop(agg)).toBe(0);
    } finally {
      sock.close();
      await t.cleanup();
    }
  });

  it('without NOTIFY_SOCKET nothing is sent and nothing native is loaded', async () => {
    const { SystemdNotifier } = await import('../../lib/obs/systemd.js');
    const { createLogger } = await import('../../lib/obs/logger.js');
    const n = new SystemdNotifier(createLogger({ level: 'silent' }), {});
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeUndefined();
    await n.ready('x');
    await n.close();
    const w = new SystemdNotifier(createLogger({ level: 'silent' }), { NOTIFY_SOCKET: '@abstract', WATCHDOG_USEC: '4000000', WATCHDOG_PID: String(process.pid + 1) });
    expect(w.socketPath).toBe('\0abstract');
    expect(w.watchdogIntervalMs).toBeUndefined(); // the watchdog is for another PID
  });
});
