import { describe, expect, it } from 'vitest';
import { createMountMetrics, errnoName, type CredentialCounters, type EngineCounters, type ReadPathCounters, type StoreRetryCounters } from '../../src/cli/metrics-registry.js';

/** The sample lines of the Prometheus text format that start with `name` (labels included), without comments. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => !line.startsWith('#') && (line.startsWith(`${name} `) || line.startsWith(`${name}{`)));
}

function credentials(overrides: Partial<{ reloads: number; reloadFailures: number; expiresAt: Date | undefined }> = {}): CredentialCounters & {
  reloads: number;
  reloadFailures: number;
} {
  const state = { reloads: overrides.reloads ?? 0, reloadFailures: overrides.reloadFailures ?? 0 };
  return Object.assign(state, { tokenExpiresAt: () => overrides.expiresAt });
}

describe('errnoName', () => {
  it.each([
    [2, 'ENOENT'],
    [5, 'EIO'],
    [13, 'EACCES'],
    [30, 'EROFS'],
    [99999, '99999'],
  ])('%i → %s', (errno, name) => {
    expect(errnoName(errno)).toBe(name);
  });
});

describe('createMountMetrics', () => {
  it('counts operations, errors by errno name, latency and bytes read from the adapter', async () => {
    const { registry, observer } = createMountMetrics({ buckets: [] });
    observer.operationDone({ op: 'read', errno: 0, durationSeconds: 0.002, bytes: 4096 });
    observer.operationDone({ op: 'read', errno: 0, durationSeconds: 0.004, bytes: 100 });
    observer.operationDone({ op: 'getattr', errno: 2, durationSeconds: 0.0001, bytes: 0 });
    observer.operationDone({ op: 'read', errno: 5, durationSeconds: 1.5, bytes: 0 });
    const text = await registry.metrics();
    expect(samples(text, 'bucketfs_fuse_operations_total').sort()).toEqual([
      'bucketfs_fuse_operations_total{op="getattr"} 1',
      'bucketfs_fuse_operations_total{op="read"} 3',
    ]);
    expect(samples(text, 'bucketfs_fuse_operation_errors_total').sort()).toEqual([
      'bucketfs_fuse_operation_errors_total{op="getattr",errno="ENOENT"} 1',
      'bucketfs_fuse_operation_errors_total{op="read",errno="EIO"} 1',
    ]);
    expect(samples(text, 'bucketfs_read_bytes_total')).toEqual(['bucketfs_read_bytes_total 4196']);
    expect(samples(text, 'bucketfs_fuse_operation_duration_seconds_count').sort()).toEqual([
      'bucketfs_fuse_operation_duration_seconds_count{op="getattr"} 1',
      'bucketfs_fuse_operation_duration_seconds_count{op="read"} 3',
    ]);
    expect(samples(text, 'bucketfs_fuse_operation_duration_seconds_bucket').filter((line) => line.includes('le="0.005",op="read"'))).toEqual([
      'bucketfs_fuse_operation_duration_seconds_bucket{le="0.005",op="read"} 2',
    ]);
  });

  it('reads token reloads, failures and seconds to expiry at scrape time, per bucket', async () => {
    const nowMs = Date.parse('2026-01-01T00:00:00Z');
    const first = credentials({ reloads: 2, reloadFailures: 1, expiresAt: new Date(nowMs + 90_000) });
    const second = credentials();
    const { registry } = createMountMetrics({
      buckets: [
        { bucket: 'ais://one', credentials: first },
        { bucket: 'ais://two/prefix', credentials: second },
      ],
      now: () => nowMs,
    });
    let text = await registry.metrics();
    expect(samples(text, 'bucketfs_token_reloads_total')).toEqual([
      'bucketfs_token_reloads_total{bucket="ais://one"} 2',
      'bucketfs_token_reloads_total{bucket="ais://two/prefix"} 0',
    ]);
    expect(samples(text, 'bucketfs_token_reload_failures_total')).toContain('bucketfs_token_reload_failures_total{bucket="ais://one"} 1');
    // No JWT exp on the second bucket: no sample rather than a made-up value.
    expect(samples(text, 'bucketfs_token_expiry_seconds')).toEqual(['bucketfs_token_expiry_seconds{bucket="ais://one"} 90']);

    first.reloads = 5;
    text = await registry.metrics();
    expect(samples(text, 'bucketfs_token_reloads_total')).toContain('bucketfs_token_reloads_total{bucket="ais://one"} 5');
  });

  it('counts requests waiting on credentials, now and since start', async () => {
    const held = { ...credentials(), waitingRequests: 3, heldRequests: 7 };
    const { registry } = createMountMetrics({ buckets: [{ bucket: 'ais://b', credentials: held }] });
    const text = await registry.metrics();
    expect(samples(text, 'bucketfs_credential_waiting_requests')).toEqual(['bucketfs_credential_waiting_requests{bucket="ais://b"} 3']);
    expect(samples(text, 'bucketfs_credential_held_requests_total')).toEqual(['bucketfs_credential_held_requests_total{bucket="ais://b"} 7']);
  });

  it('mirrors store retry and read-path counters when the layers keep them, and shows none or zero when they do not', async () => {
    let store: StoreRetryCounters | undefined = {
      retries: 3,
      retriesByReason: { network: 2, 'server-error': 1 },
      resumedBodies: 1,
      exhausted: 0,
    };
    let read: ReadPathCounters | undefined = { cacheHits: 7, cacheMisses: 2, cacheEvictions: 1, prefetchWasteBytes: 4096, cachedBytes: 8192 };
    const { registry } = createMountMetrics({
      buckets: [{ bucket: 'ais://b', credentials: credentials(), storeStats: () => store }],
      readStats: () => read,
      metadataStats: () => ({ inodes: 12, heldInodes: 9, metadataEntries: 30, listedEntries: 40 }),
    });
    let text = await registry.metrics();
    expect(samples(text, 'bucketfs_inodes')).toEqual(['bucketfs_inodes 12']);
    expect(samples(text, 'bucketfs_inodes_held')).toEqual(['bucketfs_inodes_held 9']);
    expect(samples(text, 'bucketfs_metadata_cache_entries')).toEqual(['bucketfs_metadata_cache_entries 30']);
    expect(samples(text, 'bucketfs_listing_cache_entries')).toEqual(['bucketfs_listing_cache_entries 40']);
    expect(samples(text, 'bucketfs_store_retries_total').sort()).toEqual([
      'bucketfs_store_retries_total{bucket="ais://b",reason="network"} 2',
      'bucketfs_store_retries_total{bucket="ais://b",reason="server-error"} 1',
    ]);
    expect(samples(text, 'bucketfs_store_resumed_reads_total')).toEqual(['bucketfs_store_resumed_reads_total{bucket="ais://b"} 1']);
    expect(samples(text, 'bucketfs_cache_hits_total')).toEqual(['bucketfs_cache_hits_total 7']);
    expect(samples(text, 'bucketfs_cache_misses_total')).toEqual(['bucketfs_cache_misses_total 2']);
    expect(samples(text, 'bucketfs_cache_evictions_total')).toEqual(['bucketfs_cache_evictions_total 1']);
    expect(samples(text, 'bucketfs_prefetch_wasted_bytes_total')).toEqual(['bucketfs_prefetch_wasted_bytes_total 4096']);
    expect(samples(text, 'bucketfs_cache_bytes')).toEqual(['bucketfs_cache_bytes 8192']);

    store = undefined;
    read = undefined;
    text = await registry.metrics();
    expect(samples(text, 'bucketfs_store_retries_total')).toEqual([]);
    // Unlabelled metrics show 0 (prom-client's way for a series with no labels), never a stale value.
    expect(samples(text, 'bucketfs_cache_hits_total')).toEqual(['bucketfs_cache_hits_total 0']);
  });

  it('shows the native engine\'s withheld read slots and invalidations, and nothing of them for an engine without counters', async () => {
    let engine: EngineCounters | undefined = { readSlotsWithheld: 2, invalidationsPending: 5, invalidationsDropped: 1 };
    const { registry } = createMountMetrics({ buckets: [], engineStats: () => engine });
    let text = await registry.metrics();
    expect(samples(text, 'bucketfs_native_read_slots_withheld')).toEqual(['bucketfs_native_read_slots_withheld 2']);
    expect(samples(text, 'bucketfs_native_invalidations_pending')).toEqual(['bucketfs_native_invalidations_pending 5']);
    expect(samples(text, 'bucketfs_native_invalidations_dropped_total')).toEqual(['bucketfs_native_invalidations_dropped_total 1']);
    engine = undefined;
    text = await registry.metrics();
    expect(samples(text, 'bucketfs_native_read_slots_withheld')).toEqual(['bucketfs_native_read_slots_withheld 0']);
  });

  it('shows bytes written, uploads, upload failures and staging bytes of a writable mount', async () => {
    const { registry } = createMountMetrics({
      buckets: [],
      writeStats: () => ({ bytesWritten: 4096, uploads: 3, uploadFailures: 1, stagedBytes: 512, keptFiles: [{}] }),
    });
    const text = await registry.metrics();
    expect(samples(text, 'bucketfs_written_bytes_total')).toEqual(['bucketfs_written_bytes_total 4096']);
    expect(samples(text, 'bucketfs_uploads_total')).toEqual(['bucketfs_uploads_total 3']);
    expect(samples(text, 'bucketfs_upload_failures_total')).toEqual(['bucketfs_upload_failures_total 1']);
    expect(samples(text, 'bucketfs_staging_bytes')).toEqual(['bucketfs_staging_bytes 512']);
    expect(samples(text, 'bucketfs_staging_kept_files')).toEqual(['bucketfs_staging_kept_files 1']);
  });

  it('names every metric bucketfs_* and keeps two registries apart (no global state)', async () => {
    const one = createMountMetrics({ buckets: [] });
    const two = createMountMetrics({ buckets: [] });
    one.observer.operationDone({ op: 'open', errno: 0, durationSeconds: 0.001, bytes: 0 });
    const names = (await one.registry.getMetricsAsJSON()).map((metric) => metric.name);
    expect(names.every((name) => name.startsWith('bucketfs_'))).toBe(true);
    expect(samples(await two.registry.metrics(), 'bucketfs_fuse_operations_total')).toEqual([]);
  });
});
