import type { Logger } from 'pino';
import { CredentialConfigError } from '../auth/credential-config-error.js';
import { createCredentialProvider, type CredentialProvider } from '../auth/credential-provider.js';
import { HeaderSyntaxError, headersFromFlags } from '../auth/headers-file.js';
import { blockCacheFor, type BlockCache } from '../fs/block-cache.js';
import { createBucketFilesystem, type BucketFilesystemOptions, type WriteStats } from '../fs/bucket-filesystem.js';
import { CacheDirError, DiskCache, cacheBucketName, cacheEndpointName, writeBehindBytesFor, type DiskCacheStats } from '../fs/disk-cache/disk-cache.js';
import { StagingArea, type StagingStats } from '../fs/staging-area.js';
import { ReadPathOptionsError, resolveReadPathOptions } from '../fs/read-path-options.js';
import type { ReadStats } from '../fs/read-stats.js';
import { createMultiBackendFilesystem } from '../fs/multi-backend.js';
import type { InodeFilesystem, PathFilesystem } from '../fs/types.js';
import { createAistoreClient, type AistoreClient } from '../store/aistore-client.js';
import { bindBucket, type BucketClient } from '../store/bucket-client.js';
import { StoreError, UnauthorizedError } from '../store/errors.js';
import { describeRejection } from '../store/rejection-cause.js';
import { DEFAULT_RETRY_TIMEOUT_MS } from '../store/retry-policy.js';
import { CliError } from './cli-error.js';
import { schemeMismatchHint } from './endpoint-hints.js';
import { HEALTH_PROBE_ATTEMPTS } from './metrics-health.js';
import type { BackendSettings, MountSettings } from './mount-config.js';
import { stagingDirFor } from './staging-dir.js';

/** The longest the bucket check before mounting retries an endpoint that does not answer. */
const MOUNT_CHECK_RETRY_TIMEOUT_MS = 10_000;
/** The bucket check's first attempt, alone: a healthy store answers a HEAD well within it. */
const MOUNT_CHECK_FIRST_TRY_MS = 2_000;
/** Less of the check's deadline than this left after its first attempt is not worth a retry. */
const MOUNT_CHECK_LEAST_RETRY_MS = 250;

export function bucketUri(backend: BackendSettings): string {
  const { bucket, prefix } = backend.location;
  return `${bucket.provider ?? 'ais'}://${bucket.name}${prefix ? `/${prefix}` : ''}`;
}

/** One clear line for a bucket that cannot be used, by the store's failure class. */
export function explainBucketFailure(backend: BackendSettings, error: unknown): string {
  const where = `${bucketUri(backend)} at ${describeEndpoint(backend)}`;
  if (!(error instanceof StoreError)) return `cannot reach ${where}: ${error instanceof Error ? error.message : String(error)}`;
  switch (error.code) {
    case 'NOT_FOUND':
      return `bucket ${bucketUri(backend)} does not exist at ${describeEndpoint(backend)}`;
    case 'UNAUTHORIZED':
      return explainRefusal(backend, error);
    case 'FORBIDDEN':
      return `access to ${where} is forbidden (403) for this token`;
    case 'NETWORK':
    case 'TIMEOUT':
      return `endpoint ${describeEndpoint(backend)} is unreachable: ${error.message}`;
    default:
      return `cannot use ${where}: ${error.message}`;
  }
}

/** The endpoint as an error names it: one nobody chose is called the default, with how to choose another. */
function describeEndpoint(backend: BackendSettings): string {
  return backend.endpointIsDefault ? `${backend.endpoint} (the default: give --endpoint or set AIS_ENDPOINT)` : backend.endpoint;
}

/** A 401 at mount time, by its cause: each has its own fix. */
function explainRefusal(backend: BackendSettings, error: StoreError): string {
  const rejection = error instanceof UnauthorizedError ? error.rejection : undefined;
  const refused = `the store at ${describeEndpoint(backend)} refused the credentials for ${bucketUri(backend)} (401)`;
  switch (rejection?.kind) {
    case 'no-token':
      return `${refused}: ${describeRejection(rejection)}; give --token-file, AIS_AUTHN_TOKEN_FILE or AIS_AUTHN_TOKEN`;
    case 'expired':
      return `${refused}: ${describeRejection(rejection)}; put a fresh token in the file the mount reads (--token-file / AIS_AUTHN_TOKEN_FILE)`;
    default:
      return `${refused}: ${describeRejection({ kind: 'rejected' })}; the token is not valid for this cluster (signed with another secret?): check --token-file / AIS_AUTHN_TOKEN`;
  }
}

