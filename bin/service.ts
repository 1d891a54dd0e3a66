/**
 * Runs a long-lived service (agent, aggregator or both): SIGTERM/SIGINT close
 * it gracefully (forced exit after 10 s); SIGHUP loads the config again and, if
 * it is valid, restarts the service in-process on the new config: close()
 * flushes and checkpoints, so nothing is lost or repeated. An invalid new config
 * is refused with an error and the running service keeps going.
 */
import type { Logger } from '../lib/obs/logger.js';
import { ConfigError } from '../lib/errors.js';

export interface Service {
  close(): Promise<void>;
}

export async function runService<C>(log: Logger, load: () => Promise<C>, start: (c: C) => Promise<Service>): Promise<number> {
  let svc = await start(await load());
  let busy: Promise<unknown> = Promise.resolve();
  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'shutting down');
      const force = setTimeout(() => {
        log.error('shutdown took longer than 10s; exiting anyway (unacknowledged data stays in the buffer)');
        process.exit(1);
      }, 10_000);
      force.unref();
      busy = busy.then(() => svc.close()).then(
        () => {
          clearTimeout(force);
          resolve(0);
        },
        (err) => {
          log.error({ err }, 'error while shutting down');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      busy = busy.then(async () => {
        let next: C;
        try {
          next = await load();
        } catch (err) {
          const detail = err instanceof ConfigError ? err.issues.map((i) => i.toString()) : [(err as Error).message];
          log.error({ problems: detail }, 'SIGHUP: the new config is invalid; keeping the running one. Fix the file and send SIGHUP again');
          return;
        }
        log.info('SIGHUP: reloading with the new config');
        await svc.close();
        svc = await start(next);
      }).catch((err) => {
        log.fatal({ err }, 'reload failed to start the service with the new config');
        process.exit(1);
      });
    });
  });
}
