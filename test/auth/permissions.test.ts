import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCredentialProvider } from '../../src/auth/credential-provider.js';
import { octalMode, readableBeyondOwner, secretFilesReadableByOthers, warnIfReadableByOthers } from '../../src/auth/file-permissions.js';
import { parseTokenFile } from '../../src/auth/token-file.js';
import { WatchedFile } from '../../src/auth/watched-file.js';
import { capturingLogger, manualClock, SecretRegistry, writeAtomically } from './auth-fixture.js';
import { useTempDirPerTest, withTempDir } from '../helpers/server.js';

describe('readableBeyondOwner', () => {
  it.each([
    [0o600, undefined],
    [0o400, undefined],
    [0o700, undefined],
    [0o620, undefined],
    [0o602, undefined],
    [0o640, 'group'],
    [0o604, 'others'],
    [0o644, 'group and others'],
    [0o100644, 'group and others'],
    [0o755, 'group and others'],
  ] as const)('%o → %s', (mode, expected) => {
    expect(readableBeyondOwner(mode)).toBe(expected);
  });

  it.each([
    [0o644, '0644'],
    [0o600, '0600'],
    [0o100640, '0640'],
    [0o4, '0004'],
  ])('octalMode(%o) = %s', (mode, text) => {
    expect(octalMode(mode)).toBe(text);
  });
});

describe('permission warning for secret files', () => {
  const secrets = new SecretRegistry();
  const tempDir = useTempDirPerTest('perm');

  const warnings = (log: ReturnType<typeof capturingLogger>) => log.records().filter((record) => record.level === 40 && /readable by/.test(record.msg));

  it('warns once at open and again after a reload that is still readable by others, never quoting the content', async () => {
    const log = capturingLogger();
    const clock = manualClock();
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token(), { mode: 0o644 });
    await chmod(path, 0o644);
    const file = await WatchedFile.open({ path, parse: parseTokenFile, checkIntervalMs: 0, logger: log.logger, label: 'token file', secret: true, now: clock.now });
    expect(warnings(log)).toHaveLength(1);
    expect(warnings(log)[0]).toMatchObject({ path, mode: '0644', readableBy: 'group and others' });

    // Checks without a change do not repeat the warning.
    await file.get();
    await file.get();
    expect(warnings(log)).toHaveLength(1);

    await writeAtomically(path, secrets.token());
    await chmod(path, 0o644);
    clock.advance(10);
    await file.get();
    expect(file.generation).toBe(1);
    expect(warnings(log)).toHaveLength(2);

    await writeAtomically(path, secrets.token());
    await chmod(path, 0o600);
    clock.advance(10);
    await file.get();
    expect(file.generation).toBe(2);
    expect(warnings(log)).toHaveLength(2);
    expect(secrets.leaks(log.lines)).toEqual([]);
  });

  it('says nothing for a 0600 file, or for a file not marked secret', async () => {
    const log = capturingLogger();
    const privatePath = join(tempDir.path, 'private');
    const publicPath = join(tempDir.path, 'public');
    await writeFile(privatePath, secrets.token(), { mode: 0o600 });
    await writeFile(publicPath, 'not a secret', { mode: 0o644 });
    await chmod(publicPath, 0o644);
    await WatchedFile.open({ path: privatePath, parse: parseTokenFile, checkIntervalMs: 0, logger: log.logger, secret: true });
    await WatchedFile.open({ path: publicPath, parse: (text) => text, checkIntervalMs: 0, logger: log.logger });
    expect(warnings(log)).toEqual([]);
  });

  it('the credential provider marks its token file and headers file as secret', async () => {
    const log = capturingLogger();
    const tokenFile = join(tempDir.path, 'token.json');
    const headersFile = join(tempDir.path, 'headers');
    await writeFile(tokenFile, JSON.stringify({ token: secrets.token() }), { mode: 0o640 });
    await writeFile(headersFile, `X-Api-Key: ${secrets.token()}\n`, { mode: 0o604 });
    await chmod(tokenFile, 0o640);
    await chmod(headersFile, 0o604);
    await createCredentialProvider({ endpoint: 'http://127.0.0.1:1', tokenFile, headersFile, env: {}, logger: log.logger });
    expect(warnings(log).map((record) => [record.path, record.readableBy])).toEqual([
      [tokenFile, 'group'],
      [headersFile, 'others'],
    ]);
    expect(secrets.leaks(log.lines)).toEqual([]);
  });

  it('warnIfReadableByOthers reports whether it warned', () => {
    const log = capturingLogger();
    expect(warnIfReadableByOthers('/x', 0o600, 'token file', log.logger)).toBe(false);
    expect(warnIfReadableByOthers('/x', 0o644, 'token file', log.logger)).toBe(true);
    expect(log.records().map((record) => record.msg)).toEqual([
      'token file is readable by group and others (mode 0644): anyone who can read it can use the credentials; chmod 600 it',
    ]);
  });
});

describe('secretFilesReadableByOthers', () => {
  it('lists the exposed files once each, skipping private and missing ones', async () => {
    const dir = await withTempDir('perm-list');
    try {
      const exposed = join(dir.path, 'exposed');
      const privateFile = join(dir.path, 'private');
      await writeFile(exposed, 'x');
      await chmod(exposed, 0o640);
      await writeFile(privateFile, 'x');
      await chmod(privateFile, 0o600);
      expect(await secretFilesReadableByOthers([exposed, privateFile, join(dir.path, 'missing'), exposed])).toEqual([
        { path: exposed, mode: '0640', readableBy: 'group' },
      ]);
    } finally {
      await dir.remove();
    }
  });
});
