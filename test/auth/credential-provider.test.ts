import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CredentialConfigError } from '../../src/auth/credential-config-error.js';
import { createCredentialProvider, type CredentialOptions } from '../../src/auth/credential-provider.js';
import type { BaseParams } from '../../src/store/base-params.js';
import { capturingLogger, expectNoSecretLoggedAfterAll, KubernetesSecretVolume, manualClock, SecretRegistry, signedJwt, writeAtomically } from './auth-fixture.js';
import { useTempDirPerTest } from '../helpers/server.js';

const ENDPOINT = 'http://127.0.0.1:51080';
const secrets = new SecretRegistry();
const log = capturingLogger();
const tempDir = useTempDirPerTest('auth');
expectNoSecretLoggedAfterAll(secrets, log);

function provider(options: Partial<CredentialOptions>) {
  return createCredentialProvider({ endpoint: ENDPOINT, env: {}, logger: log.logger, ...options });
}

function bearer(snapshot: BaseParams): string | undefined {
  return snapshot.headers.Authorization;
}

describe('token sources', () => {
  it('is anonymous when nothing is set', async () => {
    const credentials = await provider({ endpoint: `${ENDPOINT}//` });
    const snapshot = await credentials.current();
    expect(snapshot).toEqual({ endpoint: ENDPOINT, headers: {} });
    expect(credentials.tokenSource).toBe('anonymous');
    expect(credentials.tokenExpiresAt()).toBeUndefined();
  });

  it('inline token wins over everything and is never reloaded', async () => {
    const path = join(tempDir.path, 'token');
    const [inline, fromEnv, inFile] = [secrets.token(), secrets.token(), secrets.token()];
    await writeFile(path, inFile);
    const credentials = await provider({
      token: ` ${inline}\n`,
      tokenFile: path,
      tokenCheckIntervalMs: 0,
      env: { AIS_AUTHN_TOKEN: fromEnv, AIS_AUTHN_TOKEN_FILE: path },
    });
    const first = await credentials.current();
    expect(bearer(first)).toBe(`Bearer ${inline}`);
    await writeAtomically(path, secrets.token());
    credentials.invalidate(first);
    const second = await credentials.current();
    expect(second).toBe(first);
    expect(credentials.reloads).toBe(0);
    expect(credentials.tokenSource).toBe('inline');
  });

  it.each([
    ['AIS_AUTHN_TOKEN before any token file', { AIS_AUTHN_TOKEN: 'env' }, true, 'env'],
    ['the tokenFile option before AIS_AUTHN_TOKEN_FILE', { AIS_AUTHN_TOKEN_FILE: 'env-file' }, true, 'option-file'],
    ['AIS_AUTHN_TOKEN_FILE when no option is given', { AIS_AUTHN_TOKEN_FILE: 'env-file' }, false, 'env-file'],
    ['an empty AIS_AUTHN_TOKEN counts as unset', { AIS_AUTHN_TOKEN: ' ', AIS_AUTHN_TOKEN_FILE: 'env-file' }, false, 'env-file'],
  ])('falls back in order: %s', async (_name, envSpec, withOption, expected) => {
    const tokens = { env: secrets.token(), 'env-file': secrets.token(), 'option-file': secrets.token() };
    await writeFile(join(tempDir.path, 'env-file'), tokens['env-file']);
    await writeFile(join(tempDir.path, 'option-file'), tokens['option-file']);
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(envSpec)) {
      env[name] = value === 'env' ? tokens.env : value === 'env-file' ? join(tempDir.path, 'env-file') : value;
    }
    const credentials = await provider({ env, ...(withOption ? { tokenFile: join(tempDir.path, 'option-file') } : {}) });
    expect(bearer(await credentials.current())).toBe(`Bearer ${tokens[expected as keyof typeof tokens]}`);
  });

  it('reads process.env when no env is passed', async () => {
    const token = secrets.token();
    process.env.AIS_AUTHN_TOKEN = token;
    try {
      const credentials = await createCredentialProvider({ endpoint: ENDPOINT, logger: log.logger });
      expect(bearer(await credentials.current())).toBe(`Bearer ${token}`);
      expect(credentials.tokenSource).toBe('env');
    } finally {
      delete process.env.AIS_AUTHN_TOKEN;
    }
  });
});