/** One bucket of a mount, as metrics and the health check see it. */
export interface ConnectedBucket {
  /** `ais://bucket[/prefix]`: safe as a metrics label and in logs. */
  readonly uri: string;
  readonly credentials: CredentialProvider;
  /** The health check's: few attempts and no wait for credentials, so it tells why the store does not answer. */
  readonly client: BucketClient;
  readonly store: AistoreClient;
}

export interface ConnectedFilesystem {
  readonly filesystem: PathFilesystem & InodeFilesystem;
  readonly fsname: string;
  readonly buckets: readonly ConnectedBucket[];
  /** Counters of the read path (one block cache and budget for the whole mount), for metrics. */
  readStats(): ReadStats;
  /** Counters of the disk cache, when the mount has one (`--cache-dir`). */
  diskCacheStats?(): DiskCacheStats;
  /** Where written files wait for their upload; undefined on a read-only mount. */
  readonly staging: StagingArea | undefined;
  /** Counters of the write path, every bucket together, with the staging area's. */
  writeStats(): (WriteStats & StagingStats) | undefined;
  /** Releases connection pools; after the filesystem is closed. */
  close(): Promise<void>;
  /** What the user should hear at mount time although the mount works (a prefix that matches nothing). */
  readonly warnings: readonly string[];
}

interface ConnectedBackend {
  readonly backend: BackendSettings;
  readonly filesystem: PathFilesystem & InodeFilesystem & { writeStats(): WriteStats };
  readonly store: AistoreClient;
  readonly probeStore: AistoreClient;
  readonly bucket: ConnectedBucket;
  readonly warning: string | undefined;
}

