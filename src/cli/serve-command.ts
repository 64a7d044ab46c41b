import type { Command } from 'commander';
import { DataDirError, startServer } from '../server/server.js';
import { CliError } from './cli-error.js';
import { LOG_LEVELS, createLogger } from './logger.js';

interface ServeFlags {
  data: string;
  host: string;
  port: string;
  redirect?: boolean;
  authSecretFile?: string;
  logLevel: string;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw new CliError(`invalid --port "${text}": expected 0-65535`);
  return port;
}

async function serve(flags: ServeFlags): Promise<void> {
  if (!LOG_LEVELS.includes(flags.logLevel as (typeof LOG_LEVELS)[number])) {
    throw new CliError(`invalid --log-level "${flags.logLevel}": expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const logger = createLogger(flags.logLevel);
  let server;
  try {
    server = await startServer({
      dataDir: flags.data,
      host: flags.host,
      port: parsePort(flags.port),
      redirect: Boolean(flags.redirect),
      ...(flags.authSecretFile ? { authSecretFile: flags.authSecretFile } : {}),
      logger,
    });
  } catch (error) {
    if (error instanceof DataDirError || error instanceof CliError) throw new CliError(error.message);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`cannot listen on ${flags.host}:${flags.port}: address in use`);
    if (flags.authSecretFile && error instanceof Error && error.message.includes(flags.authSecretFile)) throw new CliError(error.message);
    throw error;
  }
  process.stdout.write(`serving ${flags.data} on ${server.url}\n`);
  const running = server;
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping');
      running.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Serve a local folder over the AIStore HTTP API (buckets are its top-level folders)')
    .requiredOption('--data <dir>', 'the folder to serve')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', '51080')
    .option('--redirect', 'answer object calls with 301/307 redirects to a second listener, like a cluster proxy')
    .option('--auth-secret-file <file>', 'require HS256 JWTs signed with this file\'s content (re-read when it changes)')
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .action(serve);
}