describe('startup errors', () => {
  it.each([
    ['missing', undefined, /ENOENT/],
    ['empty', '\n', /file is empty/],
    ['garbage', 'two\nlines', /whitespace or several lines/],
    ['half-written JSON', '{"token":"ab', /does not parse/],
  ])('an explicit token file that is %s is a CredentialConfigError naming the path', async (_name, content, reason) => {
    const path = join(tempDir.path, 'token');
    if (content !== undefined) await writeFile(path, content);
    const attempt = provider({ tokenFile: path });
    await expect(attempt).rejects.toThrow(CredentialConfigError);
    await expect(attempt).rejects.toThrow(path);
    await expect(attempt).rejects.toThrow(reason);
  });

  it('says when the bad file came from AIS_AUTHN_TOKEN_FILE', async () => {
    const path = join(tempDir.path, 'absent');
    await expect(provider({ env: { AIS_AUTHN_TOKEN_FILE: path } })).rejects.toThrow(/absent.*\(from AIS_AUTHN_TOKEN_FILE\)/);
  });

  it('rejects a malformed headers file naming path and line, and a bad static header by name', async () => {
    const path = join(tempDir.path, 'headers');
    await writeFile(path, '# ok\nX-Good: 1\nbroken\n');
    await expect(provider({ headersFile: path })).rejects.toThrow(/headers file .*headers: line 3/);
    await expect(provider({ headers: { 'Bad Name': 'v' } })).rejects.toThrow(CredentialConfigError);
    await expect(provider({ token: 'has space' })).rejects.toThrow(/inline token is not a usable token/);
    await expect(provider({ tokenCheckIntervalMs: -1 })).rejects.toThrow(/interval/);
  });
});

describe('snapshots', () => {
  it('are frozen and reused while nothing changed', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 0, headers: { 'X-Static': secrets.token() } });
    const first = await credentials.current();
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.headers)).toBe(true);
    expect(await credentials.current()).toBe(first);
  });

  it('headers-file headers override static ones case-insensitively; the token sets Authorization', async () => {
    const path = join(tempDir.path, 'headers');
    const [token, staticValue, fileValue, other] = [secrets.token(), secrets.token(), secrets.token(), secrets.token()];
    await writeFile(path, `# tenant\nx-tenant: ${fileValue}\nAuthorization: Basic ${other}\n`);
    const credentials = await provider({
      token,
      headers: { 'X-Tenant': staticValue, 'X-Static-Only': other },
      headersFile: path,
    });
    expect((await credentials.current()).headers).toEqual({
      'x-tenant': fileValue,
      'X-Static-Only': other,
      Authorization: `Bearer ${token}`,
    });
  });

  it('a malformed headers file keeps the last good set, warns with the line number, then takes the fixed file', async () => {
    const path = join(tempDir.path, 'headers');
    const [first, second, third] = [secrets.token(), secrets.token(), secrets.token()];
    await writeFile(path, `X-Key: ${first}\n`);
    const clock = manualClock();
    const credentials = await provider({ headersFile: path, tokenCheckIntervalMs: 100, now: clock.now });
    const linesBefore = log.lines.length;
    await writeAtomically(path, `X-Key: ${second}\n\nX-Other ${second}\n`);
    clock.advance(100);
    expect((await credentials.current()).headers).toEqual({ 'X-Key': first });
    const warning = log.records().slice(linesBefore).find((record) => record.level === 40);
    expect(warning).toMatchObject({ path, reason: expect.stringMatching(/^line 3: /) });
    expect(credentials.reloadFailures).toBe(1);
    await writeAtomically(path, `X-Key: ${third}\n`);
    clock.advance(100);
    expect((await credentials.current()).headers).toEqual({ 'X-Key': third });
    const reloaded = log.records().slice(linesBefore).find((record) => record.msg === 'headers file reloaded');
    expect(reloaded).toMatchObject({ headerNames: ['X-Key'] });
  });
});

