import { open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SecretAuthenticator } from '../../src/server/auth.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { capturingLogger, makeFifo, writeAtomically } from '../auth/auth-fixture.js';
import { waitUntil } from '../helpers/mount.js';
import { useServer, useTempDirPerTest } from '../helpers/server.js';
import { errorOf, http, listBody, objectPath } from './http.js';

const FIRST_SECRET = 'first-secret-0123456789abcdef-0123456789';
const SECOND_SECRET = 'second-secret-fedcba9876543210-fedcba98';
const OTHER_SECRET = 'some-other-secret-0123456789abcdef-01234';
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

  it('the scheme is case-insensitive and may be followed by several spaces (RFC 7235)', async () => {
    const token = await tokenFor(FIRST_SECRET);
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `bEaReR  ${token}`]) {
      expect(await getObject({ authorization }), authorization.slice(0, 8)).toBe(200);
    }
  });

  it('no token, a garbage one, a wrong scheme, an expired one, a wrong secret, alg none: 401 with the JSON error', async () => {
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(secretKeyFromText(FIRST_SECRET));
    const withoutExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(secretKeyFromText(FIRST_SECRET));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"exp":${Math.floor(Date.now() / 1000) + 60}}`).toString('base64url')}.`;
    const cases: Record<string, string>[] = [
      {},
      bearer('garbage'),
      { authorization: `Basic ${await tokenFor(FIRST_SECRET)}` },
      { authorization: await tokenFor(FIRST_SECRET) },
      bearer(expired),
      bearer(withoutExp),
      bearer(await tokenFor(OTHER_SECRET)),
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
      await writeAtomically(secretFile, SECOND_SECRET);
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

/** How the server takes a secret file that changes more than once, or slowly, within the grace. */
describe('--auth-secret-file rotations within the grace', () => {
  const SECRETS = ['rotation-secret-a-0123456789abcdef-0123', 'rotation-secret-b-0123456789abcdef-0123', 'rotation-secret-c-0123456789abcdef-0123'] as const;
  const log = capturingLogger();
  let secretFile = '';
  const server = useServer({ 'b/hello.txt': 'hello' }, async (outsideDir) => {
    secretFile = join(outsideDir, 'secret');
    await writeFile(secretFile, SECRETS[0]);
    // The default grace (30 s): the test is over long before it ends.
    return { authSecretFile: secretFile, secretCheckIntervalMs: CHECK_INTERVAL_MS, logger: log.logger };
  });
  const getObject = async (token: string): Promise<number> => (await http(server.url, { path: objectPath('b', 'hello.txt'), headers: bearer(token) })).status;
  const acceptedNow = (token: string) => async (): Promise<boolean> => (await getObject(token)) === 200;

  it('two changes in a row: tokens of the first secret, and of the second, stay valid', async () => {
    const tokens = await Promise.all(SECRETS.map((secret) => tokenFor(secret)));
    expect(await getObject(tokens[0]!)).toBe(200);
    await writeAtomically(secretFile, SECRETS[1]);
    await waitUntil(acceptedNow(tokens[1]!), 10_000, 'the second secret to be taken');
    await writeAtomically(secretFile, SECRETS[2]);
    await waitUntil(acceptedNow(tokens[2]!), 10_000, 'the third secret to be taken');
    expect(await getObject(tokens[0]!)).toBe(200);
    expect(await getObject(tokens[1]!)).toBe(200);
  });

  it('a slow in-place write (a 12-byte fragment, then the rest) never cuts off the tokens in use', async () => {
    const next = 'slowly-written-secret-0123456789abcdef-0123';
    const [oldToken, newToken] = [await tokenFor(SECRETS[2]), await tokenFor(next)];
    await writeAtomically(secretFile, SECRETS[2]);
    await waitUntil(acceptedNow(oldToken), 10_000, 'the starting secret to be taken');
    const warningsBefore = log.records().filter((record) => record.level === 40).length;
    const handle = await open(secretFile, 'w');
    try {
      await handle.write(next.slice(0, 12));
      await waitUntil(
        async () => {
          expect(await getObject(oldToken)).toBe(200);
          return log.records().filter((record) => record.level === 40).length > warningsBefore;
        },
        10_000,
        'the server to look at the fragment',
      );
      const warning = log.records().filter((record) => record.level === 40).at(-1);
      expect(warning).toMatchObject({ msg: 'cannot reload auth secret file; keeping the last good version' });
      expect(String(warning?.reason)).toMatch(/the secret is 12 bytes; HS256 needs at least 32/);
      expect(log.lines.some((line) => line.includes(next.slice(0, 12)))).toBe(false);
      await handle.write(next.slice(12));
    } finally {
      await handle.close();
    }
    await waitUntil(acceptedNow(newToken), 10_000, 'the whole new secret to be taken');
    expect(await getObject(oldToken)).toBe(200);
  });
});

describe('--auth-secret-file swapped for a FIFO', () => {
  const SECRET = 'fifo-swapped-secret-0123456789abcdef-0123';
  const log = capturingLogger();
  let secretFile = '';
  const server = useServer({ 'b/hello.txt': 'hello' }, async (outsideDir) => {
    secretFile = join(outsideDir, 'secret');
    await writeFile(secretFile, SECRET);
    return { authSecretFile: secretFile, secretCheckIntervalMs: 0, logger: log.logger };
  });

  it('keeps answering with the last good secret, and takes the next good file', async () => {
    const token = await tokenFor(SECRET);
    const next = 'after-the-fifo-secret-0123456789abcdef-01';
    makeFifo(`${secretFile}.fifo`);
    await rename(`${secretFile}.fifo`, secretFile);
    for (let call = 0; call < 3; call += 1) expect((await http(server.url, { path: objectPath('b', 'hello.txt'), headers: bearer(token) })).status).toBe(200);
    expect(log.records().some((record) => record.level === 40 && String(record.reason) === 'not a regular file (a FIFO)')).toBe(true);
    await writeAtomically(secretFile, next);
    expect((await http(server.url, { path: objectPath('b', 'hello.txt'), headers: bearer(await tokenFor(next)) })).status).toBe(200);
  });
});

describe('SecretAuthenticator.open', () => {
  const tempDir = useTempDirPerTest('secret');

  it.each([
    ['a short secret', 'short-secret', /auth secret file .*secret: the secret is 12 bytes; HS256 needs at least 32$/],
    ['an empty file', '\n', /the secret is empty/],
    ['a FIFO', undefined, /not a regular file \(a FIFO\)/],
  ])('refuses %s at start, at once, without quoting it', async (_name, content, message) => {
    const secretFile = join(tempDir.path, 'secret');
    if (content === undefined) makeFifo(secretFile);
    else await writeFile(secretFile, content);
    const error = await SecretAuthenticator.open({ secretFile }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.message).toMatch(message);
    if (content !== undefined && content.trim() !== '') expect(error?.message).not.toContain(content);
  });
});
