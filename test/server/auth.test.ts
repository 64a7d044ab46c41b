import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { useServer } from '../helpers/server.js';
import { errorOf, http, listBody, objectPath } from './http.js';

const FIRST_SECRET = 'first-secret-0123456789abcdef';
const SECOND_SECRET = 'second-secret-fedcba9876543210';
const CHECK_INTERVAL_MS = 50;
const GRACE_MS = 300;

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function tokenFor(secret: string, ttlMs = 60_000): Promise<string> {
  return signToken(secretKeyFromText(secret), { ttlMs, subject: 'test' });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.each([false, true])('--auth-secret-file (redirect %s)', (redirect) => {
  let secretFile = '';
  const server = useServer({ 'b/hello.txt': 'hello' }, async (outsideDir) => {
    secretFile = join(outsideDir, 'secret');
    await writeFile(secretFile, `${FIRST_SECRET}\n`);
    return { redirect, authSecretFile: secretFile, secretCheckIntervalMs: CHECK_INTERVAL_MS, previousSecretGraceMs: GRACE_MS };
  });

  /** GET of the object with these headers, following the proxy's redirect (headers re-sent) if there is one. */
  async function getObject(headers: Record<string, string>): Promise<number> {
    const first = await http(server.url, { path: objectPath('b', 'hello.txt'), headers });
    if (first.status !== 301) return first.status;
    const location = new URL(String(first.headers.location));
    return (await http(location.origin, { path: location.pathname + location.search, headers })).status;
  }

  it('health needs no token', async () => {
    expect((await http(server.url, { path: '/v1/health' })).status).toBe(200);
  });

  it('a valid token is accepted on every call', async () => {
    const headers = bearer(await tokenFor(FIRST_SECRET));
    expect(await getObject(headers)).toBe(200);
    expect((await http(server.url, { path: '/v1/buckets/b', headers, body: listBody({}) })).status).toBe(200);
    expect((await http(server.url, { path: '/v1/buckets', headers })).status).toBe(200);
    expect((await http(server.url, { method: 'HEAD', path: '/v1/buckets/b', headers })).status).toBe(200);
  });

  it('no token, a garbage one, a wrong scheme, an expired one, a wrong secret, alg none: 401 with the JSON error', async () => {
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(secretKeyFromText(FIRST_SECRET));
    const withoutExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(secretKeyFromText(FIRST_SECRET));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"exp":${Math.floor(Date.now() / 1000) + 60}}`).toString('base64url')}.`;
    const cases: Record<string, string>[] = [
      {},
      bearer('garbage'),
      { authorization: `bearer ${await tokenFor(FIRST_SECRET)}` },
      { authorization: await tokenFor(FIRST_SECRET) },
      bearer(expired),
      bearer(withoutExp),
      bearer(await tokenFor('some-other-secret')),
      bearer(unsigned),
    ];
    for (const headers of cases) {
      expect(await getObject(headers)).toBe(401);
      const answer = await http(server.url, { path: '/v1/buckets/b', headers, body: listBody({}) });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBeUndefined();
      expect(errorOf(answer)).toMatchObject({ status: 401 });
      const head = await http(server.url, { method: 'HEAD', path: '/v1/buckets/b', headers });
      expect(head.status).toBe(401);
      expect(errorOf(head)).toMatchObject({ status: 401 });
    }
  });

  // Only the redirecting server has a target listener to probe.
  if (redirect) it('the target trusts only the proxy\'s signed redirect marker, for that call alone', async () => {
    const headers = bearer(await tokenFor(FIRST_SECRET));
    const first = await http(server.url, { path: objectPath('b', 'hello.txt'), headers });
    expect(first.status).toBe(301);
    const location = new URL(String(first.headers.location));
    const target = location.origin;
    expect((await http(target, { path: location.pathname + location.search })).status).toBe(200);
    const forged = new URLSearchParams(location.search);
    forged.set('utm', `${Date.now() + 60_000}.${'0'.repeat(64)}`);
    expect((await http(target, { path: `${location.pathname}?${forged.toString()}` })).status).toBe(401);
    // The marker of a GET does not let a DELETE (or another object) through.
    expect((await http(target, { method: 'DELETE', path: location.pathname + location.search })).status).toBe(401);
    expect((await http(target, { path: objectPath('b', 'hello.txt') })).status).toBe(401);
  });

  it('a missing bucket is a 404 even without a token', async () => {
    expect((await http(server.url, { path: objectPath('nobucket', 'x') })).status).toBe(404);
  });

  it('picks up a rotated secret without restart; the old one is honoured only for the grace period', async () => {
    const oldToken = await tokenFor(FIRST_SECRET);
    const newToken = await tokenFor(SECOND_SECRET);
    expect(await getObject(bearer(newToken))).toBe(401);
    try {
      const staged = `${secretFile}.new`;
      await writeFile(staged, SECOND_SECRET);
      await rename(staged, secretFile);
      await sleep(CHECK_INTERVAL_MS * 3);
      expect(await getObject(bearer(newToken))).toBe(200);
      expect(await getObject(bearer(oldToken))).toBe(200);
      await sleep(GRACE_MS + 50);
      expect(await getObject(bearer(oldToken))).toBe(401);
      expect(await getObject(bearer(newToken))).toBe(200);
      // A half-written (empty) secret file keeps the last good secret in force.
      await writeFile(secretFile, '');
      await sleep(CHECK_INTERVAL_MS * 3);
      expect(await getObject(bearer(newToken))).toBe(200);
    } finally {
      await writeFile(secretFile, FIRST_SECRET);
      await sleep(CHECK_INTERVAL_MS * 3);
    }
  });
});
