/**
 * The systemd notification protocol (sd_notify(3)): datagrams of
 * newline-separated `KEY=value` lines sent to the unix socket named by
 * $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace). Node has no
 * unix datagram sockets, so the sending is done by `unix-dgram` (a small
 * addon by a libuv maintainer, built at install; no libsystemd needed), loaded
 * only when $NOTIFY_SOCKET is set: without it every call here is a no-op and
 * nothing native is loaded. (`systemd-notify` from a child process was ruled
 * out: systemd attributes a message by the sender's PID, and the helper exits
 * before systemd looks it up, so messages get lost or need NotifyAccess=all.)
 *
 * Watchdog: with WatchdogSec= in the unit, systemd sets $WATCHDOG_USEC (and
 * $WATCHDOG_PID); we send WATCHDOG=1 every half period, but only while the
 * service says it makes progress, so systemd restarts a wedged process.
 */
import type { Logger } from './logger.js';

interface DgramLike {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  close(): void;
}

export interface NotifyEnv {
  NOTIFY_SOCKET?: string | undefined;
  WATCHDOG_USEC?: string | undefined;
  WATCHDOG_PID?: string | undefined;
}

export class SystemdNotifier {
  readonly socketPath: string | undefined;
  /** half the watchdog period, when systemd asked for pings (ms) */
  readonly watchdogIntervalMs: number | undefined;
  #logger: Logger;
  #sock: Promise<DgramLike | undefined> | undefined;
  #warned = false;
  #watchdog: NodeJS.Timeout | undefined;
  #lastStatus = '';

  constructor(logger: Logger, env: NotifyEnv = process.env) {
    this.#logger = logger;
    const p = env.NOTIFY_SOCKET;
    // "@name" is the abstract namespace: a leading NUL byte on the wire.
    this.socketPath = p && (p.startsWith('/') || p.startsWith('@')) ? (p.startsWith('@') ? `\0${p.slice(1)}` : p) : undefined;
    if (p && !this.socketPath) logger.warn({ NOTIFY_SOCKET: p }, 'NOTIFY_SOCKET is neither an absolute path nor @abstract; not notifying systemd');
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    this.watchdogIntervalMs = this.socketPath && forUs && Number.isFinite(usec) && usec > 0 ? Math.max(50, Math.floor(usec / 2000)) : undefined;
  }

  get enabled(): boolean {
    return this.socketPath !== undefined;
  }

  /** Sends one message; resolves when sent (or when sending failed: logged once, never thrown). */
  async send(fields: Record<string, string | number>): Promise<void> {
    if (!this.socketPath) return;
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
      .join('\n');
    const sock = await this.#socket();
    if (!sock) return;
    const buf = Buffer.from(text, 'utf8');
    await new Promise<void>((resolve) => {
      try {
        sock.send(buf, 0, buf.length, this.socketPath!, (err) => {
          if (err) this.#warnOnce(err);
          resolve();
        });
      } catch (err) {
        this.#warnOnce(err as Error);
        resolve();
      }
    });
  }

  ready(status?: string): Promise<void> {
    return this.send({ READY: 1, ...(status ? { STATUS: status } : {}), MAINPID: process.pid });
  }

  /** STATUS= (only when it changed). */
  status(text: string): Promise<void> {
    if (text === this.#lastStatus) return Promise.resolve();
    this.#lastStatus = text;
    return this.send({ STATUS: text });
  }

  reloading(): Promise<void> {
    // MONOTONIC_USEC: systemd 253+ wants it with RELOADING=1; older ones ignore it.
    return this.send({ RELOADING: 1, MONOTONIC_USEC: (process.hrtime.bigint() / 1000n).toString(), STATUS: 'reloading the configuration' });
  }

  stopping(): Promise<void> {
    this.stopWatchdog();
    return this.send({ STOPPING: 1, STATUS: 'stopping: flushing and saving positions' });
  }

  /**
   * Pings WATCHDOG=1 every half period while progressing() holds. The timer
   * itself proves the event loop runs; progressing() says the work does.
   */
  startWatchdog(progressing: () => boolean): void {
    if (this.watchdogIntervalMs === undefined || this.#watchdog) return;
    let wedged = false;
    this.#watchdog = setInterval(() => {
      if (progressing()) {
        if (wedged) this.#logger.info('progress again: systemd watchdog pings resumed');
        wedged = false;
        void this.send({ WATCHDOG: 1 });
      } else if (!wedged) {
        wedged = true;
        this.#logger.error('no progress: systemd watchdog pings withheld, so systemd restarts the service if this lasts WatchdogSec');
      }
    }, this.watchdogIntervalMs);
    this.#watchdog.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  async close(): Promise<void> {
    this.stopWatchdog();
    const s = await this.#sock;
    s?.close();
    this.#sock = undefined;
  }

  #socket(): Promise<DgramLike | undefined> {
    this.#sock ??= import('unix-dgram').then(
      (m) => {
        const sock = m.createSocket('unix_dgram');
        sock.on('error', (err: Error) => this.#warnOnce(err));
        return sock as DgramLike;
      },
      (err: unknown) => {
        this.#logger.error({ err }, 'NOTIFY_SOCKET is set but the unix-dgram addon cannot be loaded; systemd will not see READY (reinstall logship: its install builds the addon)');
        return undefined;
      },
    );
    return this.#sock;
  }

  #warnOnce(err: Error): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#logger.warn({ err, socket: process.env.NOTIFY_SOCKET }, 'cannot send to NOTIFY_SOCKET; systemd notifications are lost');
  }
}
