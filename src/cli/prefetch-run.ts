import { CredentialConfigError } from '../auth/credential-config-error.js';
import { createCredentialProvider } from '../auth/credential-provider.js';
import { HeaderSyntaxError, headersFromFlags } from '../auth/headers-file.js';
import { CacheLimitError, DEFAULT_CACHE_LIMIT, parseCacheLimit, type CacheLimit } from '../fs/disk-cache/cache-limit.js';
import { CacheDirError, DiskCache, cacheBucketName, cacheEndpointName } from '../fs/disk-cache/disk-cache.js';
import { warmCache, type WarmObject } from '../fs/disk-cache/warm-cache.js';
import { normalizePrefix } from '../fs/paths.js';
import { resolveReadPathOptions } from '../fs/read-path-options.js';
import { createAistoreClient } from '../store/aistore-client.js';
import { bindBucket } from '../store/bucket-client.js';
import { parseBucketUri } from './bucket-uri.js';
import { CliError } from './cli-error.js';
import { ConfigError } from './config-error.js';
import { createLogger, LOG_LEVELS } from './logger.js';
import { DEFAULT_ENDPOINT } from './mount-config.js';
import { DEFAULT_PREFETCH_PARALLEL, MAX_PREFETCH_PARALLEL, type PrefetchFlags } from './prefetch-command.js';

const MiB = 1024 * 1024;
/** A progress bar on a terminal is redrawn at most this often. */
const BAR_REDRAW_MS = 200;
const BAR_WIDTH = 30;

function parseParallel(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PREFETCH_PARALLEL;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < 1 || value > MAX_PREFETCH_PARALLEL) {
    throw new CliError(`--parallel: expected a whole number from 1 to ${MAX_PREFETCH_PARALLEL}, got ${JSON.stringify(text)}`, 2);
  }
  return value;
}

function parseLimit(text: string | undefined): CacheLimit {
  if (text === undefined) return DEFAULT_CACHE_LIMIT;
  try {
    return parseCacheLimit(text);
  } catch (error) {
    if (error instanceof CacheLimitError) throw new CliError(`--max-cache-size: ${error.message}`, 2);
    throw error;
  }
}

/** `bucketfs prefetch URI`: lists the objects under it and warms the cache dir with them (`warmCache`). */
export async function runPrefetch(uri: string, flags: PrefetchFlags): Promise<void> {
  if (flags.cacheDir === undefined) throw new CliError('--cache-dir: required (the cache dir the mounts of the job use)', 2);
  let location;
  try {
    location = parseBucketUri(uri, 'ais://BUCKET');
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
  const limit = parseLimit(flags.maxCacheSize);
  const parallel = parseParallel(flags.parallel);
  const logLevel = flags.logLevel ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new CliError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`, 2);
  const logger = createLogger(logLevel);
  const endpoint = flags.endpoint ?? (process.env.AIS_ENDPOINT || DEFAULT_ENDPOINT);
  const readPath = resolveReadPathOptions();

  let cache: DiskCache;
  try {
    cache = await DiskCache.open({ dir: flags.cacheDir, limit, blockBytes: readPath.blockSizeBytes, writeBehindMaxBytes: readPath.partSizeBytes, logger });
  } catch (error) {
    if (error instanceof CacheDirError) throw new CliError(error.message, 2);
    throw error;
  }
  let provider;
  try {
    provider = await createCredentialProvider({
      endpoint,
      token: flags.token,
      tokenFile: flags.tokenFile,
      headers: headersFromFlags(flags.header ?? []),
      headersFile: flags.headersFile,
      env: process.env,
      logger,
    });
  } catch (error) {
    await cache.close();
    if (error instanceof CredentialConfigError || error instanceof HeaderSyntaxError) throw new CliError(error.message, 2);
    throw error;
  }
  const store = createAistoreClient({ logger });
  try {
    const client = bindBucket(store, location.bucket, provider);
    const prefix = normalizePrefix(location.prefix);
    const objects: WarmObject[] = [];
    try {
      for await (const entry of client.list({ prefix, recursive: true })) {
        if (!entry.isDir) objects.push({ key: entry.name, size: entry.size, version: entry.version });
      }
    } catch (error) {
      throw new CliError(`cannot list ${uri} at ${endpoint}: ${(error as Error).message}`);
    }
    if (objects.length === 0) throw new CliError(`no objects under ${uri} at ${endpoint}: nothing to prefetch`);
    const totalBytes = objects.reduce((sum, object) => sum + object.size, 0);
    const progress = progressReporter(totalBytes, process.stderr);
    const startedMs = performance.now();
    const report = await warmCache({
      client,
      cache,
      endpoint: cacheEndpointName(endpoint),
      bucket: cacheBucketName(location.bucket),
      objects,
      blockBytes: readPath.blockSizeBytes,
      partBytes: readPath.partSizeBytes,
      parallel,
      onProgress: progress.update,
    });
    progress.end();
    const seconds = (performance.now() - startedMs) / 1000;
    const rate = seconds > 0 ? report.fetchedBytes / MiB / seconds : 0;
    process.stdout.write(
      `prefetched ${report.cachedFiles} of ${objects.length} files, ${report.cachedBytes} bytes (${formatMiB(report.cachedBytes)}) in ${seconds.toFixed(2)} s: ` +
        `${formatMiB(report.fetchedBytes)} fetched at ${rate.toFixed(1)} MiB/s\n`,
    );
    if (report.failures.length > 0) {
      const [first] = report.failures;
      throw new CliError(`${report.failures.length} of ${objects.length} files not cached (${first?.key}: ${first?.reason})`);
    }
  } finally {
    await cache.close();
    provider.close();
    await store.close();
  }
}

function formatMiB(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** A bar redrawn in place on a terminal; elsewhere (a log) one line each time another tenth is done. */
function progressReporter(totalBytes: number, out: NodeJS.WriteStream): { update: (doneBytes: number) => void; end: () => void } {
  const tty = out.isTTY === true;
  let lastTenth = 0;
  let lastDrawMs = 0;
  let drawn = false;
  const share = (doneBytes: number): number => (totalBytes === 0 ? 1 : doneBytes / totalBytes);
  const draw = (doneBytes: number): void => {
    const filled = Math.round(share(doneBytes) * BAR_WIDTH);
    out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.floor(share(doneBytes) * 100)}% ${formatMiB(doneBytes)} of ${formatMiB(totalBytes)}`);
    drawn = true;
  };
  return {
    update(doneBytes) {
      if (tty) {
        const now = performance.now();
        if (now - lastDrawMs < BAR_REDRAW_MS && doneBytes < totalBytes) return;
        lastDrawMs = now;
        draw(doneBytes);
        return;
      }
      const tenth = Math.floor(share(doneBytes) * 10);
      for (let step = lastTenth + 1; step <= tenth; step += 1) out.write(`prefetch: ${step * 10}% (${formatMiB(doneBytes)} of ${formatMiB(totalBytes)})\n`);
      lastTenth = Math.max(lastTenth, tenth);
    },
    end() {
      if (drawn) out.write('\n');
    },
  };
}
