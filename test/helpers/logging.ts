import { pino, type Logger } from 'pino';

export interface CapturedLog {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/**
 * A pino logger (every level) whose raw JSON lines land in an array: the raw text is what must never
 * contain a secret, so it is kept as written; `records()` parses it for assertions on fields.
 */
export function capturingLogger(): { logger: Logger; lines: string[]; records: () => CapturedLog[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as CapturedLog) };
}
