import { AbortedError, StoreError, TimeoutError } from './errors.js';

/** Bounds of the retry loop; every field has a default. */
export interface RetryOptions {
  /**
   * The deadline of one call, attempts and waits together: retries go on until it, and an attempt still running
   * at it is cut off (`--retry-timeout`). Default 30 s, which rides out a restarting server or proxy.
   */
  readonly timeoutMs?: number;
  /** Attempts in all, the first included; 1 disables retries. Default: as many as fit before the deadline. */
  readonly maxAttempts?: number;
  /** Cap of the first back-off; doubled per retry (full jitter: the wait is uniform in [0, cap]). Default 200 ms. */
  readonly baseDelayMs?: number;
  /** Largest back-off cap. Default 5 s. */
  readonly maxDelayMs?: number;
  /** Told of every retry before its back-off, e.g. for metrics. Must not throw. */
  readonly onRetry?: (event: RetryEvent) => void;
}

export const DEFAULT_RETRY_TIMEOUT_MS = 30_000;
export const DEFAULT_BASE_DELAY_MS = 200;
export const DEFAULT_MAX_DELAY_MS = 5_000;

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
  /** Calls that failed with a retryable error once their deadline (or attempt count) was reached. */
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
 * A call's deadline as a signal for its attempts: aborted at the deadline, or when the caller's signal aborts.
 * A listener on the caller's signal, not `AbortSignal.any`: that one is often the long-lived signal of a cache,
 * which would keep every call's signal alive.
 */
class CallDeadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort: () => void;

  constructor(
    timeoutMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    this.signal = this.controller.signal;
    this.onCallerAbort = () => this.controller.abort(caller?.reason);
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.timer = setTimeout(() => this.controller.abort(new DeadlineReached()), Math.min(timeoutMs, MAX_TIMER_MS));
    if (caller?.aborted) this.onCallerAbort();
  }

  /** The deadline, not the caller, ended the call. */
  get reached(): boolean {
    return this.signal.aborted && this.signal.reason instanceof DeadlineReached;
  }

  end(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

/** The longest delay `setTimeout` honours; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

class DeadlineReached extends Error {
  override readonly name = 'TimeoutError';
}

/**
 * Runs a call again on retryable failures until its deadline; then the last failure surfaces (a timeout naming
 * the deadline when the deadline cut an attempt off). An abort by the caller is never retried, and ends a
 * back-off at once.
 */
export class RetryPolicy {
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  private readonly random: () => number;
  private retries = 0;
  private readonly byReason: Record<RetryReason, number> = { network: 0, timeout: 0, throttled: 0, 'server-error': 0 };
  private resumed = 0;
  private exhausted = 0;

  constructor(options: RetryOptions = {}, deps: RetryDeps = {}) {
    this.timeoutMs = Math.max(0, options.timeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS);
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? Number.POSITIVE_INFINITY));
    this.baseDelayMs = Math.max(0, options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS);
    this.maxDelayMs = Math.max(this.baseDelayMs, options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
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

  /**
   * `call(attempt, signal)` with attempt 1, 2, …, each given the signal to send its requests with (the caller's,
   * and the deadline's); only StoreErrors are considered for a retry. `timeoutMs` overrides the policy's deadline.
   */
  async run<T>(
    what: string,
    retryClass: RetryClass,
    signal: AbortSignal | undefined,
    call: (attempt: number, signal: AbortSignal) => Promise<T>,
    timeoutMs: number = this.timeoutMs,
  ): Promise<T> {
    const deadlineMs = this.now() + timeoutMs;
    const deadline = new CallDeadline(timeoutMs, signal);
    let lastFailure: StoreError | undefined;
    try {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await call(attempt, deadline.signal);
        } catch (error) {
          if (deadline.reached && !signal?.aborted) throw this.deadlineError(what, timeoutMs, lastFailure, error);
          if (!(error instanceof StoreError) || signal?.aborted || !mayRetry(retryClass, error)) throw error;
          lastFailure = error;
          const leftMs = deadlineMs - this.now();
          const delayMs = backoffDelayMs(attempt, this.baseDelayMs, this.maxDelayMs, this.random());
          if (attempt >= this.maxAttempts || leftMs <= 0) {
            this.exhausted += 1;
            throw error;
          }
          if (delayMs >= leftMs) {
            // No attempt would start before the deadline: the call ends at it, not earlier.
            await this.wait(what, leftMs, deadline, signal);
            this.exhausted += 1;
            throw error;
          }
          this.retries += 1;
          this.byReason[retryReason(error) ?? 'network'] += 1;
          this.onRetry?.({ what, attempt: attempt + 1, reason: retryReason(error) ?? 'network', delayMs, error });
          await this.wait(what, delayMs, deadline, signal);
        }
      }
    } finally {
      deadline.end();
    }
  }

  /** A back-off; the caller's abort ends it with an AbortedError, the deadline's ends it quietly. */
  private async wait(what: string, ms: number, deadline: CallDeadline, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.sleep(ms, deadline.signal);
    } catch (abortReason) {
      if (signal?.aborted || !deadline.reached) throw new AbortedError(`${what}: aborted`, { cause: abortReason });
    }
  }

  /** The deadline cut an attempt off: a timeout naming it, and the failure that made the call retry, if any. */
  private deadlineError(what: string, timeoutMs: number, lastFailure: StoreError | undefined, cutOff: unknown): TimeoutError {
    this.exhausted += 1;
    const lastText = lastFailure === undefined ? '' : `; last failure: ${lastFailure.message}`;
    return new TimeoutError(`${what}: no answer within the retry timeout of ${timeoutMs / 1000} s${lastText}`, { cause: lastFailure ?? cutOff });
  }
}
