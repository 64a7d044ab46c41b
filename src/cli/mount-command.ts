import type { Command } from 'commander';
import { secretFilesReadableByOthers } from '../auth/file-permissions.js';
import { stalledFileCalls } from '../auth/regular-file.js';
import { TOKEN_FILE_ENV } from '../auth/token-source.js';
import { ConfigError } from './config-error.js';
import { CliError } from './cli-error.js';
import { configFileHoldsSecrets, readConfigFile } from './config-file.js';
import { detachedLogPath, isDetachedChild, READY_FD_ENV, removeEmptyLogAtExit, reportToParent, runDetached, takeParentSecrets, type ParentSecrets } from './daemonize.js';
import { createLogger, LOG_FORMAT_HELP, LOG_LEVELS } from './logger.js';
import {
  DEFAULT_DIR_MODE,
  DEFAULT_ENDPOINT,
  DEFAULT_FILE_MODE,
  DEFAULT_METADATA_TTL_MS,
  DEFAULT_METRICS_HOST,
  DEFAULT_MOUNT_LOG_LEVEL,
  DEFAULT_NEGATIVE_METADATA_TTL_MS,
  DEFAULT_WRITABLE_DIR_MODE,
  DEFAULT_WRITABLE_FILE_MODE,
  MIN_INODE_CACHE_ENTRIES,
  resolveMountSettings,
  type MountFlags,
  type MountSettings,
} from './mount-config.js';
import { durationText, modeText, sizeText } from './help-text.js';
import { DEFAULT_TOKEN_CHECK_INTERVAL_MS, DEFAULT_TOKEN_WAIT_MS } from '../auth/credential-provider.js';
import { DEFAULT_METADATA_CACHE_MAX_ENTRIES, DEFAULT_TREE_PREFETCH_MAX_ENTRIES } from '../fs/bucket-filesystem.js';
import { DEFAULT_MAX_STAGING_BYTES } from '../fs/staging-area.js';
import { DEFAULT_IDLE_INODES } from '../fs/inode-table.js';
import { DEFAULT_LIST_CACHE_ENTRIES } from '../fs/listing-cache.js';
import { MEMORY_OVERHEAD_BYTES } from '../fs/memory-bound.js';
import { DEFAULT_READ_PATH } from '../fs/read-path-options.js';
import { DEFAULT_READ_AHEAD_KB } from '../fuse/readahead.js';
import { DEFAULT_RETRY_TIMEOUT_MS } from '../store/retry-policy.js';
import { holdMount, pickMountEngine, startMountSession } from './mount-session.js';
import { checkFuseDevice, prepareMountpoint, resolveMountpoint } from './mountpoint-checks.js';
import { reexecWithMountNodeFlags } from './node-flags-reexec.js';
import { hideSecretsFromProcessTitle } from './secret-args.js';
import { notifyServiceManager } from './service-notify.js';

interface MountCommandOptions extends MountFlags {
  readonly config?: string;
}

// No default value: commander would print it as `(default: [])`.
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

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
  const logger = createLogger(settings.logLevel, { format: settings.logFormat });
  let session;
  try {
    session = await startMountSession(settings, env, logger, say);
  } catch (error) {
    reportToParent({ error: error instanceof Error ? error.message : String(error) }, env);
    throw error;
  }
  const detached = isDetachedChild(env);
  // Detached, the starting command says the warnings and the log keeps them; in the foreground stderr is both.
  for (const warning of session.warnings) {
    if (detached) logger.warn(warning);
    else say(`bucketfs: warning: ${warning}`);
  }
  reportToParent({ ready: true, warnings: session.warnings }, env);
  const notifyFailure = notifyServiceManager(`READY=1\nSTATUS=mounted at ${session.mountpoint}`, env);
  if (notifyFailure !== undefined) logger.warn(notifyFailure);
  if (!detached) {
    say(`bucketfs: mounted at ${session.mountpoint}; Ctrl-C or bucketfs unmount ${session.mountpoint} to stop`);
  }
  if (session.metricsUrl !== undefined) logger.info({ metrics: `${session.metricsUrl}/metrics`, health: `${session.metricsUrl}/healthz` }, 'metrics ready');
  await holdMount(session, logger);
  notifyServiceManager('STOPPING=1', env);
  const stuck = stalledFileCalls();
  if (stuck.length > 0) {
    // process.exit joins every I/O thread, and one stuck in a stalled filesystem may never come back.
    logger.warn({ paths: stuck }, 'unmounted; a read of a credential file is stuck in the kernel, so the process ends without waiting for it');
    process.kill(process.pid, 'SIGKILL');
  }
}

