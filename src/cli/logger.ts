import { pino, type Logger, type LevelWithSilent } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** Default: `pretty` when stderr is a terminal (a person reads it), `json` otherwise (a collector does). */
  readonly format?: LogFormat;
}

/** The format a log on stderr gets when none is asked for. */
export function defaultLogFormat(stderrIsTty: boolean = process.stderr.isTTY === true): LogFormat {
  return stderrIsTty ? 'pretty' : 'json';
}

/**
 * Logs on stderr, so stdout stays free for command output. JSON lines go through pino's synchronous
 * destination (the fast path, and nothing lost at exit); the human format is pino-pretty in-process,
 * synchronous too, used only on a terminal where volume is low.
 */
export function createLogger(level: string = 'info', options: LoggerOptions = {}): Logger {
  const base = { pid: process.pid };
  if ((options.format ?? defaultLogFormat()) === 'pretty') {
    return pino({ level, base }, PinoPretty({ destination: 2, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino({ level, base }, pino.destination({ fd: 2, sync: true }));
}
