import type { Command } from 'commander';
import { FAULT_KINDS, parseFaultKinds, type FaultOptions } from '../server/faults.js';
import { DataDirError, TlsFilesError, startServer } from '../server/server.js';
import { CliError } from './cli-error.js';
import { LOG_FORMAT_HELP, LOG_FORMATS, LOG_LEVELS, createLogger, isLogFormat } from './logger.js';

interface ServeFlags {
  data: string;
  host: string;
  port: string;
  redirect?: boolean;
  authSecretFile?: string;
  faultRate?: string;
  faultLatencyMs?: string;
  faultKinds?: string;
  faultSeed?: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: string;
  logFormat?: string;
}

function parseFaults(flags: ServeFlags): FaultOptions | undefined {
  if (flags.faultRate === undefined) {
    if (flags.faultLatencyMs !== undefined || flags.faultKinds !== undefined || flags.faultSeed !== undefined) {
      throw new CliError('--fault-latency-ms, --fault-kinds and --fault-seed need --fault-rate');
    }
    return undefined;
  }
  const rate = Number(flags.faultRate);
  if (flags.faultRate.trim() === '' || !(rate >= 0 && rate <= 1)) throw new CliError(`invalid --fault-rate "${flags.faultRate}": expected a number from 0 to 1`);
  const latencyMs = flags.faultLatencyMs === undefined ? undefined : Number(flags.faultLatencyMs);
  if (latencyMs !== undefined && !(/^\d+$/.test(flags.faultLatencyMs ?? ''))) {
    throw new CliError(`invalid --fault-latency-ms "${flags.faultLatencyMs}": expected whole milliseconds`);
  }
  const seed = flags.faultSeed === undefined ? undefined : Number(flags.faultSeed);
  if (seed !== undefined && !(/^\d+$/.test(flags.faultSeed ?? ''))) throw new CliError(`invalid --fault-seed "${flags.faultSeed}": expected a whole number`);
  let kinds;
  try {
    kinds = flags.faultKinds === undefined ? undefined : parseFaultKinds(flags.faultKinds);
  } catch (error) {
    throw new CliError(`invalid --fault-kinds: ${(error as Error).message}`);
  }
  return { rate, ...(latencyMs === undefined ? {} : { latencyMs }), ...(kinds ? { kinds } : {}), ...(seed === undefined ? {} : { seed }) };
}

function parseTls(flags: ServeFlags): { certFile: string; keyFile: string } | undefined {
  if (flags.tlsCert === undefined && flags.tlsKey === undefined) return undefined;
  if (flags.tlsCert === undefined || flags.tlsKey === undefined) throw new CliError('--tls-cert and --tls-key go together');
  return { certFile: flags.tlsCert, keyFile: flags.tlsKey };
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
  const format = flags.logFormat;
  if (format !== undefined && !isLogFormat(format)) throw new CliError(`invalid --log-format "${format}": expected one of ${LOG_FORMATS.join(', ')}`);
  const faults = parseFaults(flags);
  const tls = parseTls(flags);
  const logger = createLogger(flags.logLevel, { format });
  let server;
  try {
    server = await startServer({
      dataDir: flags.data,
      host: flags.host,
      port: parsePort(flags.port),
      redirect: Boolean(flags.redirect),
      ...(flags.authSecretFile ? { authSecretFile: flags.authSecretFile } : {}),
      ...(faults ? { faults } : {}),
      ...(tls ? { tls } : {}),
      logger,
    });
  } catch (error) {
    if (error instanceof DataDirError || error instanceof TlsFilesError || error instanceof CliError) throw new CliError(error.message);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`cannot listen on ${flags.host}:${flags.port}: address in use`);
    if (flags.authSecretFile && error instanceof Error && error.message.includes(flags.authSecretFile)) throw new CliError(error.message);
    throw error;
  }
  // The first line stays `serving DIR on URL` alone: scripts read the URL from its end.
  process.stdout.write(`serving ${flags.data} on ${server.url}\n`);
  if (server.targetUrl !== undefined) process.stdout.write(`object calls are redirected to the target ${server.targetUrl} (port ${new URL(server.targetUrl).port}): clients must reach it too\n`);
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
    .option('--redirect', 'answer object calls with 301/307 redirects to a second listener (the target, on a free port printed at start), like a cluster proxy (default: one listener serves all)')
    .option('--auth-secret-file <file>', 'require HS256 JWTs signed with this file\'s content, re-read when it changes; mint them with bucketfs token (default: no auth)')
    .option('--fault-rate <r>', 'inject a fault into this share (0-1) of object and listing requests; for testing (default: none)')
    .option('--fault-latency-ms <ms>', 'delay of a "slow" fault (default: 1000)')
    .option('--fault-kinds <kinds>', `comma-separated faults to pick from (default: ${FAULT_KINDS.join(',')})`)
    .option('--fault-seed <n>', 'seed of the fault sequence, for repeatable runs (default: random)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (needs --tls-key; default: plain HTTP)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, 'info')
    .option('--log-format <format>', LOG_FORMAT_HELP)
    .action(serve);
}
