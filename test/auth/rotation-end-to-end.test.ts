import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCredentialProvider, type CredentialProvider } from '../../src/auth/credential-provider.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import type { BaseParams } from '../../src/store/base-params.js';
import { bindBucket, type BucketClient } from '../../src/store/bucket-client.js';
import { UnauthorizedError } from '../../src/store/errors.js';
import { waitUntil } from '../helpers/mount.js';
import { useServer } from '../helpers/server.js';
import { capturingLogger, expectNoSecretLoggedAfterAll, SecretRegistry, writeAtomically } from './auth-fixture.js';

const BUCKET = { name: 'rotating' };
const OBJECT = 'data.bin';
const CONTENT = randomBytes(4096);
const SERVER_SECRET_CHECK_INTERVAL_MS = 50;
const secrets = new SecretRegistry();
const log = capturingLogger();

expectNoSecretLoggedAfterAll(secrets, log);

/** A server secret and a token signed with it, both registered as secrets the logs must never show. */
async function credentialPair(): Promise<{ secret: string; token: string }> {
  const secret = secrets.add(randomBytes(32).toString('hex'));
  const token = secrets.add(await signToken(secretKeyFromText(secret), { ttlMs: 3_600_000, subject: 'e2e' }));
  return { secret, token };
}

interface ReadLoop {
  /** Checked reads so far. */
  reads(): number;
  stop(): Promise<{ reads: number; failures: unknown[] }>;
}

/** `readers` loops reading the object back to back, each read checked, until stopped. */
function startReading(bucket: BucketClient, readers: number): ReadLoop {
  let running = true;
  let reads = 0;
  const failures: unknown[] = [];
  const loops = Array.from({ length: readers }, async () => {
    while (running) {
      try {
        const result = await bucket.get(OBJECT);
        if (!result.data.equals(CONTENT)) throw new Error('read returned wrong content');
        reads += 1;
      } catch (error) {
        // A few are enough to diagnose; stop reading so a broken setup does not spin.
        failures.push(error);
        if (failures.length >= 5) running = false;
      }
    }
  });
  return {
    reads: () => reads,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { reads, failures };
    },
  };
}

/** Whether the server accepts `token` now. */
async function acceptedNow(client: AistoreClient, like: BaseParams, token: string): Promise<boolean> {
  try {
    await client.head({ ...like, headers: { ...like.headers, Authorization: `Bearer ${token}` } }, BUCKET, OBJECT);
    return true;
  } catch (error) {
    if (error instanceof UnauthorizedError) return false;
    throw error;
  }
}

/** Waits for a few more checked reads than there are now. */
async function readsGoOn(loop: ReadLoop): Promise<void> {
  const target = loop.reads() + 10;
  await waitUntil(() => loop.reads() >= target, 15_000, 'reads to go on');
}

/**
 * The server (secret in `outsideDir/secret`) and a mount's client (token in `outsideDir/token`), rotated
 * together while reads keep going.
 */
describe.each([
  {
    name: 'server grace for the previous secret, client polling the token file',
    previousSecretGraceMs: 30_000,
    tokenCheckIntervalMs: 50,
    tokenFirst: false,
  },
  {
    name: 'no server grace, client reloading only on 401',
    previousSecretGraceMs: 0,
    tokenCheckIntervalMs: 60_000,
    tokenFirst: true,
  },
])('rotation end to end: $name', ({ previousSecretGraceMs, tokenCheckIntervalMs, tokenFirst }) => {
  let initial: { secret: string; token: string };
  const server = useServer({ [`${BUCKET.name}/${OBJECT}`]: CONTENT }, async (outsideDir) => {
    initial = await credentialPair();
    await writeAtomically(join(outsideDir, 'secret'), `${initial.secret}\n`);
    await writeAtomically(join(outsideDir, 'token'), JSON.stringify({ token: initial.token }));
    return {
      authSecretFile: join(outsideDir, 'secret'),
      secretCheckIntervalMs: SERVER_SECRET_CHECK_INTERVAL_MS,
      previousSecretGraceMs,
      logger: log.logger,
    };
  });
  let client: AistoreClient | undefined;

  afterEach(async () => {
    await client?.close();
    client = undefined;
  });

  it('keeps reading with zero failures while secret and token rotate three times', async () => {
    client = createAistoreClient({ connectionsPerOrigin: 4 });
    const credentials: CredentialProvider = await createCredentialProvider({
      endpoint: server.url,
      tokenFile: join(server.outsideDir, 'token'),
      tokenCheckIntervalMs,
      env: {},
      logger: log.logger,
    });
    const bucket = bindBucket(client, BUCKET, credentials);
    const firstSnapshot = await credentials.current();
    expect(firstSnapshot.headers.Authorization).toBe(`Bearer ${initial.token}`);

    const loop = startReading(bucket, 3);
    let latest = initial;
    try {
      for (let rotation = 0; rotation < 3; rotation += 1) {
        // Reads go on between rotations, so each rotation lands while requests are in flight.
        await readsGoOn(loop);
        latest = await credentialPair();
        const writeSecret = () => writeAtomically(join(server.outsideDir, 'secret'), `${latest.secret}\n`);
        const writeToken = () => writeAtomically(join(server.outsideDir, 'token'), JSON.stringify({ token: latest.token }));
        if (tokenFirst) {
          // The client keeps the old, still valid token until the server rejects it.
          await writeToken();
          await writeSecret();
        } else {
          // The order operators use with a grace period: new key first, then hand out new tokens.
          await writeSecret();
          const next = latest.token;
          await waitUntil(() => acceptedNow(client!, firstSnapshot, next), 15_000, 'the server to take the new secret');
          await writeToken();
        }
        // One rotation at a time: the next starts once the client took this one's token.
        const token = latest.token;
        await waitUntil(async () => (await credentials.current()).headers.Authorization === `Bearer ${token}`, 15_000, `rotation ${rotation + 1} to reach the client`);
      }
      await readsGoOn(loop);
    } finally {
      const { reads, failures } = await loop.stop();
      expect(failures).toEqual([]);
      expect(reads).toBeGreaterThan(30);
    }

    const finalSnapshot = await credentials.current();
    expect(finalSnapshot.headers.Authorization).toBe(`Bearer ${latest.token}`);
    expect(credentials.reloads).toBeGreaterThanOrEqual(3);
    expect(credentials.reloadFailures).toBe(0);
    if (previousSecretGraceMs === 0) {
      // Only 401s made the client reload, and the concurrent readers' 401s shared one reload per rotation.
      expect(credentials.reloads).toBe(3);
      // The server really moved on: the first token is refused now.
      await expect(client.get(firstSnapshot, BUCKET, OBJECT)).rejects.toBeInstanceOf(UnauthorizedError);
    }
  });
});
