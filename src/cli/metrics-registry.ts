import { constants } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OperationObserver, OperationOutcome } from '../fuse/fuse-operations.js';

/** What the token gauges and counters read at scrape time (CredentialProvider has them all). */
export interface CredentialCounters {
  readonly reloads: number;
  readonly reloadFailures: number;
  tokenExpiresAt(): Date | undefined;
  /** Requests waiting now for the token or headers file to change, and all that waited since start. */
  readonly waitingRequests?: number;
  readonly heldRequests?: number;
}

/** Retry counters of a store client, when the client keeps them. */
export interface StoreRetryCounters {
  readonly retries: number;
  readonly retriesByReason?: Readonly<Record<string, number>>;
  readonly resumedBodies?: number;
  readonly exhausted?: number;
}

/** Read-path counters (block cache, prefetch), when the filesystem keeps them. */
export interface ReadPathCounters {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly cacheEvictions: number;
  readonly prefetchedBytes?: number;
  readonly prefetchWasteBytes: number;
  readonly bytesFetched?: number;
  readonly cachedBytes?: number;
}

/** One bucket of the mount, labelled by its URI (never by anything secret). */
export interface BucketMetricsSource {
  readonly bucket: string;
  readonly credentials: CredentialCounters;
  readonly storeStats?: () => StoreRetryCounters | undefined;
}

/** How full the metadata tables are (the core's `metadataStats`). */
export interface MetadataCounters {
  readonly inodes?: number;
  readonly heldInodes?: number;
  readonly metadataEntries?: number;
  readonly listedEntries?: number;
}

/** The write path's counters and its staging area (a writable mount). */
export interface WriteCounters {
  readonly bytesWritten: number;
  readonly uploads: number;
  readonly uploadFailures: number;
  readonly stagedBytes: number;
  readonly keptFiles: readonly unknown[];
}

/** The FUSE engine's own counters, when it keeps them (the native engine). */
export interface EngineCounters {
  readonly readSlotsWithheld: number;
  readonly invalidationsPending: number;
  readonly invalidationsDropped: number;
  /** Absent from engines that open nothing alone. */
  readonly opensServed?: number;
}

/** Counters of the disk cache (`--cache-dir`), when the mount has one. */
export interface DiskCacheCounters {
  readonly enabled: boolean;
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly evictions: number;
  readonly checksumFailures: number;
  readonly sizeBytes: number;
}

export interface MetricsSources {
  readonly buckets: readonly BucketMetricsSource[];
  readonly diskCacheStats?: () => DiskCacheCounters | undefined;
  readonly readStats?: () => ReadPathCounters | undefined;
  readonly metadataStats?: () => MetadataCounters | undefined;
  readonly engineStats?: () => EngineCounters | undefined;
  readonly writeStats?: () => WriteCounters | undefined;
  readonly now?: () => number;
}

export interface MountMetrics {
  readonly registry: Registry;
  /** Pass to the FUSE adapter: it records per-operation counts, errors, latency and bytes read. */
  readonly observer: OperationObserver;
}

/** Kernel requests from 0.1 ms (cached getattr) to a minute (a read that waited for retries). */
export const OPERATION_SECONDS_BUCKETS: readonly number[] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** `ENOENT` for 2; the number as text for anything unknown (labels stay a small, fixed set). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? String(errno);
}

/**
 * A counter whose value lives elsewhere (a provider's reload count): it is set from the source at
 * each scrape, which keeps the source free of any metrics code.
 */
function mirroredCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Iterable<[Partial<Record<L, string>>, number]>,
): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels as Record<L, string>, value);
    },
  });
}

function mirroredGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Iterable<[Partial<Record<L, string>>, number]>,
): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels as Record<L, string>, value);
    },
  });
}

function* storeStatsOf(sources: MetricsSources): Generator<[string, StoreRetryCounters]> {
  for (const source of sources.buckets) {
    const stats = source.storeStats?.();
    if (stats !== undefined) yield [source.bucket, stats];
  }
}

