import { pino, type Logger, type LevelWithSilent } from 'pino';
import { isoTime } from '../util/utc-time.js';

export type { Logger };

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(s: string): s is LevelWithSilent {
  return LEVELS.includes(s);
}

/**
 * JSON lines on stdout by default (what journald and log collectors want);
 * human-readable when stdout is a terminal or LOGSHIP_LOG_PRETTY=1.
 */
export function createLogger(opts: { level?: string; name?: string; pretty?: boolean } = {}): Logger {
  const level = opts.level ?? process.env.LOGSHIP_LOG_LEVEL ?? 'info';
  const pretty = opts.pretty ?? (process.stdout.isTTY === true || process.env.LOGSHIP_LOG_PRETTY === '1');
  const base = { name: opts.name ?? 'logship' };
  if (pretty) {
    return pino({
      level,
      base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  // pino's isoTime, without Date#toISOString (lib/util/utc-time.ts: that call alone keeps ~0.95 MiB of ICU resident).
  return pino({ level, base, timestamp: () => `,"time":"${isoTime(Date.now())}"` });
}

/** A logger that drops everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
