/**
 * Runs a long-lived service (agent, aggregator or both): SIGTERM/SIGINT close
 * it gracefully (forced exit after 10 s); SIGHUP loads the config again and, if
 * it is valid, restarts the service in-process on the new config: close()
 * flushes and checkpoints, so nothing is lost or repeated. An invalid new config
 * is refused with an error and the running service keeps going.
 *
 * Under systemd (Type=notify, $NOTIFY_SOCKET set) it also says READY=1 once
 * the service is started (listening, buffer or storage open), keeps STATUS=
 * current, wraps a reload in RELOADING=1 ... READY=1, says STOPPING=1 on
 * shutdown, and pings WATCHDOG=1 while the service makes progress.
 */
import type { Logger } from '../lib/obs/logger.js';
import { ConfigError } from '../lib/errors.js';
import { SystemdNotifier } from '../lib/obs/systemd.js';

export interface Service {
  close(): Promise<void>;
  /** one line for systemd's STATUS= */
  statusLine?(): Promise<string>;
  /** false when the service is wedged: systemd's watchdog pings stop (default: always true) */
  progressing?(): boolean;
}

/** How often STATUS= is refreshed. */
const STATUS_EVERY_MS = 5_000;

export async function runService<C>(log: Logger, load: () => Promise<C>, start: (c: C) => Promise<Service>, notifier = new SystemdNotifier(log)): Promise<number> {
  const first = await load();
  let svc: Service | undefined;
  const statusOf = async (): Promise<string | undefined> => {
    try {
      return await svc?.statusLine?.();
    } catch (err) {
      log.debug({ err }, 'status line failed');
      return undefined;
    }
  };
  let statusTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  // Signals are handled from the start: a SIGTERM while starting closes the service once it is up
  // (a start is never cut in half), and a SIGHUP then reloads after it.
  const startup = start(first).then((s) => {
    svc = s;
  });
  let busy: Promise<unknown> = startup;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const stop = (sig: string) => {
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    clearInterval(statusTimer);
    void notifier.stopping();
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10s; exiting anyway (unacknowledged data stays in the buffer)');
      process.exit(1);
    }, 10_000);
    force.unref();
    busy = busy.then(() => svc?.close()).then(
      () => {
        clearTimeout(force);
        void notifier.close().finally(() => finish(0));
      },
      (err) => {
        log.error({ err }, 'error while shutting down');
        void notifier.close().finally(() => finish(1));
      },
    );
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  const onHup = () => {
    if (stopping) return;
    busy = busy
      .then(async () => {
        if (stopping) return;
        await notifier.reloading();
        let next: C;
        try {
          next = await load();
        } catch (err) {
          const detail = err instanceof ConfigError ? err.issues.map((i) => i.toString()) : [(err as Error).message];
          log.error({ problems: detail }, 'SIGHUP: the new config is invalid; keeping the running one. Fix the file and send SIGHUP again');
          await notifier.ready(`reload refused (invalid config, see the log); running on the previous one. ${(await statusOf()) ?? ''}`.trim());
          return;
        }
        log.info('SIGHUP: reloading with the new config');
        await svc?.close();
        svc = await start(next);
        await notifier.ready(await statusOf());
      })
      .catch((err) => {
        log.fatal({ err }, 'reload failed to start the service with the new config');
        process.exit(1);
      });
  };
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  try {
    await startup;
  } catch (err) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
    throw err;
  }
  if (notifier.enabled && !stopping) {
    await notifier.ready(await statusOf());
    notifier.startWatchdog(() => svc?.progressing?.() ?? true);
    statusTimer = setInterval(() => void statusOf().then((s) => (s ? notifier.status(s) : undefined)), STATUS_EVERY_MS);
    statusTimer.unref();
  }
  return done;
}
