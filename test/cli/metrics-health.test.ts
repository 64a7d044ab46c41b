import { describe, expect, it } from 'vitest';
import { createHealthCheck, type HealthBucket } from '../../src/cli/metrics-health.js';
import { StoreError } from '../../src/store/errors.js';
import { manualClock } from '../helpers/clock.js';

function bucket(uri: string, answer: () => Promise<void>): HealthBucket & { calls: number } {
  const probe = {
    uri,
    calls: 0,
    client: {
      headBucket: () => {
        probe.calls += 1;
        return answer();
      },
    },
  };
  return probe;
}

describe('createHealthCheck', () => {
  it('is ok only when mounted and every bucket answers; failures are named by class', async () => {
    const good = bucket('ais://good', async () => {});
    const gone = bucket('ais://gone', () => Promise.reject(new StoreError('NETWORK', 'HEAD ais://gone: connection refused')));
    expect(await createHealthCheck({ buckets: [good], isMounted: async () => true, cacheMs: 0 })()).toEqual({
      ok: true,
      mounted: true,
      buckets: [{ bucket: 'ais://good', ok: true }],
    });
    expect(await createHealthCheck({ buckets: [good, gone], isMounted: async () => true, cacheMs: 0 })()).toEqual({
      ok: false,
      mounted: true,
      buckets: [
        { bucket: 'ais://good', ok: true },
        { bucket: 'ais://gone', ok: false, error: 'NETWORK' },
      ],
    });
    expect((await createHealthCheck({ buckets: [good], isMounted: async () => false, cacheMs: 0 })()).ok).toBe(false);
  });

  it('gives up on a store that does not answer within the timeout', async () => {
    const silent: HealthBucket = {
      uri: 'ais://slow',
      client: {
        headBucket: (options) =>
          new Promise((_, reject) => options?.signal?.addEventListener('abort', () => reject(options.signal?.reason))),
      },
    };
    const report = await createHealthCheck({ buckets: [silent], isMounted: async () => true, timeoutMs: 20, cacheMs: 0 })();
    expect(report).toEqual({ ok: false, mounted: true, buckets: [{ bucket: 'ais://slow', ok: false, error: 'TIMEOUT' }] });
  });

  it('asks the store at most once per cache window, and once for concurrent callers', async () => {
    const clock = manualClock();
    const probe = bucket('ais://b', async () => {});
    const check = createHealthCheck({ buckets: [probe], isMounted: async () => true, cacheMs: 1000, now: clock.now });
    await Promise.all([check(), check(), check()]);
    expect(probe.calls).toBe(1);
    clock.advance(999);
    await check();
    expect(probe.calls).toBe(1);
    clock.advance(1);
    await check();
    expect(probe.calls).toBe(2);
  });
});
