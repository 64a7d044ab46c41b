import type { Command } from 'commander';
import { readRegularFile } from '../auth/regular-file.js';
import { secretKeyFromText, signToken } from '../server/jwt.js';
import { CliError } from './cli-error.js';
import { parseDurationMs } from './duration.js';

interface TokenFlags {
  secretFile: string;
  ttl: string;
  sub?: string;
}

async function printToken(flags: TokenFlags): Promise<void> {
  let ttlMs: number;
  try {
    ttlMs = parseDurationMs(flags.ttl);
  } catch (error) {
    throw new CliError(`--ttl: ${(error as Error).message}`);
  }
  if (ttlMs <= 0) throw new CliError(`--ttl must be positive, got "${flags.ttl}"`);
  let key: Uint8Array;
  try {
    key = secretKeyFromText((await readRegularFile(flags.secretFile)).text);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliError(`cannot use secret file ${flags.secretFile}: ${reason}`);
  }
  const token = await signToken(key, { ttlMs, ...(flags.sub !== undefined ? { subject: flags.sub } : {}) });
  process.stdout.write(`${token}\n`);
}

export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description('Print a fresh HS256 token signed with a secret file (for `serve --auth-secret-file`)')
    .requiredOption('--secret-file <file>', 'the shared secret (its trimmed content)')
    .option('--ttl <duration>', 'lifetime, e.g. 30s, 15m, 1h', '1h')
    .option('--sub <name>', 'the token\'s subject')
    .action(printToken);
}
