import { describe, expect, it } from 'vitest';
import type { BaseParams, BaseParamsSource } from '../../src/store/base-params.js';
import { bindBucket } from '../../src/store/bucket-client.js';
import { NotFoundError, UnauthorizedError } from '../../src/store/errors.js';
import type { ObjectStore } from '../../src/store/object-store.js';

/** A source that hands out numbered snapshots and counts invalidations. */
function rotatingSource(): BaseParamsSource & { invalidations: BaseParams[] } {
  let generation = 1;
  const invalidations: BaseParams[] = [];
  let snapshot: BaseParams = { endpoint: 'http://store', headers: { authorization: 'Bearer t1' } };
  return {
    invalidations,
    current: async () => snapshot,
    invalidate(rejected) {
      invalidations.push(rejected);
      generation += 1;
      snapshot = { endpoint: 'http://store', headers: { authorization: `Bearer t${generation}` } };
    },
  };
}

function storeAccepting(token: string, seen: string[]): ObjectStore {
  const head: ObjectStore['head'] = async (params, _bucket, key) => {
    seen.push(params.headers.authorization ?? '');
    if (params.headers.authorization !== `Bearer ${token}`) throw new UnauthorizedError('token rejected', { status: 401 });
    if (key === 'missing') throw new NotFoundError('no such object', { status: 404 });
    return { name: key, size: 1, version: '1', checksumType: undefined, checksumValue: undefined, mtimeMs: 0, etag: undefined };
  };
  return { head } as ObjectStore;
}

describe('bindBucket', () => {
  it('retries once with a fresh snapshot after a 401', async () => {
    const source = rotatingSource();
    const seen: string[] = [];
    const client = bindBucket(storeAccepting('t2', seen), { name: 'b' }, source);
    await expect(client.head('k')).resolves.toMatchObject({ name: 'k' });
    expect(seen).toEqual(['Bearer t1', 'Bearer t2']);
    expect(source.invalidations).toHaveLength(1);
    expect(source.invalidations[0]?.headers.authorization).toBe('Bearer t1');
  });

  it('surfaces a second 401 as unauthorized without a third try', async () => {
    const source = rotatingSource();
    const seen: string[] = [];
    const client = bindBucket(storeAccepting('never', seen), { name: 'b' }, source);
    await expect(client.head('k')).rejects.toBeInstanceOf(UnauthorizedError);
    expect(seen).toHaveLength(2);
  });

  it('passes other failures through untouched and does not invalidate', async () => {
    const source = rotatingSource();
    const client = bindBucket(storeAccepting('t1', []), { name: 'b' }, source);
    await expect(client.head('missing')).rejects.toBeInstanceOf(NotFoundError);
    expect(source.invalidations).toHaveLength(0);
  });

  it('while the store refuses the reloaded snapshot, waits for a newer one and goes on with it', async () => {
    const refused: BaseParams = { endpoint: 'http://store', headers: { authorization: 'Bearer stale' } };
    const waitedOn: BaseParams[] = [];
    const source: BaseParamsSource = {
      current: async () => refused,
      invalidate: () => {},
      newerThan: async (rejected) => {
        waitedOn.push(rejected);
        return { endpoint: 'http://store', headers: { authorization: 'Bearer fresh' } };
      },
    };
    const seen: string[] = [];
    const client = bindBucket(storeAccepting('fresh', seen), { name: 'b' }, source);
    await expect(client.head('k')).resolves.toMatchObject({ name: 'k' });
    expect(seen).toEqual(['Bearer stale', 'Bearer stale', 'Bearer fresh']);
    expect(waitedOn).toEqual([refused]);
  });

  it('when no newer credentials come, fails with the cause the source names', async () => {
    const source = { ...rotatingSource(), newerThan: async () => undefined, rejectionCause: () => ({ kind: 'expired', expiresAt: new Date(0) }) as const };
    const failure = await bindBucket(storeAccepting('never', []), { name: 'b' }, source)
      .head('k')
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnauthorizedError);
    expect((failure as UnauthorizedError).rejection).toEqual({ kind: 'expired', expiresAt: new Date(0) });
    expect((failure as UnauthorizedError).message).toBe('token rejected (token expired at 1970-01-01T00:00:00.000Z)');
  });

  it('with waitForCredentials off, never waits', async () => {
    let waits = 0;
    const source = { ...rotatingSource(), newerThan: async () => ((waits += 1), undefined) };
    const seen: string[] = [];
    await expect(bindBucket(storeAccepting('never', seen), { name: 'b' }, source, { waitForCredentials: false }).head('k')).rejects.toBeInstanceOf(UnauthorizedError);
    expect(waits).toBe(0);
    expect(seen).toHaveLength(2);
  });
});
