import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCredentialProvider, type CredentialOptions } from '../../src/auth/credential-provider.js';
import type { BaseParams } from '../../src/store/base-params.js';
import { capturingLogger, expectNoSecretLoggedAfterAll, KubernetesSecretVolume, SecretRegistry, signedJwt, writeAtomically } from './auth-fixture.js';
import { waitUntil } from '../helpers/mount.js';
import { useTempDirPerTest } from '../helpers/server.js';

/*
 * Requests whose credentials the store refuses wait for the token or headers file to change (the rotation is
 * late), up to the token wait. Real files, real watches, real timers: the waits are short.
 */
const ENDPOINT = 'http://127.0.0.1:51080';
/** Far longer than any test waits, so only the folder watch or the wait's own check can see a change. */
const SLOW_CHECK_INTERVAL_MS = 600_000;
const secrets = new SecretRegistry();
const log = capturingLogger();
const tempDir = useTempDirPerTest('token-wait');
expectNoSecretLoggedAfterAll(secrets, log);

function provider(options: Partial<CredentialOptions>) {
  return createCredentialProvider({ endpoint: ENDPOINT, env: {}, logger: log.logger, tokenCheckIntervalMs: SLOW_CHECK_INTERVAL_MS, ...options });
}

function bearer(snapshot: BaseParams | undefined): string | undefined {
  return snapshot?.headers.Authorization;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('waiting for a late rotation', () => {
  it.each(['atomic rename', 'kubernetes symlink swap', 'in place'])('holds a refused request until the token file changes: %s', async (how) => {
    const [first, second] = [secrets.token(), secrets.token()];
    const volume = new KubernetesSecretVolume(tempDir.path, 'token');
    const path = how === 'kubernetes symlink swap' ? volume.path : join(tempDir.path, 'token');
    if (how === 'kubernetes symlink swap') await volume.create(first);
    else await writeFile(path, first);
    const credentials = await provider({ tokenFile: path, tokenWaitMs: 60_000 });
    const rejected = await credentials.current();
    const waiting = credentials.newerThan(rejected);
    await waitUntil(() => credentials.waitingRequests === 1, 5_000, 'the request to wait');
    if (how === 'atomic rename') await writeAtomically(path, second);
    else if (how === 'kubernetes symlink swap') await volume.update(second);
    else await writeFile(path, second);
    expect(bearer(await waiting)).toBe(`Bearer ${second}`);
    expect(credentials.waitingRequests).toBe(0);
    expect(credentials.heldRequests).toBe(1);
    credentials.close();
  });

  it('holds for a headers file too', async () => {
    const path = join(tempDir.path, 'headers');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, `X-Key: ${first}\n`);
    const credentials = await provider({ headersFile: path, tokenWaitMs: 60_000 });
    const waiting = credentials.newerThan(await credentials.current());
    await waitUntil(() => credentials.waitingRequests === 1, 5_000, 'the request to wait');
    await writeAtomically(path, `X-Key: ${second}\n`);
    expect((await waiting)?.headers).toEqual({ 'X-Key': second });
    credentials.close();
  });

  it('concurrent refused requests share one wait and one warning naming the file and the exp, never the token', async () => {
    const path = join(tempDir.path, 'token');
    const expSeconds = nowSeconds() - 5;
    const [expired, fresh] = [secrets.add(await signedJwt(expSeconds)), secrets.add(await signedJwt(nowSeconds() + 3600))];
    await writeFile(path, expired);
    const credentials = await provider({ tokenFile: path, tokenWaitMs: 60_000 });
    const rejected = await credentials.current();
    const linesBefore = log.lines.length;
    const waits = Array.from({ length: 50 }, () => credentials.newerThan(rejected));
    await waitUntil(() => credentials.waitingRequests === 50, 5_000, 'the requests to wait');
    await writeAtomically(path, fresh);
    const resumed = await Promise.all(waits);
    expect(new Set(resumed.map(bearer))).toEqual(new Set([`Bearer ${fresh}`]));
    expect(credentials.heldRequests).toBe(50);
    const records = log.records().slice(linesBefore);
    // (The expired token also has its own, rate-limited expiry warning.)
    const warnings = records.filter((record) => record.level === 40 && /holding requests/.test(record.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      tokenFile: path,
      tokenExpiresAt: new Date(expSeconds * 1000).toISOString(),
      cause: `token expired at ${new Date(expSeconds * 1000).toISOString()}`,
      waitSeconds: 60,
    });
    expect(records.some((record) => record.msg === 'new credentials: held requests go on')).toBe(true);
    credentials.close();
  });

  it('gives up after the token wait; then fails at once until the file holds a new token', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, first);
    const credentials = await provider({ tokenFile: path, tokenWaitMs: 300 });
    const rejected = await credentials.current();
    const linesBefore = log.lines.length;
    expect(await credentials.newerThan(rejected)).toBeUndefined();
    expect(credentials.heldRequests).toBe(1);
    const records = log.records().slice(linesBefore);
    expect(records.filter((record) => record.level === 50)).toMatchObject([{ tokenFile: path, msg: expect.stringMatching(/fail with EACCES until/) }]);
    // The same refused token again, even rewritten unchanged: no second wait.
    await writeAtomically(path, first);
    credentials.invalidate(rejected);
    expect(await credentials.current()).toBe(rejected);
    expect(await credentials.newerThan(rejected)).toBeUndefined();
    expect(credentials.heldRequests).toBe(1);
    // A new token that is refused in turn is waited for again.
    await writeAtomically(path, second);
    credentials.invalidate(rejected);
    const next = await credentials.current();
    expect(bearer(next)).toBe(`Bearer ${second}`);
    expect(await credentials.newerThan(next)).toBeUndefined();
    expect(credentials.heldRequests).toBe(2);
  });

  it('a token wait of 0 never holds a request', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const credentials = await provider({ tokenFile: path, tokenWaitMs: 0 });
    expect(await credentials.newerThan(await credentials.current())).toBeUndefined();
    expect(credentials.heldRequests).toBe(0);
  });

  it('an inline token, which no file can replace, is never waited for', async () => {
    const credentials = await provider({ token: secrets.token(), tokenWaitMs: 60_000 });
    expect(await credentials.newerThan(await credentials.current())).toBeUndefined();
    expect(credentials.heldRequests).toBe(0);
  });

  it('an aborted request stops waiting; the others keep waiting', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, first);
    const credentials = await provider({ tokenFile: path, tokenWaitMs: 60_000 });
    const rejected = await credentials.current();
    const abort = new AbortController();
    const aborted = credentials.newerThan(rejected, abort.signal);
    const patient = credentials.newerThan(rejected);
    await waitUntil(() => credentials.waitingRequests === 2, 5_000, 'the requests to wait');
    abort.abort();
    expect(await aborted).toBeUndefined();
    expect(credentials.waitingRequests).toBe(1);
    await writeAtomically(path, second);
    expect(bearer(await patient)).toBe(`Bearer ${second}`);
    credentials.close();
  });
});

describe('rejectionCause', () => {
  it('tells no token, an expired JWT and a refused token apart', async () => {
    const anonymous = await provider({});
    expect(anonymous.rejectionCause(await anonymous.current())).toEqual({ kind: 'no-token' });

    const expSeconds = nowSeconds() - 1;
    const expired = await provider({ token: secrets.add(await signedJwt(expSeconds)) });
    expect(expired.rejectionCause(await expired.current())).toEqual({ kind: 'expired', expiresAt: new Date(expSeconds * 1000) });

    const valid = await provider({ token: secrets.add(await signedJwt(nowSeconds() + 3600)) });
    expect(valid.rejectionCause(await valid.current())).toEqual({ kind: 'rejected' });
    const opaque = await provider({ token: secrets.token() });
    expect(opaque.rejectionCause(await opaque.current())).toEqual({ kind: 'rejected' });
    // A credential from a headers file counts as a token too.
    const path = join(tempDir.path, 'headers');
    await writeFile(path, `authorization: Basic ${secrets.token()}\n`);
    const basic = await provider({ headersFile: path });
    expect(basic.rejectionCause(await basic.current())).toEqual({ kind: 'rejected' });
  });
});
