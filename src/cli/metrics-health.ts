import { StoreError } from '../store/errors.js';

export const HEALTH_TIMEOUT_MS = 2_000;
export const HEALTH_CACHE_MS = 1_000;

/** A bucket the health check asks (HEAD); the URI is what the report shows. */
export interface HealthBucket {
  readonly uri: string;
  readonly client: { headBucket(options?: { signal?: AbortSignal }): Promise<void> };
}

export interface HealthReport {
  readonly ok: boolean;
  readonly mounted: boolean;
  /** Per bucket: ok, or the store's failure class (never a message: it could echo a header). */
  readonly buckets: readonly { readonly bucket: string; readonly ok: boolean; readonly error?: string }[];
}

export interface HealthCheckOptions {
  readonly buckets: readonly HealthBucket[];
  readonly isMounted: () => Promise<boolean>;
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
  readonly now?: () => number;
}

function failureClass(error: unknown): string {
  if (error instanceof StoreError) return error.code;
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) return 'TIMEOUT';
  return 'ERROR';
}

async function probeBucket(bucket: HealthBucket, timeoutMs: number): Promise<HealthReport['buckets'][number]> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    await bucket.client.headBucket({ signal });
    return { bucket: bucket.uri, ok: true };
  } catch (error) {
    // The client retries connection failures, so a store that is down usually shows as our timeout.
    return { bucket: bucket.uri, ok: false, error: signal.aborted ? 'TIMEOUT' : failureClass(error) };
  }
}

/**
 * Healthy = the mount is in the mount table and every bucket answers a HEAD within the timeout. The
 * answer is kept `cacheMs`, and concurrent callers share one probe, so a tight scrape loop cannot
 * turn into load on the store.
 */
export function createHealthCheck(options: HealthCheckOptions): () => Promise<HealthReport> {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? HEALTH_CACHE_MS;
  const timeoutMs = options.timeoutMs ?? HEALTH_TIMEOUT_MS;
  let cached: { report: HealthReport; atMs: number } | undefined;
  let running: Promise<HealthReport> | undefined;
  const probe = async (): Promise<HealthReport> => {
    const mounted = await options.isMounted().catch(() => false);
    const buckets = await Promise.all(options.buckets.map((bucket) => probeBucket(bucket, timeoutMs)));
    return { ok: mounted && buckets.every((bucket) => bucket.ok), mounted, buckets };
  };
  return () => {
    if (cached !== undefined && now() - cached.atMs < cacheMs) return Promise.resolve(cached.report);
    running ??= probe()
      .then((report) => {
        cached = { report, atMs: now() };
        return report;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}