async function runMount(args: string[], options: MountCommandOptions): Promise<void> {
  hideSecretsFromProcessTitle();
  if (isDetachedChild(process.env)) removeEmptyLogAtExit(process.env);
  const secrets = takeParentSecrets(process.env);
  // Secret variables from the parent join a copy: process.env would hand them to every program this one starts.
  const env: NodeJS.ProcessEnv = isDetachedChild(process.env) ? { ...process.env, ...secrets.env } : process.env;
  if (env !== process.env) delete process.env[READY_FD_ENV];
  const settings = settingsFrom(args, withParentSecrets(options, secrets), env);
  // A detached mount process was started with these flags already.
  if (settings.foreground && !isDetachedChild(env)) reexecWithMountNodeFlags();
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
    .usage('ais://BUCKET[/PREFIX] MOUNTPOINT [options]')
    .description('Mount a bucket (or the objects under PREFIX) at MOUNTPOINT; returns once the mount answers, unless --foreground')
    .argument('[args...]', 'ais://BUCKET[/PREFIX] MOUNTPOINT (either may come from --config; s3://, gs://, az:// for cloud buckets behind AIStore)')
    .option('--endpoint <url>', `AIStore endpoint, http:// or https:// (default: $AIS_ENDPOINT, then ${DEFAULT_ENDPOINT})`)
    .option('--token <token>', 'auth token, never reloaded (default: $AIS_AUTHN_TOKEN; visible in ps: prefer --token-file)')
    .option('--token-file <file>', 'file holding the token ({"token":"..."} or raw), reloaded when it changes (default: $AIS_AUTHN_TOKEN_FILE)')
    .option('--token-check-interval <duration>', `how often to check the token and headers files for changes (default ${durationText(DEFAULT_TOKEN_CHECK_INTERVAL_MS)})`)
    .option('--token-wait <duration>', `how long requests the store refuses wait for a new token or headers file (default ${durationText(DEFAULT_TOKEN_WAIT_MS)}; 0 = fail at once)`)
    .option('--header <"Name: value">', 'extra request header (repeatable)', collect)
    .option('--headers-file <file>', 'file of "Name: value" lines, reloaded when it changes')
    .option('--allow-delete', 'let unlink delete objects (default: refused, EPERM)')
    .option('--allow-other', 'let other users access the mount (needs user_allow_other in /etc/fuse.conf; default: only the mounting user)')
    .option('--read-only', 'mount read-only: every write and delete is refused (EROFS)')
    .option('--allow-overwrite', 'let writes replace existing objects (open with O_TRUNC, rename onto a file)')
    .option('--max-staging-size <size>', `most bytes of written files waiting for their upload or kept after a failed one (default ${sizeText(DEFAULT_MAX_STAGING_BYTES)})`)
    .option('--uid <uid>', 'owner of every file (default: the mounting user)')
    .option('--gid <gid>', 'group of every file (default: the mounting group)')
    .option('--file-mode <mode>', `permission bits of files (default ${modeText(DEFAULT_WRITABLE_FILE_MODE)}, ${modeText(DEFAULT_FILE_MODE)} with --read-only)`)
    .option('--dir-mode <mode>', `permission bits of folders (default ${modeText(DEFAULT_WRITABLE_DIR_MODE)}, ${modeText(DEFAULT_DIR_MODE)} with --read-only)`)
    .option('--metadata-ttl <duration>', `how long attributes, and the listings of folders read to the end, are kept before the store is asked again (default ${durationText(DEFAULT_METADATA_TTL_MS)})`)
    .option('--negative-metadata-ttl <duration>', `how long a missing name is remembered (default ${durationText(DEFAULT_NEGATIVE_METADATA_TTL_MS)})`)
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')} (default ${DEFAULT_MOUNT_LOG_LEVEL})`)
    .option('--log-format <format>', LOG_FORMAT_HELP)
    .option('--foreground', 'stay attached until unmounted or SIGINT/SIGTERM (default: detach once mounted, logging to ~/.cache/bucketfs/logs/)')
    .option('--metrics-port <port>', 'serve Prometheus /metrics and /healthz on this port (default: off)')
    .option('--metrics-host <host>', `address of the metrics server (default ${DEFAULT_METRICS_HOST})`)
    .option('--ca-file <file>', 'PEM CA bundle for an https:// endpoint (default: $AIS_CLIENT_CA, else the system CAs)')
    .option('--insecure-skip-verify', 'do not verify the TLS certificate (test clusters only; also AIS_SKIP_VERIFY_CRT=true)')
    .option('--cache-size <size>', `memory for cached and in-flight reads, whole mount (default: a quarter of RAM, at most 512MiB, less ${sizeText(MEMORY_OVERHEAD_BYTES)} for the process itself, at least 64MiB; here ${sizeText(DEFAULT_READ_PATH.cacheSizeBytes)})`)
    .option('--cache-dir <dir>', 'local disk folder of the mount: blocks read, kept in DIR/blocks across remounts and shared by the mounts of this node, and written files waiting for their upload in DIR/staging (default: no disk cache; staging under ~/.cache/bucketfs/staging)')
    .option('--max-cache-size <size>', 'bound of --cache-dir: a size such as 10G or a share of its disk such as 20% (default: keep 5% of the disk free)')
    .option('--part-size <size>', `largest ranged GET; prefetch runs parts in parallel (default ${sizeText(DEFAULT_READ_PATH.partSizeBytes)})`)
    .option('--max-prefetch <size>', `largest read-ahead window of one open file (default ${sizeText(DEFAULT_READ_PATH.maxWindowBytes)})`)
    .option('--small-object-threshold <size>', `objects up to this size are fetched whole on first read (default ${sizeText(DEFAULT_READ_PATH.smallObjectThresholdBytes)})`)
    .option('--read-ahead-kb <kib>', `kernel read-ahead of the mount in KiB, as root; 0 keeps the kernel default (default ${DEFAULT_READ_AHEAD_KB})`)
    .option('--retry-timeout <duration>', `how long one store call may retry before the read fails with EIO (default ${durationText(DEFAULT_RETRY_TIMEOUT_MS)})`)
    .option('--metadata-cache-entries <n>', `names (found or missing) whose attributes are cached (default ${DEFAULT_METADATA_CACHE_MAX_ENTRIES})`)
    .option('--inode-cache-entries <n>', `inode numbers kept that the kernel no longer holds (default ${DEFAULT_IDLE_INODES}, at least ${MIN_INODE_CACHE_ENTRIES})`)
    .option('--list-cache-entries <n>', `children of folder listings read to the end, kept for the metadata TTL; 0 = none (default ${DEFAULT_LIST_CACHE_ENTRIES})`)
    .option('--tree-prefetch-entries <n>', `most entries one recursive listing of a walked tree fetches ahead; 0 = off (default ${DEFAULT_TREE_PREFETCH_MAX_ENTRIES})`)
    .option('--engine <engine>', 'FUSE engine: native (libfuse 3) or fuse-native (libfuse 2) (default: native when built, else fuse-native)')
    .option('--config <file>', 'YAML or JSON file with the same settings (flags override it)')
    .action(runMount);
}