async function connectBackend(
  backend: BackendSettings,
  settings: MountSettings,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  blockCache: BlockCache,
  diskCache: DiskCache | undefined,
  staging: StagingArea | undefined,
): Promise<ConnectedBackend> {
  // Credentials and client log with the bucket as context; the filesystem adds its own (bucket name and prefix).
  const bucketLogger = logger.child({ bucket: bucketUri(backend) });
  let provider;
  try {
    provider = await createCredentialProvider({
      endpoint: backend.endpoint,
      token: backend.token,
      tokenFile: backend.tokenFile,
      tokenCheckIntervalMs: backend.tokenCheckIntervalMs,
      headers: headersFromFlags(backend.headers),
      headersFile: backend.headersFile,
      ...(settings.tokenWaitMs === undefined ? {} : { tokenWaitMs: settings.tokenWaitMs }),
      env,
      logger: bucketLogger,
    });
  } catch (error) {
    if (error instanceof CredentialConfigError || error instanceof HeaderSyntaxError) throw new CliError(error.message);
    throw error;
  }
  const tls = settings.tls;
  let store: AistoreClient;
  let probeStore: AistoreClient;
  let firstTryStore: AistoreClient;
  try {
    const tlsOptions = tls ? { tls: { caFile: tls.caFile, insecureSkipVerify: tls.insecureSkipVerify } } : {};
    const retry = settings.retryTimeoutMs === undefined ? {} : { retry: { timeoutMs: settings.retryTimeoutMs } };
    store = createAistoreClient({ logger: bucketLogger, ...retry, ...tlsOptions });
    probeStore = createAistoreClient({ ...tlsOptions, retry: { maxAttempts: HEALTH_PROBE_ATTEMPTS } });
    firstTryStore = createAistoreClient({ ...tlsOptions, retry: { maxAttempts: 1 } });
  } catch (error) {
    // The CA file is read when the client is made; a missing one is the only likely failure here.
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read the CA file ${tls?.caFile ?? ''} (--ca-file / AIS_CLIENT_CA): ${code ?? (error as Error).message}`);
  }
  const client: BucketClient = bindBucket(store, backend.location.bucket, provider);
  try {
    // At mount time a refused token is an error now, not a wait: the user is there to fix it. And a wrong endpoint
    // is a mistake to report, not an outage to ride out: the check has a retry deadline of its own.
    const retryTimeoutMs = Math.min(settings.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS, MOUNT_CHECK_RETRY_TIMEOUT_MS);
    const deadlineMs = Date.now() + retryTimeoutMs;
    const check = (client: AistoreClient, timeoutMs: number) =>
      bindBucket(client, backend.location.bucket, provider, { waitForCredentials: false }).headBucket({ retryTimeoutMs: timeoutMs });
    try {
      await check(firstTryStore, Math.min(retryTimeoutMs, MOUNT_CHECK_FIRST_TRY_MS));
    } catch (error) {
      // One attempt first: an endpoint of the other scheme is named at once, as no retry would mend it.
      const hint = await schemeMismatchHint(backend.endpoint, error);
      if (hint !== undefined) throw new CliError(hint);
      // The retries get what is left of the check's deadline; a first attempt that used it up is the answer.
      const leftMs = deadlineMs - Date.now();
      if (leftMs < MOUNT_CHECK_LEAST_RETRY_MS) throw error;
      await check(store, leftMs);
    }
  } catch (error) {
    provider.close();
    await Promise.all([store.close(), probeStore.close(), firstTryStore.close()]);
    if (error instanceof CliError) throw error;
    throw new CliError((await schemeMismatchHint(backend.endpoint, error)) ?? explainBucketFailure(backend, error));
  }
  await firstTryStore.close();
  const probe = bindBucket(probeStore, backend.location.bucket, provider, { waitForCredentials: false });
  const warning = await emptyPrefixWarning(backend, probe, bucketLogger);
  const filesystem = createBucketFilesystem({
    client,
    blockCache,
    ...(diskCache ? { diskCache: { cache: diskCache, endpoint: cacheEndpointName(backend.endpoint), bucket: cacheBucketName(backend.location.bucket) } } : {}),
    ...(settings.readPath ? { readPath: settings.readPath } : {}),
    prefix: backend.location.prefix,
    uid: settings.uid,
    gid: settings.gid,
    fileMode: settings.fileMode,
    dirMode: settings.dirMode,
    metadataTtlMs: settings.metadataTtlMs,
    negativeMetadataTtlMs: settings.negativeMetadataTtlMs,
    allowDelete: settings.allowDelete,
    logger: bucketLogger,
    ...(staging !== undefined ? { writes: { staging, allowOverwrite: settings.allowOverwrite ?? false, bucketLabel: bucketUri(backend) } } : {}),
    ...metadataBounds(settings),
  });
  return { backend, filesystem, store, probeStore, bucket: { uri: bucketUri(backend), credentials: provider, client: probe, store }, warning };
}

/** Time the one listing that checks a prefix may take: it only decides whether to warn. */
const PREFIX_CHECK_TIMEOUT_MS = 5_000;

/**
 * A warning when the mount's prefix matches no object (a typo, most often): one listing of one entry. The mount
 * works all the same and shows the objects once they appear; a listing that fails says nothing here.
 */
async function emptyPrefixWarning(backend: BackendSettings, client: BucketClient, logger: Logger): Promise<string | undefined> {
  const prefix = backend.location.prefix;
  if (prefix === '') return undefined;
  try {
    const page = await client.listPage({ prefix: `${prefix}/`, pageSize: 1 }, { retryTimeoutMs: PREFIX_CHECK_TIMEOUT_MS });
    if (page.entries.length > 0) return undefined;
  } catch (error) {
    logger.debug({ err: error }, 'cannot check whether the prefix matches any object');
    return undefined;
  }
  return `no object in ${bucketUri(backend)} has the prefix ${prefix}/: the mount works, but shows an empty folder until such objects appear (is the prefix misspelt?)`;
}

async function closeBackend(item: ConnectedBackend): Promise<void> {
  item.bucket.credentials.close();
  await Promise.all([item.store.close(), item.probeStore.close()]);
}

/** The core's options for the bounds the settings name; the others keep the core's defaults. */
function metadataBounds(settings: MountSettings): Partial<BucketFilesystemOptions> {
  const limits = settings.metadataLimits ?? {};
  return {
    ...(limits.metadataCacheEntries !== undefined ? { metadataCacheMaxEntries: limits.metadataCacheEntries } : {}),
    ...(limits.inodeCacheEntries !== undefined ? { idleInodeMaxEntries: limits.inodeCacheEntries } : {}),
    ...(limits.listCacheEntries !== undefined ? { listCacheMaxEntries: limits.listCacheEntries } : {}),
    ...(limits.treePrefetchEntries !== undefined ? { treePrefetchMaxEntries: limits.treePrefetchEntries } : {}),
  };
}

/**
 * Credentials, client and filesystem for every backend, each bucket checked (HEAD) first so a
 * missing bucket, an unreachable endpoint or a rejected token fail the mount with a clear line.
 */
export async function connectFilesystem(settings: MountSettings, env: NodeJS.ProcessEnv, logger: Logger): Promise<ConnectedFilesystem> {
  let blockCache: BlockCache;
  let cacheSizeBytes: number;
  try {
    const readPath = resolveReadPathOptions(settings.readPath);
    cacheSizeBytes = readPath.cacheSizeBytes;
    blockCache = blockCacheFor(readPath);
  } catch (error) {
    if (error instanceof ReadPathOptionsError) throw new CliError(`read path: ${error.message}`, 2);
    throw error;
  }
  const diskCache = await openDiskCache(settings, blockCache.blockSizeBytes, cacheSizeBytes, logger);
  const staging = settings.readOnly ? undefined : await openStaging(settings, env, logger);
  const connected: ConnectedBackend[] = [];
  try {
    for (const backend of settings.backends) connected.push(await connectBackend(backend, settings, env, logger, blockCache, diskCache, staging));
  } catch (error) {
    await Promise.all(connected.map(closeBackend));
    await diskCache?.close();
    throw error;
  }
  const readStats = (): ReadStats => blockCache.stats();
  const writeStats = (): (WriteStats & StagingStats) | undefined => {
    if (staging === undefined) return undefined;
    const total = { bytesWritten: 0, uploads: 0, uploadFailures: 0 };
    for (const item of connected) {
      const stats = item.filesystem.writeStats();
      total.bytesWritten += stats.bytesWritten;
      total.uploads += stats.uploads;
      total.uploadFailures += stats.uploadFailures;
    }
    return { ...total, ...staging.stats() };
  };
  const close = async (): Promise<void> => {
    blockCache.close();
    await diskCache?.close();
    await Promise.all(connected.map(closeBackend));
  };
  const stats = diskCache === undefined ? {} : { diskCacheStats: () => diskCache.stats() };
  const buckets = connected.map((item) => item.bucket);
  const warnings = connected.flatMap((item) => (item.warning === undefined ? [] : [item.warning]));
  const [single] = connected;
  if (connected.length === 1 && single && single.backend.dirName === undefined) {
    return { filesystem: single.filesystem, fsname: `bucketfs#${single.backend.location.bucket.name}`, buckets, readStats, ...stats, staging, writeStats, close, warnings };
  }
  const filesystem = createMultiBackendFilesystem({
    backends: connected.map((item) => ({ dirName: item.backend.dirName ?? item.backend.location.bucket.name, filesystem: item.filesystem })),
    uid: settings.uid,
    gid: settings.gid,
    dirMode: settings.dirMode,
    allowDelete: settings.allowDelete,
    ...(settings.metadataLimits?.inodeCacheEntries !== undefined ? { idleInodeMaxEntries: settings.metadataLimits.inodeCacheEntries } : {}),
  });
  return { filesystem, fsname: `bucketfs#${connected.map((item) => item.backend.location.bucket.name).join('+')}`, buckets, readStats, ...stats, staging, writeStats, close, warnings };
}

/** The mount's disk cache (`--cache-dir`): a dir it cannot write fails the mount in one line. */
async function openDiskCache(settings: MountSettings, blockBytes: number, cacheSizeBytes: number, logger: Logger): Promise<DiskCache | undefined> {
  if (settings.diskCache === undefined) return undefined;
  try {
    return await DiskCache.open({ dir: settings.diskCache.dir, limit: settings.diskCache.limit, blockBytes, writeBehindMaxBytes: writeBehindBytesFor(cacheSizeBytes), logger });
  } catch (error) {
    if (error instanceof CacheDirError) throw new CliError(error.message, 2);
    throw error;
  }
}

/** The mount's staging area; a folder that cannot be made or read is a clear error before anything is mounted. */
async function openStaging(settings: MountSettings, env: NodeJS.ProcessEnv, logger: Logger): Promise<StagingArea> {
  const dir = stagingDirFor(settings.mountpoint, settings.cacheDir, env);
  try {
    return await StagingArea.open({ dir, logger, ...(settings.maxStagingBytes !== undefined ? { maxBytes: settings.maxStagingBytes } : {}) });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`cannot use the staging folder ${dir} for writes (${code ?? (error as Error).message}): give --cache-dir DIR, or mount --read-only`);
  }
}
