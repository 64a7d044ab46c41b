import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  BadRequestError,
  ConflictError,
  NetworkError,
  NotFoundError,
  ServerError,
  TimeoutError,
  TooManyRequestsError,
  UnauthorizedError,
  type StoreError,
} from '../../src/store/errors.js';
import { PlainHttpReplyError, TlsCertificateError } from '../../src/store/http-transport.js';
import { RetryPolicy, backoffDelayMs, mayRetry, retryReason, type RetryClass, type RetryEvent } from '../../src/store/retry-policy.js';
import { manualClock } from '../helpers/clock.js';

const refused = new NetworkError('GET x: ECONNREFUSED', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
const reset = new NetworkError('GET x: UND_ERR_SOCKET', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });

describe('which failures are retried', () => {
  const cases: Array<[string, StoreError, Record<RetryClass, boolean>]> = [
    ['connection refused', refused, { idempotent: true, put: true, never: false }],
    ['connection reset', reset, { idempotent: true, put: false, never: false }],
    ['timeout', new TimeoutError('t'), { idempotent: true, put: false, never: false }],
    ['429', new TooManyRequestsError('t', { status: 429 }), { idempotent: true, put: true, never: false }],
    ['500', new ServerError('t', { status: 500 }), { idempotent: true, put: false, never: false }],
    ['503', new ServerError('t', { status: 503 }), { idempotent: true, put: false, never: false }],
    ['501', new ServerError('t', { status: 501 }), { idempotent: false, put: false, never: false }],
    ['400', new BadRequestError('t', { status: 400 }), { idempotent: false, put: false, never: false }],
    ['401', new UnauthorizedError('t', { status: 401 }), { idempotent: false, put: false, never: false }],
    ['404', new NotFoundError('t', { status: 404 }), { idempotent: false, put: false, never: false }],
    ['409 (object changed mid-read)', new ConflictError('t'), { idempotent: false, put: false, never: false }],
    ['abort', new AbortedError('t'), { idempotent: false, put: false, never: false }],
    ['untrusted certificate', new TlsCertificateError('t'), { idempotent: false, put: false, never: false }],
    ['https:// answered in plain HTTP', new PlainHttpReplyError('t'), { idempotent: false, put: false, never: false }],
  ];
  it.each(cases)('%s', (_name, error, expected) => {
    for (const retryClass of ['idempotent', 'put', 'never'] as const) {
      expect(mayRetry(retryClass, error), retryClass).toBe(expected[retryClass]);
    }
  });

  it.each([
    [refused, 'network'],
    [new TimeoutError('t'), 'timeout'],
    [new TooManyRequestsError('t', { status: 429 }), 'throttled'],
    [new ServerError('t', { status: 503 }), 'server-error'],
    [new NotFoundError('t'), undefined],
  ] as const)('reason of %s is %s', (error, reason) => {
    expect(retryReason(error)).toBe(reason);
  });
});

describe('full-jitter back-off', () => {
  it.each([
    [1, 100, 5000, 0.5, 50],
    [2, 100, 5000, 0.5, 100],
    [3, 100, 5000, 0.999, 399],
    [10, 100, 5000, 0.5, 2500],
    [4, 100, 5000, 0, 0],
  ])('retry %i, base %i, cap %i, random %f → %i ms', (retry, base, cap, random, expected) => {
    expect(backoffDelayMs(retry, base, cap, random)).toBe(expected);
  });
});

/** A policy on a manual clock whose sleeps advance it, recording every wait. */
function fakePolicy(options: ConstructorParameters<typeof RetryPolicy>[0] = {}) {
  const clock = manualClock(1_000_000);
  const sleeps: number[] = [];
  const events: RetryEvent[] = [];
  const policy = new RetryPolicy(
    { baseDelayMs: 100, onRetry: (event) => events.push(event), ...options },
    {
      now: clock.now,
      random: () => 0.5,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
      },
    },
  );
  return { policy, clock, sleeps, events };
}

