import type { Logger } from 'pino';
import { chooseMountEngine, mountFilesystem, type MountEngine, type MountHandle } from '../fuse/mount.js';
import { NativeEngineUnavailableError } from '../fuse/native-addon.js';
import { connectFilesystem, type ConnectedFilesystem } from './backend-connect.js';
import { CliError } from './cli-error.js';
import { trimHeapWhenTablesShrink, type TableSizes } from './heap-trim.js';
import { createMountObservability } from './metrics-session.js';
import type { MountSettings } from './mount-config.js';
import { checkFuseDevice, isMountpoint, prepareMountpoint, resolveMountpoint } from './mountpoint-checks.js';

export interface MountSession {
  readonly mountpoint: string;
  /** `http://host:port` of /metrics and /healthz; undefined without --metrics-port. */
  readonly metricsUrl: string | undefined;
  /** Unmounts and releases everything; safe to call more than once. */
  stop(): Promise<void>;
  /** For the user once mounted: the mount works, but something looks wrong. */
  readonly warnings: readonly string[];
  /** Resolves when the mount went away without `stop` (someone ran fusermount -u / bucketfs unmount). */
  readonly externallyUnmounted: Promise<void>;
}

const UNMOUNT_POLL_MS = 1000;

/** The mount's FUSE engine (see chooseMountEngine); an explicit native engine that is not built is a CliError. */
export function pickMountEngine(settings: MountSettings, say: (line: string) => void): MountEngine {
  try {
    return chooseMountEngine(settings.engine, say);
  } catch (error) {
    if (error instanceof NativeEngineUnavailableError) throw new CliError(error.message);
    throw error;
  }
}

/** Checks the machine and the mountpoint, connects to every bucket, mounts, and returns once the kernel serves it. */
export async function startMountSession(settings: MountSettings, env: NodeJS.ProcessEnv, parentLogger: Logger, say: (line: string) => void): Promise<MountSession> {
  const mountpoint = await resolveMountpoint(settings.mountpoint, say);
  const logger = parentLogger.child({ mount: mountpoint });
  if (settings.tls?.insecureSkipVerify) {
    say('bucketfs: WARNING: TLS certificate verification is OFF (--insecure-skip-verify / AIS_SKIP_VERIFY_CRT=true): anyone on the network path can read and change the data and steal the token');
    logger.warn('TLS certificate verification is disabled');
  }
  await checkFuseDevice();
  const engine = pickMountEngine(settings, (line) => logger.warn(line));
  await prepareMountpoint(mountpoint, logger, say);
  const connected: ConnectedFilesystem = await connectFilesystem(settings, env, logger);
  let engineStats: MountHandle['engineStats'];
  const observability = createMountObservability({
    engineStats: () => engineStats?.(),
    mountpoint,
    connected,
    metricsPort: settings.metricsPort,
    metricsHost: settings.metricsHost,
    logger,
    env,
  });
  let handle: MountHandle;
  try {
    handle = await mountFilesystem(connected.filesystem, mountpoint, {
      fsname: connected.fsname,
      allowOther: settings.allowOther,
      readOnly: settings.readOnly ?? false,
      metadataTtlMs: settings.metadataTtlMs,
      logger,
      observer: observability.observer,
      engine,
      readAheadKb: settings.readAheadKb,
    });
  } catch (error) {
    await connected.close();
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
  engineStats = handle.engineStats;

  const tables = connected.filesystem as { metadataStats?: () => TableSizes };
  const stopTrimming = trimHeapWhenTablesShrink(() => tables.metadataStats?.(), logger);
  let stopping: Promise<void> | undefined;
  let poll: NodeJS.Timeout | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (poll) clearInterval(poll);
      stopTrimming();
      await observability.stop();
      try {
        await handle.unmount();
      } catch (error) {
        // Already unmounted by someone else is the common case here.
        logger.debug({ err: error }, 'unmount after the mount went away');
      }
      await connected.close();
    })();
    return stopping;
  };
  let metricsUrl: string | undefined;
  try {
    ({ metricsUrl } = await observability.start());
  } catch (error) {
    await stop();
    throw error instanceof Error && error.name === 'MetricsServerError' ? new CliError(error.message) : error;
  }
  const externallyUnmounted = new Promise<void>((done) => {
    poll = setInterval(() => {
      isMountpoint(mountpoint).then(
        (mounted) => {
          if (!mounted && stopping === undefined) done();
        },
        () => {},
      );
    }, UNMOUNT_POLL_MS);
  });
  return { mountpoint, metricsUrl, stop, externallyUnmounted, warnings: connected.warnings };
}

/** Stays until SIGINT/SIGTERM or an unmount from outside, then unmounts cleanly. */
export async function holdMount(session: MountSession, logger: Logger): Promise<void> {
  const signalled = new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  const reason = await Promise.race([signalled, session.externallyUnmounted.then(() => 'unmounted' as const)]);
  logger.info({ reason, mountpoint: session.mountpoint }, 'stopping');
  await session.stop();
}