function registerOperationMetrics(registry: Registry): OperationObserver {
  const operations = new Counter({ name: 'bucketfs_fuse_operations_total', help: 'Kernel requests answered, by operation', labelNames: ['op'], registers: [registry] });
  const errors = new Counter({
    name: 'bucketfs_fuse_operation_errors_total',
    help: 'Kernel requests answered with an error, by operation and errno name',
    labelNames: ['op', 'errno'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'bucketfs_fuse_operation_duration_seconds',
    help: 'Time from a kernel request to its answer, by operation',
    labelNames: ['op'],
    buckets: [...OPERATION_SECONDS_BUCKETS],
    registers: [registry],
  });
  const bytesRead = new Counter({ name: 'bucketfs_read_bytes_total', help: 'Bytes returned to the kernel by read requests', registers: [registry] });
  return {
    operationDone(outcome: OperationOutcome): void {
      operations.inc({ op: outcome.op });
      duration.observe({ op: outcome.op }, outcome.durationSeconds);
      if (outcome.errno !== 0) errors.inc({ op: outcome.op, errno: errnoName(outcome.errno) });
      if (outcome.bytes > 0) bytesRead.inc(outcome.bytes);
    },
  };
}

function registerCredentialMetrics(registry: Registry, sources: MetricsSources): void {
  const now = sources.now ?? Date.now;
  mirroredCounter(registry, 'bucketfs_token_reloads_total', 'Successful reloads of the token and headers files', ['bucket'], function* () {
    for (const source of sources.buckets) yield [{ bucket: source.bucket }, source.credentials.reloads];
  });
  mirroredCounter(registry, 'bucketfs_token_reload_failures_total', 'Reloads of the token or headers file that failed (the last good one stays)', ['bucket'], function* () {
    for (const source of sources.buckets) yield [{ bucket: source.bucket }, source.credentials.reloadFailures];
  });
  mirroredGauge(registry, 'bucketfs_credential_waiting_requests', 'Requests the store refused, waiting now for the token or headers file to change', ['bucket'], function* () {
    for (const source of sources.buckets) yield [{ bucket: source.bucket }, source.credentials.waitingRequests ?? 0];
  });
  mirroredCounter(registry, 'bucketfs_credential_held_requests_total', 'Requests that waited for the token or headers file to change (see --token-wait)', ['bucket'], function* () {
    for (const source of sources.buckets) yield [{ bucket: source.bucket }, source.credentials.heldRequests ?? 0];
  });
  mirroredGauge(registry, 'bucketfs_token_expiry_seconds', "Seconds until the current token's JWT exp (negative once expired; absent without exp)", ['bucket'], function* () {
    for (const source of sources.buckets) {
      const expiresAt = source.credentials.tokenExpiresAt();
      if (expiresAt !== undefined) yield [{ bucket: source.bucket }, (expiresAt.getTime() - now()) / 1000];
    }
  });
}

function registerStoreMetrics(registry: Registry, sources: MetricsSources): void {
  mirroredCounter(registry, 'bucketfs_store_retries_total', 'Store calls retried, by reason', ['bucket', 'reason'], function* () {
    for (const [bucket, stats] of storeStatsOf(sources)) {
      const byReason = Object.entries(stats.retriesByReason ?? {});
      if (byReason.length === 0) yield [{ bucket, reason: 'any' }, stats.retries];
      for (const [reason, count] of byReason) yield [{ bucket, reason }, count];
    }
  });
  mirroredCounter(registry, 'bucketfs_store_resumed_reads_total', 'GET bodies that broke off and were continued from the byte reached', ['bucket'], function* () {
    for (const [bucket, stats] of storeStatsOf(sources)) yield [{ bucket }, stats.resumedBodies ?? 0];
  });
  mirroredCounter(registry, 'bucketfs_store_retries_exhausted_total', 'Store calls that failed after the retry bound', ['bucket'], function* () {
    for (const [bucket, stats] of storeStatsOf(sources)) yield [{ bucket }, stats.exhausted ?? 0];
  });
}

/** A reader of one unlabelled number of a stats source, for a mirrored metric; nothing when the source has none. */
function fieldOf<T>(source: (() => T | undefined) | undefined): (pick: (stats: T) => number | undefined) => () => Generator<[Record<never, string>, number]> {
  return (pick) =>
    function* () {
      const stats = source?.();
      const value = stats === undefined ? undefined : pick(stats);
      if (value !== undefined) yield [{}, value];
    };
}

function registerReadPathMetrics(registry: Registry, sources: MetricsSources): void {
  const read = fieldOf(sources.readStats);
  mirroredCounter(registry, 'bucketfs_cache_hits_total', 'Reads served entirely from cached blocks', [], read((s) => s.cacheHits));
  mirroredCounter(registry, 'bucketfs_cache_misses_total', 'Reads that waited for a GET', [], read((s) => s.cacheMisses));
  mirroredCounter(registry, 'bucketfs_cache_evictions_total', 'Cached blocks dropped to make room', [], read((s) => s.cacheEvictions));
  mirroredCounter(registry, 'bucketfs_prefetch_bytes_total', 'Bytes fetched ahead of any reader', [], read((s) => s.prefetchedBytes));
  mirroredCounter(registry, 'bucketfs_prefetch_wasted_bytes_total', 'Prefetched bytes dropped without being read', [], read((s) => s.prefetchWasteBytes));
  mirroredCounter(registry, 'bucketfs_store_fetched_bytes_total', 'Bytes of GET bodies received by the read path', [], read((s) => s.bytesFetched));
  mirroredGauge(registry, 'bucketfs_cache_bytes', 'Bytes of blocks cached now', [], read((s) => s.cachedBytes));
}

function registerDiskCacheMetrics(registry: Registry, sources: MetricsSources): void {
  const read = fieldOf(sources.diskCacheStats);
  mirroredCounter(registry, 'bucketfs_disk_cache_hits_total', 'Block reads served from the disk cache', [], read((s) => s.hits));
  mirroredCounter(registry, 'bucketfs_disk_cache_misses_total', 'Block reads the disk cache did not hold (fetched from the store)', [], read((s) => s.misses));
  mirroredCounter(registry, 'bucketfs_disk_cache_served_bytes_total', 'Bytes served from the disk cache', [], read((s) => s.bytesServed));
  mirroredCounter(registry, 'bucketfs_disk_cache_evictions_total', 'Block files this mount evicted to keep the cache under its limit', [], read((s) => s.evictions));
  mirroredCounter(registry, 'bucketfs_disk_cache_checksum_failures_total', 'Damaged or truncated block files dropped and fetched again', [], read((s) => s.checksumFailures));
  mirroredGauge(registry, 'bucketfs_disk_cache_bytes', 'Bytes of block files in the cache dir (all mounts sharing it)', [], read((s) => s.sizeBytes));
  mirroredGauge(registry, 'bucketfs_disk_cache_enabled', '1 while the disk cache is in use, 0 once a disk error turned it off', [], read((s) => (s.enabled ? 1 : 0)));
}

function registerMetadataMetrics(registry: Registry, sources: MetricsSources): void {
  const read = fieldOf(sources.metadataStats);
  mirroredGauge(registry, 'bucketfs_inodes', 'Inode numbers alive now', [], read((s) => s.inodes));
  mirroredGauge(registry, 'bucketfs_inodes_held', 'Inode numbers the kernel holds now (until it forgets them)', [], read((s) => s.heldInodes));
  mirroredGauge(registry, 'bucketfs_metadata_cache_entries', 'Names (found or missing) whose attributes are cached', [], read((s) => s.metadataEntries));
  mirroredGauge(registry, 'bucketfs_listing_cache_entries', 'Children of the finished listings kept', [], read((s) => s.listedEntries));
}

function registerWriteMetrics(registry: Registry, sources: MetricsSources): void {
  const read = fieldOf(sources.writeStats);
  mirroredCounter(registry, 'bucketfs_written_bytes_total', 'Bytes written to files of the mount', [], read((s) => s.bytesWritten));
  mirroredCounter(registry, 'bucketfs_uploads_total', 'Uploads of written files that landed in the store', [], read((s) => s.uploads));
  mirroredCounter(registry, 'bucketfs_upload_failures_total', 'Uploads of written files that failed (close or fsync returned EIO)', [], read((s) => s.uploadFailures));
  mirroredGauge(registry, 'bucketfs_staging_bytes', 'Bytes of written files in the staging area now, kept ones included', [], read((s) => s.stagedBytes));
  mirroredGauge(registry, 'bucketfs_staging_kept_files', 'Staging files kept because their bytes never reached the store', [], read((s) => s.keptFiles.length));
}

function registerEngineMetrics(registry: Registry, sources: MetricsSources): void {
  const read = fieldOf(sources.engineStats);
  mirroredGauge(
    registry,
    'bucketfs_native_read_slots_withheld',
    'Read slots of the native engine never reused: a timeout or the teardown answered their read while the core could still write into them',
    [],
    read((s) => s.readSlotsWithheld),
  );
  mirroredGauge(registry, 'bucketfs_native_invalidations_pending', 'Kernel cache invalidations queued on the native engine\'s notifier thread', [], read((s) => s.invalidationsPending));
  mirroredCounter(registry, 'bucketfs_native_invalidations_dropped_total', 'Kernel cache invalidations the native engine could not queue (out of memory)', [], read((s) => s.invalidationsDropped));
  mirroredCounter(registry, 'bucketfs_native_opens_served_total', 'Opens of cached small files the native engine served alone, from its block file', [], read((s) => s.opensServed ?? 0));
}

/** A registry of its own (no global state) with every metric of one mount. */
export function createMountMetrics(sources: MetricsSources): MountMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bucketfs_' });
  const observer = registerOperationMetrics(registry);
  registerCredentialMetrics(registry, sources);
  registerStoreMetrics(registry, sources);
  registerReadPathMetrics(registry, sources);
  registerDiskCacheMetrics(registry, sources);
  registerMetadataMetrics(registry, sources);
  registerEngineMetrics(registry, sources);
  registerWriteMetrics(registry, sources);
  return { registry, observer };
}