describe('RetryPolicy.run', () => {
  it('retries until success and counts each retry by reason', async () => {
    const { policy, sleeps, events } = fakePolicy();
    const failures: StoreError[] = [reset, new ServerError('GET x: 503', { status: 503 }), new TooManyRequestsError('GET x: 429', { status: 429 })];
    let attempts = 0;
    const result = await policy.run('GET x', 'idempotent', undefined, async (attempt) => {
      attempts = attempt;
      const failure = failures.shift();
      if (failure) throw failure;
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(attempts).toBe(4);
    expect(sleeps).toEqual([50, 100, 200]);
    expect(events.map((event) => [event.attempt, event.reason])).toEqual([[2, 'network'], [3, 'server-error'], [4, 'throttled']]);
    expect(policy.stats).toEqual({ retries: 3, retriesByReason: { network: 1, timeout: 0, throttled: 1, 'server-error': 1 }, resumedBodies: 0, exhausted: 0 });
  });

  it('gives up after maxAttempts with the last error', async () => {
    const { policy, sleeps } = fakePolicy({ maxAttempts: 3 });
    let attempts = 0;
    const failing = policy.run('GET x', 'idempotent', undefined, async (attempt) => {
      attempts = attempt;
      throw new ServerError(`GET x: 500 attempt ${attempt}`, { status: 500 });
    });
    await expect(failing).rejects.toThrow('GET x: 500 attempt 3');
    expect(attempts).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(policy.stats.exhausted).toBe(1);
  });

  it('retries until the deadline, attempts and waits counted, and ends the call at it, not before', async () => {
    const { policy, clock, sleeps } = fakePolicy({ baseDelayMs: 1000, maxDelayMs: 1000, timeoutMs: 2_200 });
    const started = clock.now();
    let attempts = 0;
    const failing = policy.run('GET x', 'idempotent', undefined, async (attempt) => {
      attempts = attempt;
      clock.advance(300);
      throw new TimeoutError(`GET x: timed out ${attempt}`);
    });
    await expect(failing).rejects.toThrow('GET x: timed out 3');
    // 300 + 500 + 300 + 500 + 300 = 1900 elapsed; the next 500 wait would pass 2200, so the call waits out the 300 left.
    expect(attempts).toBe(3);
    expect(sleeps).toEqual([500, 500, 300]);
    expect(clock.now() - started).toBe(2_200);
    expect(policy.stats).toMatchObject({ retries: 2, exhausted: 1 });
  });

  it('cuts an attempt still running at the deadline off, with a timeout naming it and the failure before', async () => {
    const { policy } = fakePolicy({ baseDelayMs: 10, timeoutMs: 50 });
    const started = performance.now();
    const failing = policy.run('GET x', 'idempotent', undefined, async (attempt, signal) => {
      if (attempt === 1) throw reset;
      await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new AbortedError('GET x: aborted'))));
    });
    await expect(failing).rejects.toThrow(/GET x: no answer within the retry timeout of 0.05 s; last failure: GET x: UND_ERR_SOCKET/);
    await expect(failing).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
    expect(policy.stats.exhausted).toBe(1);
  });

  it('never retries a non-retryable failure', async () => {
    const { policy } = fakePolicy();
    let attempts = 0;
    const failing = policy.run('GET x', 'idempotent', undefined, async () => {
      attempts += 1;
      throw new NotFoundError('GET x: 404');
    });
    await expect(failing).rejects.toBeInstanceOf(NotFoundError);
    expect(attempts).toBe(1);
    expect(policy.stats.retries).toBe(0);
  });

  it('does not retry once the caller aborted, and ends a back-off at the abort', async () => {
    const controller = new AbortController();
    const { policy } = fakePolicy();
    let attempts = 0;
    controller.abort();
    await expect(
      policy.run('GET x', 'idempotent', controller.signal, async () => {
        attempts += 1;
        throw reset;
      }),
    ).rejects.toBe(reset);
    expect(attempts).toBe(1);

    const real = new RetryPolicy({ baseDelayMs: 60_000, maxDelayMs: 60_000, timeoutMs: 600_000 }, { random: () => 0.99 });
    const waiting = new AbortController();
    const started = Date.now();
    const pending = real.run('GET y', 'idempotent', waiting.signal, async () => {
      throw reset;
    });
    setTimeout(() => waiting.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('maxAttempts 1 turns retries off', async () => {
    const { policy } = fakePolicy({ maxAttempts: 1 });
    let attempts = 0;
    await expect(
      policy.run('GET x', 'idempotent', undefined, async () => {
        attempts += 1;
        throw reset;
      }),
    ).rejects.toBe(reset);
    expect(attempts).toBe(1);
  });
});
