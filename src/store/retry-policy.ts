import { AbortedError, StoreError } from './errors.js';

/** Bounds of the retry loop; every field has a default. */
export interface RetryOptions {
  /** Attempts in all, the first included; 1 disables retries. Default 6. */
  readonly maxAttempts?: number;
  /**
   * Cap of the first back-off; doubled per retry (full jitter: the wait is uniform in [0, cap]). Default 200 ms:
   * with 6 attempts the waits add up to at most 6.2 s (3.1 s on average), enough to ride out a restarting proxy.
   */
  readonly baseDelayMs?: number;
  /** Largest back-off cap. Default 5 s. */
  readonly maxDelayMs?: number;
  /** No retry starts once this much time has passed since the first attempt (or would pass while waiting). Default 30 s. */
  readonly maxElapsedMs?: number;
  /** Told of every retry before its back-off, e.g. for metrics. Must not throw. */
  readonly onRetry?: (event: RetryEvent) => void;
}

export const DEFAULT_MAX_ATTEMPTS = 6;
export const DEFAULT_BASE_DELAY_MS = 200;
export const DEFAULT_MAX_DELAY_MS = 5_000;
export const DEFAULT_MAX_ELAPSED_MS = 30_000;

/** Why a call was retried; the keys of `RetryStats.retriesByReason`. */
export type RetryReason = 'network' | 'timeout' | 'throttled' | 'server-error';

export interface RetryEvent {
  /** Names the call, e.g. `GET ais://b/key`. */
  readonly what: string;
  /** The attempt about to start (2 for the first retry). */
  readonly attempt: number;
  readonly reason: RetryReason;
  readonly delayMs: number;
  /** The failure being retried (its message names the call and status, never a header). */
  readonly error: StoreError;
}

/** Counters since the client was made; a snapshot, safe to keep. */
export interface RetryStats {
  readonly retries: number;
  readonly retriesByReason: Readonly<Record<RetryReason, number>>;
  /** GET attempts that continued a body which broke off, from the byte it reached (each also counts in `retries`). */
  readonly resumedBodies: number;
  /** Calls that failed with a retryable error after the bound (count or time) was reached. */
  readonly exhausted: number;
}

/** Which failures a call may retry. */
export type RetryClass = 'idempotent' | 'put' | 'never';

/** Injected for tests: a fake clock and a sleep that needs no real time. */
export interface RetryDeps {
  readonly now?: () => number;
  readonly sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** Uniform in [0, 1). */
  readonly random?: () => number;
}

export function retryReason(error: StoreError): RetryReason | undefined {
  if (!error.retryable) return undefined;
  switch (error.code) {
    case 'NETWORK':
      return 'network';
    case 'TIMEOUT':
      return 'timeout';
    case 'TOO_MANY_REQUESTS':
      return 'throttled';
    default:
      return 'server-error';
  }
}

/**
 * Whether a failure of this class of call may be tried again. A PUT replaces the object with bytes we hold, but a
 * retry after the server may have stored it could overwrite a later writer: only the failures that prove nothing
 * was stored are retried (429, and a connection that was never made).
 */
export function mayRetry(retryClass: RetryClass, error: StoreError): boolean {
  if (retryClass === 'never' || !error.retryable) return false;
  if (retryClass === 'idempotent') return true;
  return error.code === 'TOO_MANY_REQUESTS' || causeCode(error) === 'ECONNREFUSED';
}

function causeCode(error: StoreError): string | undefined {
  const cause = error.cause as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = cause?.code ?? cause?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Full-jitter exponential back-off: uniform in [0, min(maxDelay, base · 2^(retry-1))]. */
export function backoffDelayMs(retry: number, baseDelayMs: number, maxDelayMs: number, random: number): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random * cap);
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs a call again on retryable failures, bounded in attempts and in total time; after the bound the last
 * failure surfaces unchanged. An abort is never retried, and ends a back-off at once.
 */
export class RetryPolicy {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxElapsedMs: number;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  private readonly random: () => number;
  private retries = 0;
  private readonly byReason: Record<RetryReason, number> = { network: 0, timeout: 0, throttled: 0, 'server-error': 0 };
  private resumed = 0;
  private exhausted = 0;

  constructor(options: RetryOptions = {}, deps: RetryDeps = {}) {
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
    this.baseDelayMs = Math.max(0, options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
    this.maxDelayMs = Math.max(this.baseDelayMs, options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
    this.maxElapsedMs = Math.max(0, options.maxElapsedMs ?? DEFAULT_MAX_ELAPSED_MS);
    this.onRetry = options.onRetry;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? abortableSleep;
    this.random = deps.random ?? Math.random;
  }

  get stats(): RetryStats {
    return { retries: this.retries, retriesByReason: { ...this.byReason }, resumedBodies: this.resumed, exhausted: this.exhausted };
  }

  /** Called by a GET that continues a broken body. */
  noteResumedBody(): void {
    this.resumed += 1;
  }

  /** `call(attempt)` with attempt 1, 2, …; only StoreErrors are considered for a retry. */
  async run<T>(
    what: string,
    retryClass: RetryClass,
    signal: AbortSignal | undefined,
    call: (attempt: number) => Promise<T>,
  ): Promise<T> {
    const startMs = this.now();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call(attempt);
      } catch (error) {
        if (!(error instanceof StoreError) || signal?.aborted || !mayRetry(retryClass, error)) throw error;
        const reason = retryReason(error) ?? 'network';
        const delayMs = backoffDelayMs(attempt, this.baseDelayMs, this.maxDelayMs, this.random());
        if (attempt >= this.maxAttempts || this.now() + delayMs - startMs > this.maxElapsedMs) {
          this.exhausted += 1;
          throw error;
        }
        this.retries += 1;
        this.byReason[reason] += 1;
        this.onRetry?.({ what, attempt: attempt + 1, reason, delayMs, error });
        try {
          await this.sleep(delayMs, signal);
        } catch (abortReason) {
          throw new AbortedError(`${what}: aborted`, { cause: abortReason });
        }
      }
    }
  }
}
