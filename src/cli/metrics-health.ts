import { StoreError, UnauthorizedError } from '../store/errors.js';
import { describeRejection } from '../store/rejection-cause.js';

export const HEALTH_TIMEOUT_MS = 2_000;
export const HEALTH_CACHE_MS = 1_000;
/** Attempts of one probe: a transient fault is retried, a store that is down is named before the timeout. */
export const HEALTH_PROBE_ATTEMPTS = 3;

/** A bucket the health check asks (HEAD); the URI is what the report shows. */
export interface HealthBucket {
  readonly uri: string;
  readonly client: { headBucket(options?: { signal?: AbortSignal }): Promise<void> };
}

/**
 * One bucket: ok, or the store's failure class and, for some classes, our own phrase for the reason (never the
 * store's message: it could echo a header).
 */
export interface BucketHealth {
  readonly bucket: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly reason?: string;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly mounted: boolean;
  readonly buckets: readonly BucketHealth[];
}

export interface HealthCheckOptions {
  readonly buckets: readonly HealthBucket[];
  readonly isMounted: () => Promise<boolean>;
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
  readonly now?: () => number;
}

const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
};

/** The errno-like code of a transport failure, wherever undici put it in the cause chain. */
function networkCode(error: unknown): string | undefined {
  for (let cause = error, depth = 0; cause !== null && typeof cause === 'object' && depth < 4; depth += 1) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && code in NETWORK_REASONS) return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

function failureOf(error: unknown, timedOut: boolean, timeoutMs: number): Omit<BucketHealth, 'bucket' | 'ok'> {
  if (error instanceof UnauthorizedError) return { error: error.code, ...(error.rejection ? { reason: describeRejection(error.rejection) } : {}) };
  if (error instanceof StoreError && error.code === 'NETWORK') {
    const code = networkCode(error);
    return { error: error.code, reason: code === undefined ? 'unreachable' : `unreachable: ${NETWORK_REASONS[code]} (${code})` };
  }
  if (timedOut || error instanceof StoreError && error.code === 'TIMEOUT') return { error: 'TIMEOUT', reason: `no answer within ${timeoutMs / 1000} s` };
  if (error instanceof StoreError) return { error: error.code };
  return { error: 'ERROR' };
}

async function probeBucket(bucket: HealthBucket, timeoutMs: number): Promise<BucketHealth> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    await bucket.client.headBucket({ signal });
    return { bucket: bucket.uri, ok: true };
  } catch (error) {
    return { bucket: bucket.uri, ok: false, ...failureOf(error, signal.aborted, timeoutMs) };
  }
}

/** What is wrong, one phrase per failing bucket, for `bucketfs status`. */
export function healthProblems(report: HealthReport): string[] {
  const problems = report.mounted ? [] : ['the mount is not in the mount table'];
  for (const bucket of report.buckets) {
    if (bucket.ok) continue;
    const reason = bucket.reason === undefined ? '' : `: ${bucket.reason}`;
    switch (bucket.error) {
      case 'UNAUTHORIZED':
        problems.push(`${bucket.bucket}: the store refuses the credentials (401)${reason}`);
        break;
      case 'NETWORK':
        problems.push(`${bucket.bucket}: the store is ${bucket.reason ?? 'unreachable'}`);
        break;
      case 'TIMEOUT':
        problems.push(`${bucket.bucket}: the store does not answer${reason}`);
        break;
      default:
        problems.push(`${bucket.bucket}: ${bucket.error ?? 'failed'}${reason}`);
    }
  }
  return problems;
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