describe('rotation through the provider', () => {
  it.each(['in place', 'atomic rename', 'kubernetes symlink swap'])('the next current() after the interval has the new token: %s', async (how) => {
    const [first, second] = [secrets.token(), secrets.token()];
    const volume = new KubernetesSecretVolume(tempDir.path, 'token');
    const path = how === 'kubernetes symlink swap' ? volume.path : join(tempDir.path, 'token');
    if (how === 'kubernetes symlink swap') await volume.create(first);
    else await writeFile(path, first);
    const clock = manualClock();
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 250, now: clock.now });
    expect(bearer(await credentials.current())).toBe(`Bearer ${first}`);
    if (how === 'in place') await writeFile(path, second);
    else if (how === 'atomic rename') await writeAtomically(path, second);
    else await volume.update(second);
    clock.advance(249);
    expect(bearer(await credentials.current())).toBe(`Bearer ${first}`);
    clock.advance(1);
    expect(bearer(await credentials.current())).toBe(`Bearer ${second}`);
    expect(credentials.reloads).toBe(1);
  });

  it('1000 concurrent current() across a rotation of token and headers: one reload each, no mix, none fails', async () => {
    const tokenPath = join(tempDir.path, 'token');
    const headersPath = join(tempDir.path, 'headers');
    const staticValue = secrets.token();
    const versions = [0, 1].map(() => ({ token: secrets.token(), tenant: secrets.token() }));
    await writeFile(tokenPath, `{"token":"${versions[0]!.token}"}`);
    await writeFile(headersPath, `X-Tenant: ${versions[0]!.tenant}\n`);
    const credentials = await provider({
      tokenFile: tokenPath,
      headersFile: headersPath,
      headers: { 'X-Static': staticValue },
      tokenCheckIntervalMs: 0,
    });
    await credentials.current();
    const rotation = (async () => {
      await writeAtomically(tokenPath, `{"token":"${versions[1]!.token}"}`);
      await writeAtomically(headersPath, `X-Tenant: ${versions[1]!.tenant}\n`);
    })();
    const calls = Array.from({ length: 1000 }, () => credentials.current());
    await rotation;
    const results = await Promise.allSettled([...calls, ...Array.from({ length: 1000 }, () => credentials.current())]);
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    const snapshots = results.map((result) => (result as PromiseFulfilledResult<BaseParams>).value);
    for (const snapshot of snapshots) {
      expect(Object.isFrozen(snapshot.headers)).toBe(true);
      expect(snapshot.headers['X-Static']).toBe(staticValue);
      const version = versions.find((v) => snapshot.headers.Authorization === `Bearer ${v.token}`);
      expect(version).toBeDefined();
    }
    const latest = await credentials.current();
    expect(latest.headers).toEqual({ 'X-Static': staticValue, 'X-Tenant': versions[1]!.tenant, Authorization: `Bearer ${versions[1]!.token}` });
    expect(credentials.reloads).toBe(2);
    expect(credentials.reloadFailures).toBe(0);
  });

  it('1000 concurrent current() once the interval has passed: exactly one reload, every snapshot wholly new', async () => {
    const tokenPath = join(tempDir.path, 'token');
    const headersPath = join(tempDir.path, 'headers');
    const versions = [0, 1].map(() => ({ token: secrets.token(), tenant: secrets.token() }));
    await writeFile(tokenPath, versions[0]!.token);
    await writeFile(headersPath, `X-Tenant: ${versions[0]!.tenant}\n`);
    const clock = manualClock();
    const credentials = await provider({ tokenFile: tokenPath, headersFile: headersPath, tokenCheckIntervalMs: 500, now: clock.now });
    await writeAtomically(tokenPath, versions[1]!.token);
    await writeAtomically(headersPath, `X-Tenant: ${versions[1]!.tenant}\n`);
    clock.advance(500);
    const snapshots = await Promise.all(Array.from({ length: 1000 }, () => credentials.current()));
    expect(new Set(snapshots).size).toBe(1);
    expect(snapshots[0]!.headers).toEqual({ 'X-Tenant': versions[1]!.tenant, Authorization: `Bearer ${versions[1]!.token}` });
    expect(credentials.reloads).toBe(2);
  });

  it('a bad token file keeps the old token in use, warns, and takes the good one that follows', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, `{"token":"${first}"}`);
    const clock = manualClock();
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 100, now: clock.now });
    const linesBefore = log.lines.length;
    for (const bad of ['{"token":"half', '', 'garbage\nwith lines']) {
      await writeAtomically(path, bad);
      clock.advance(100);
      expect(bearer(await credentials.current())).toBe(`Bearer ${first}`);
    }
    expect(credentials.reloadFailures).toBe(3);
    expect(log.records().slice(linesBefore).filter((record) => record.level === 40)).toHaveLength(1);
    await writeAtomically(path, `{"token":"${second}"}`);
    clock.advance(100);
    expect(bearer(await credentials.current())).toBe(`Bearer ${second}`);
  });
});

