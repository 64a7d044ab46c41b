import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { createHealthCheck, HEALTH_PROBE_ATTEMPTS, healthProblems, type HealthBucket } from '../../src/cli/metrics-health.js';
import { createAistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import { StoreError, UnauthorizedError } from '../../src/store/errors.js';
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
        { bucket: 'ais://gone', ok: false, error: 'NETWORK', reason: 'unreachable' },
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
    expect(report).toEqual({ ok: false, mounted: true, buckets: [{ bucket: 'ais://slow', ok: false, error: 'TIMEOUT', reason: 'no answer within 0.02 s' }] });
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

  it('names a refused connection as such, not as a timeout', async () => {
    // A port that was just free: nothing listens there, so every connect is refused.
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const store = createAistoreClient({ retry: { maxAttempts: HEALTH_PROBE_ATTEMPTS } });
    try {
      const client = bindBucket(store, { name: 'b' }, staticParams(`http://127.0.0.1:${closedPort}`), { waitForCredentials: false });
      const report = await createHealthCheck({ buckets: [{ uri: 'ais://b', client }], isMounted: async () => true, cacheMs: 0 })();
      expect(report.buckets).toEqual([{ bucket: 'ais://b', ok: false, error: 'NETWORK', reason: 'unreachable: connection refused (ECONNREFUSED)' }]);
      expect(healthProblems(report)).toEqual(['ais://b: the store is unreachable: connection refused (ECONNREFUSED)']);
    } finally {
      await store.close();
    }
  });

  it('tells the three causes of a 401 apart', async () => {
    const refusing = (uri: string, rejection: UnauthorizedError['rejection']) =>
      bucket(uri, () => Promise.reject(new UnauthorizedError('HEAD: 401', { status: 401, ...(rejection ? { rejection } : {}) })));
    const buckets = [
      refusing('ais://none', { kind: 'no-token' }),
      refusing('ais://old', { kind: 'expired', expiresAt: new Date('2026-12-01T09:00:00Z') }),
      refusing('ais://bad', { kind: 'rejected' }),
    ];
    const report = await createHealthCheck({ buckets, isMounted: async () => true, cacheMs: 0 })();
    expect(report.buckets).toEqual([
      { bucket: 'ais://none', ok: false, error: 'UNAUTHORIZED', reason: 'no token configured' },
      { bucket: 'ais://old', ok: false, error: 'UNAUTHORIZED', reason: 'token expired at 2026-12-01T09:00:00.000Z' },
      { bucket: 'ais://bad', ok: false, error: 'UNAUTHORIZED', reason: 'signature or token rejected' },
    ]);
    expect(healthProblems(report)).toEqual([
      'ais://none: the store refuses the credentials (401): no token configured',
      'ais://old: the store refuses the credentials (401): token expired at 2026-12-01T09:00:00.000Z',
      'ais://bad: the store refuses the credentials (401): signature or token rejected',
    ]);
  });
});
