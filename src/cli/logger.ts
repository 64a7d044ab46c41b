import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { PinoPretty as PinoPrettyFactory } from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** `text`: one human-readable line per record; `json`: one JSON object per line, for a collector. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function isLogFormat(value: unknown): value is LogFormat {
  return typeof value === 'string' && (LOG_FORMATS as readonly string[]).includes(value);
}

/** The `--log-format` help line, shared by every command that logs. */
export const LOG_FORMAT_HELP = 'text (ISO times) or json (one object per line) (default: text when stderr is a terminal, else json)';

export interface LoggerOptions {
  /** Default: `text` when stderr is a terminal (a person reads it), `json` otherwise (a collector does). */
  readonly format?: LogFormat | undefined;
}

/** The format a log on stderr gets when none is asked for. */
export function defaultLogFormat(stderrIsTty: boolean = process.stderr.isTTY === true): LogFormat {
  return stderrIsTty ? 'text' : 'json';
}

/** ISO 8601 in UTC, so lines from machines in other zones sort and compare as they are. */
const TEXT_TIME_FORMAT = "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'";

/** pino-pretty and its dependencies load only for a text log: a collector's json log never needs them. */
function prettyStream(): typeof PinoPrettyFactory {
  return (createRequire(import.meta.url)('pino-pretty') as { PinoPretty: typeof PinoPrettyFactory }).PinoPretty;
}

/**
 * Logs on stderr, so stdout stays free for command output. JSON lines go through pino's synchronous
 * destination (the fast path, and nothing lost at exit); the text format is pino-pretty in-process,
 * synchronous too, coloured only on a terminal (a detached mount's log file gets none).
 */
export function createLogger(level: string = 'info', options: LoggerOptions = {}): Logger {
  const base = { pid: process.pid };
  if ((options.format ?? defaultLogFormat()) === 'text') {
    const colorize = process.stderr.isTTY === true;
    return pino({ level, base }, prettyStream()({ destination: 2, sync: true, colorize, ignore: 'pid,hostname', translateTime: TEXT_TIME_FORMAT }));
  }
  return pino({ level, base }, pino.destination({ fd: 2, sync: true }));
}