describe('invalidate', () => {
  it('forces a reload within the interval when the rejected snapshot is current', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, first);
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 60_000 });
    const rejected = await credentials.current();
    await writeAtomically(path, second);
    expect(await credentials.current()).toBe(rejected);
    credentials.invalidate(rejected);
    expect(bearer(await credentials.current())).toBe(`Bearer ${second}`);
  });

  it('concurrent invalidations of the same snapshot cause one reload; a stale one causes none', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, first);
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 60_000 });
    const rejected = await credentials.current();
    await writeAtomically(path, second);
    const retries = await Promise.all(
      Array.from({ length: 100 }, async () => {
        await Promise.resolve();
        credentials.invalidate(rejected);
        return credentials.current();
      }),
    );
    expect(new Set(retries.map(bearer))).toEqual(new Set([`Bearer ${second}`]));
    expect(credentials.reloads).toBe(1);
    credentials.invalidate(rejected);
    await credentials.current();
    expect(credentials.reloads).toBe(1);
  });

  it('an invalidation after the reload landed but before the snapshot was rebuilt is stale', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 0 });
    const rejected = await credentials.current();
    const next = secrets.token();
    await writeAtomically(path, next);
    credentials.invalidate(rejected);
    await credentials.current();
    credentials.invalidate(rejected);
    expect(bearer(await credentials.current())).toBe(`Bearer ${next}`);
    expect(credentials.reloads).toBe(1);
  });
});

describe('token expiry', () => {
  it('exposes the JWT exp and warns, rate-limited, when it is near and no newer token appeared', async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000) * 1000);
    const expSeconds = clock.now() / 1000 + 10 * 60;
    const token = secrets.add(await signedJwt(expSeconds));
    const path = join(tempDir.path, 'token');
    await writeFile(path, `{"token":"${token}"}`);
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 1000, now: clock.now });
    expect(credentials.tokenExpiresAt()?.getTime()).toBe(expSeconds * 1000);
    const linesBefore = log.lines.length;
    const expiryWarnings = () => log.records().slice(linesBefore).filter((record) => String(record.msg).startsWith('token expires soon'));
    await credentials.current();
    expect(expiryWarnings()).toHaveLength(0);
    clock.advance(6 * 60_000);
    await credentials.current();
    await credentials.current();
    expect(expiryWarnings()).toHaveLength(1);
    expect(expiryWarnings()[0]).toMatchObject({ tokenLength: token.length, secondsUntilExpiry: 240 });
    clock.advance(30_000);
    await credentials.current();
    expect(expiryWarnings()).toHaveLength(1);
    clock.advance(30_000);
    await credentials.current();
    expect(expiryWarnings()).toHaveLength(2);

    const fresh = secrets.add(await signedJwt(expSeconds + 3600));
    await writeAtomically(path, fresh);
    clock.advance(1000);
    await credentials.current();
    clock.advance(120_000);
    await credentials.current();
    expect(expiryWarnings()).toHaveLength(2);
    expect(credentials.tokenExpiresAt()?.getTime()).toBe((expSeconds + 3600) * 1000);
  });

  it('logs each reload with source, length, hash and exp, never the token', async () => {
    const path = join(tempDir.path, 'token');
    const expSeconds = Math.floor(Date.now() / 1000) + 3600;
    const [first, second] = [secrets.add(await signedJwt(expSeconds)), secrets.add(await signedJwt(expSeconds + 60))];
    await writeFile(path, first);
    const linesBefore = log.lines.length;
    const credentials = await provider({ tokenFile: path, tokenCheckIntervalMs: 0 });
    await writeAtomically(path, second);
    await credentials.current();
    const infos = log.records().slice(linesBefore).filter((record) => record.level === 30);
    expect(infos.map((record) => record.msg)).toEqual(['credentials loaded', 'token reloaded']);
    expect(infos[1]).toMatchObject({
      tokenSource: 'file',
      tokenFile: path,
      tokenLength: second.length,
      tokenSha256: expect.stringMatching(/^[0-9a-f]{8}$/),
      tokenExpiresAt: new Date((expSeconds + 60) * 1000).toISOString(),
    });
  });
});
