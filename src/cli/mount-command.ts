import type { Command } from 'commander';
import { secretFilesReadableByOthers } from '../auth/file-permissions.js';
import { stalledFileCalls } from '../auth/regular-file.js';
import { TOKEN_FILE_ENV } from '../auth/token-source.js';
import { ConfigError } from './config-error.js';
import { CliError } from './cli-error.js';
import { configFileHoldsSecrets, readConfigFile } from './config-file.js';
import { detachedLogPath, isDetachedChild, READY_FD_ENV, reportToParent, runDetached, takeParentSecrets, type ParentSecrets } from './daemonize.js';
import { createLogger, LOG_LEVELS } from './logger.js';
import { resolveMountSettings, type MountFlags, type MountSettings } from './mount-config.js';
import { holdMount, pickMountEngine, startMountSession } from './mount-session.js';
import { checkFuseDevice, prepareMountpoint, resolveMountpoint } from './mountpoint-checks.js';
import { hideSecretsFromProcessTitle } from './secret-args.js';

interface MountCommandOptions extends MountFlags {
  readonly config?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function settingsFrom(args: readonly string[], options: MountCommandOptions, env: NodeJS.ProcessEnv): MountSettings {
  try {
    const config = options.config === undefined ? {} : readConfigFile(options.config, env);
    return resolveMountSettings(args, options, config, env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

async function warnOfExposedSecretFiles(paths: readonly string[]): Promise<void> {
  for (const file of await secretFilesReadableByOthers(paths)) {
    say(`bucketfs: warning: ${file.path} is readable by ${file.readableBy} (mode ${file.mode}): anyone who can read it can use the credentials; chmod 600 it`);
  }
}

/** The detached mount process gets `--token` / `--header` values from its parent over the readiness pipe, not its argv. */
function withParentSecrets(options: MountCommandOptions, secrets: ParentSecrets): MountCommandOptions {
  return {
    ...options,
    ...(secrets.token !== undefined ? { token: secrets.token } : {}),
    header: [...(options.header ?? []), ...secrets.headers],
  };
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);

async function mountInForeground(settings: MountSettings, env: NodeJS.ProcessEnv): Promise<void> {
  const logger = createLogger(settings.logLevel);
  let session;
  try {
    session = await startMountSession(settings, env, logger, say);
  } catch (error) {
    reportToParent({ error: error instanceof Error ? error.message : String(error) }, env);
    throw error;
  }
  const detached = isDetachedChild(env);
  reportToParent({ ready: true }, env);
  if (!detached) say(`bucketfs: mounted at ${session.mountpoint}; Ctrl-C or bucketfs unmount ${session.mountpoint} to stop`);
  if (session.metricsUrl !== undefined) logger.info({ metrics: `${session.metricsUrl}/metrics`, health: `${session.metricsUrl}/healthz` }, 'metrics ready');
  await holdMount(session, logger);
  const stuck = stalledFileCalls();
  if (stuck.length > 0) {
    // process.exit joins every I/O thread, and one stuck in a stalled filesystem may never come back.
    logger.warn({ paths: stuck }, 'unmounted; a read of a credential file is stuck in the kernel, so the process ends without waiting for it');
    process.kill(process.pid, 'SIGKILL');
  }
}

async function runMount(args: string[], options: MountCommandOptions): Promise<void> {
  hideSecretsFromProcessTitle();
  const secrets = takeParentSecrets(process.env);
  // Secret variables from the parent join a copy: process.env would hand them to every program this one starts.
  const env: NodeJS.ProcessEnv = isDetachedChild(process.env) ? { ...process.env, ...secrets.env } : process.env;
  if (env !== process.env) delete process.env[READY_FD_ENV];
  const settings = settingsFrom(args, withParentSecrets(options, secrets), env);
  if (options.token !== undefined && !isDetachedChild(env)) {
    say('bucketfs: warning: --token is visible to every user in `ps` while bucketfs starts; prefer --token-file or AIS_AUTHN_TOKEN');
  }
  // Nothing else looks at the config file's mode: say it in the foreground too (the detached process's parent said it).
  if (options.config !== undefined && !isDetachedChild(env) && configFileHoldsSecrets(options.config)) await warnOfExposedSecretFiles([options.config]);
  if (settings.foreground) {
    await mountInForeground(settings, env);
    process.exit(0);
  }
  if (settings.tls?.insecureSkipVerify) say('bucketfs: WARNING: TLS certificate verification is OFF (--insecure-skip-verify / AIS_SKIP_VERIFY_CRT=true)');
  // Fail fast on what the caller can fix, before a process is started; the child checks again.
  const mountpoint = await resolveMountpoint(settings.mountpoint, say);
  await checkFuseDevice();
  pickMountEngine(settings, (line) => say(`bucketfs: warning: ${line}`));
  await prepareMountpoint(mountpoint, createLogger('silent'), say);
  // The mount process warns in its log; say it here too, where the user is looking.
  const secretFiles = settings.backends.flatMap((backend) => [backend.tokenFile ?? env[TOKEN_FILE_ENV] ?? '', backend.headersFile ?? '']).filter(Boolean);
  await warnOfExposedSecretFiles(secretFiles);
  const logPath = detachedLogPath(mountpoint, env);
  const pid = await runDetached(['--foreground'], logPath);
  say(`bucketfs: mounted at ${mountpoint} (process ${pid}, log ${logPath}); bucketfs unmount ${mountpoint} to stop`);
  process.exit(0);
}

export function registerMountCommand(program: Command): void {
  program
    .command('mount')
    .description('Mount a bucket: bucketfs mount ais://BUCKET[/PREFIX] MOUNTPOINT')
    .argument('[args...]', 'ais://BUCKET[/PREFIX] MOUNTPOINT (either may come from --config)')
    .option('--endpoint <url>', 'AIStore endpoint (default: $AIS_ENDPOINT, then http://localhost:51080)')
    .option('--token <token>', 'auth token (visible in ps: prefer --token-file or AIS_AUTHN_TOKEN)')
    .option('--token-file <file>', 'file holding the token ({"token":"..."} or raw), reloaded when it changes')
    .option('--token-check-interval <duration>', 'how often to check the token and headers files for changes')
    .option('--token-wait <duration>', 'how long requests the store refuses wait for a new token or headers file (default 60s; 0 = fail at once)')
    .option('--header <"Name: value">', 'extra request header (repeatable)', collect, [])
    .option('--headers-file <file>', 'file of "Name: value" lines, reloaded when it changes')
    .option('--allow-delete', 'let unlink delete objects')
    .option('--allow-other', 'let other users access the mount (needs user_allow_other in /etc/fuse.conf)')
    .option('--read-only', 'mount read-only: every write and delete is refused (EROFS)')
    .option('--allow-overwrite', 'let writes replace existing objects (open with O_TRUNC, rename onto a file)')
    .option('--cache-dir <dir>', 'local folder for written files waiting for their upload (DIR/staging)')
    .option('--max-staging-size <size>', 'most bytes of written files waiting for their upload or kept after a failed one (default 10GiB)')
    .option('--uid <uid>', 'owner of every file (default: the mounting user)')
    .option('--gid <gid>', 'group of every file (default: the mounting group)')
    .option('--file-mode <mode>', 'permission bits of files (default 0644, 0444 with --read-only)')
    .option('--dir-mode <mode>', 'permission bits of folders (default 0755, 0555 with --read-only)')
    .option('--metadata-ttl <duration>', 'how long attributes and listings are trusted (default 60s)')
    .option('--negative-metadata-ttl <duration>', 'how long a missing name is remembered (default 5s)')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')} (default warn)`)
    .option('--foreground', 'stay attached until unmounted or SIGINT/SIGTERM')
    .option('--metrics-port <port>', 'serve Prometheus /metrics and /healthz on this port (default: off)')
    .option('--metrics-host <host>', 'address of the metrics server (default 127.0.0.1)')
    .option('--ca-file <file>', 'PEM CA bundle for an https:// endpoint (default: $AIS_CLIENT_CA)')
    .option('--insecure-skip-verify', 'do not verify the TLS certificate (test clusters only; also AIS_SKIP_VERIFY_CRT=true)')
    .option('--cache-size <size>', 'memory for cached and in-flight reads, whole mount (default: RAM/4, at most 512MiB)')
    .option('--part-size <size>', 'largest ranged GET; prefetch runs parts in parallel (default 8MiB)')
    .option('--max-prefetch <size>', 'largest read-ahead window of one open file (default 64MiB)')
    .option('--small-object-threshold <size>', 'objects up to this size are fetched whole on first read (default 1MiB)')
    .option('--read-ahead-kb <kib>', 'kernel read-ahead of the mount in KiB, as root; 0 keeps the kernel default (default 1024)')
    .option('--retry-timeout <duration>', 'how long one store call may retry before the read fails with EIO (default 30s)')
    .option('--metadata-cache-entries <n>', 'names (found or missing) whose attributes are cached (default 100000)')
    .option('--inode-cache-entries <n>', 'inode numbers kept that the kernel no longer holds (default 100000, at least 10000)')
    .option('--list-cache-entries <n>', 'children of finished folder listings kept for the metadata TTL; 0 = none (default 200000)')
    .option('--tree-prefetch-entries <n>', 'most entries one recursive listing of a walked tree fetches ahead; 0 = off (default 1000000)')
    .option('--engine <engine>', 'FUSE engine: native (libfuse 3, default) or fuse-native (libfuse 2, the fallback)')
    .option('--config <file>', 'YAML or JSON file with the same settings (flags override it)')
    .action(runMount);
}
