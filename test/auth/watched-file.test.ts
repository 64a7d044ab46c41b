import { rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTokenFile } from '../../src/auth/token-file.js';
import { WatchedFile } from '../../src/auth/watched-file.js';
import { capturingLogger, expectNoSecretLoggedAfterAll, KubernetesSecretVolume, makeFifo, manualClock, SecretRegistry, sleep, writeAtomically } from './auth-fixture.js';
import { useTempDirPerTest } from '../helpers/server.js';

const secrets = new SecretRegistry();
const log = capturingLogger();
const tempDir = useTempDirPerTest('auth');
expectNoSecretLoggedAfterAll(secrets, log);

/** A token file watched with a manual clock, counting parses. */
async function watchToken(path: string, checkIntervalMs = 100) {
  const clock = manualClock();
  let parses = 0;
  const file = await WatchedFile.open({
    path,
    parse: (content) => {
      parses += 1;
      return parseTokenFile(content);
    },
    checkIntervalMs,
    logger: log.logger,
    label: 'token file',
    now: clock.now,
  });
  return { file, clock, parses: () => parses };
}

describe('WatchedFile open', () => {
  it('loads the file', async () => {
    const path = join(tempDir.path, 'token');
    const token = secrets.token();
    await writeFile(path, `{"token":"${token}"}`);
    const { file } = await watchToken(path);
    expect(await file.get()).toBe(token);
    expect(file.value).toBe(token);
    expect(file.generation).toBe(0);
  });

  it.each([
    ['missing', undefined, /cannot load token file .*token: no such file \(ENOENT\)$/],
    ['empty', '', /cannot load token file .*token: file is empty/],
    ['garbage', 'not a\ntoken', /cannot load token file .*token: token contains whitespace/],
    ['too large', 'a'.repeat(1024 * 1024 + 1), /cannot load token file .*token: larger than 1048576 bytes/],
  ])('throws with the path and the reason when %s', async (_name, content, message) => {
    const path = join(tempDir.path, 'token');
    if (content !== undefined) await writeFile(path, content);
    await expect(watchToken(path)).rejects.toThrow(message);
  });

  it('refuses something that is not a regular file', async () => {
    await expect(watchToken('/dev/zero')).rejects.toThrow(/cannot load token file \/dev\/zero: not a regular file \(a device\)/);
    await expect(watchToken(tempDir.path)).rejects.toThrow(/not a regular file \(a folder\)/);
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const path = join(tempDir.path, 'token');
    makeFifo(path);
    await expect(watchToken(path)).rejects.toThrow(/cannot load token file .*token: not a regular file \(a FIFO\)/);
  });
});

describe('WatchedFile swapped for a FIFO', () => {
  it.each([
    ['a FIFO renamed over the file', async (path: string) => {
      makeFifo(`${path}.fifo`);
      await rename(`${path}.fifo`, path);
    }],
    ['a symlink to a FIFO renamed over the file', async (path: string) => {
      makeFifo(`${path}.fifo`);
      await symlink(`${path}.fifo`, `${path}.link`);
      await rename(`${path}.link`, path);
    }],
  ])('%s: get() and forceReload() answer at once with the last good token, then the next good file is read', async (_name, swap) => {
    const path = join(tempDir.path, 'token');
    const [good, next] = [secrets.token(), secrets.token()];
    await writeFile(path, good);
    const { file, clock } = await watchToken(path);
    const linesBefore = log.lines.length;
    await swap(path);
    for (let check = 0; check < 3; check += 1) {
      clock.advance(100);
      expect(await file.get()).toBe(good);
      expect(await file.forceReload()).toBe(good);
    }
    expect(file.reloadFailures).toBe(6);
    const warnings = log.records().slice(linesBefore).filter((record) => record.level === 40);
    expect(warnings.map((record) => String(record.reason))).toEqual(['not a regular file (a FIFO)']);
    await writeAtomically(path, next);
    clock.advance(100);
    expect(await file.get()).toBe(next);
    expect(file.generation).toBe(1);
  });
});

describe('WatchedFile rotation', () => {
  it('sees an in-place rewrite only after the check interval', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token(50)];
    await writeFile(path, first);
    const { file, clock } = await watchToken(path, 100);
    await writeFile(path, second);
    clock.advance(99);
    expect(await file.get()).toBe(first);
    clock.advance(1);
    expect(await file.get()).toBe(second);
    expect(file.generation).toBe(1);
  });

  it('sees an atomic rename', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, first);
    const { file, clock } = await watchToken(path);
    await writeAtomically(path, `{"token":"${second}"}`);
    clock.advance(100);
    expect(await file.get()).toBe(second);
  });

  it('sees a Kubernetes ..data symlink swap', async () => {
    const volume = new KubernetesSecretVolume(tempDir.path, 'token');
    const [first, second, third] = [secrets.token(), secrets.token(), secrets.token()];
    await volume.create(first);
    const { file, clock } = await watchToken(volume.path);
    expect(await file.get()).toBe(first);
    await volume.update(second);
    clock.advance(100);
    expect(await file.get()).toBe(second);
    await volume.update(third);
    clock.advance(100);
    expect(await file.get()).toBe(third);
    expect(file.generation).toBe(2);
  });

  it('sees two same-size rotations within one second, by rename and in place', async () => {
    const path = join(tempDir.path, 'token');
    const tokens = [secrets.token(32), secrets.token(32), secrets.token(32), secrets.token(32), secrets.token(32)];
    await writeFile(path, tokens[0]!);
    const { file, clock } = await watchToken(path);
    const started = Date.now();
    await writeAtomically(path, tokens[1]!);
    clock.advance(100);
    expect(await file.get()).toBe(tokens[1]);
    await writeAtomically(path, tokens[2]!);
    clock.advance(100);
    expect(await file.get()).toBe(tokens[2]);
    // In place: same inode, same size; only the nanosecond mtime tells the versions apart. The pause
    // steps over the kernel's coarse timestamp tick.
    await sleep(25);
    await writeFile(path, tokens[3]!);
    clock.advance(100);
    expect(await file.get()).toBe(tokens[3]);
    await sleep(25);
    await writeFile(path, tokens[4]!);
    clock.advance(100);
    expect(await file.get()).toBe(tokens[4]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(file.generation).toBe(4);
  });

  it('stats at most once per interval and does not re-read an unchanged file', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const { file, clock, parses } = await watchToken(path, 100);
    for (let i = 0; i < 10; i += 1) {
      clock.advance(100);
      await file.get();
    }
    expect(parses()).toBe(1);
    expect(file.generation).toBe(0);
  });

  it('with interval 0 checks on every call', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token(41)];
    await writeFile(path, first);
    const { file } = await watchToken(path, 0);
    await writeFile(path, second);
    expect(await file.get()).toBe(second);
  });
});

describe('WatchedFile failed reloads', () => {
  it.each([
    ['half-written JSON', '{"token":"abc', /does not parse/],
    ['empty', '', /file is empty/],
    ['garbage', '<html>\n<body>oops</body>', /whitespace or several lines/],
    ['missing', undefined, /ENOENT/],
  ])('keep the last good value on %s, warn, and pick up the good file that follows', async (_name, content, reason) => {
    const path = join(tempDir.path, 'token');
    const [good, next] = [secrets.token(), secrets.token()];
    await writeFile(path, good);
    const { file, clock } = await watchToken(path);
    const linesBefore = log.lines.length;
    if (content === undefined) await rm(path);
    else await writeFile(path, content);
    clock.advance(100);
    expect(await file.get()).toBe(good);
    expect(file.reloadFailures).toBe(1);
    const warnings = log.records().slice(linesBefore).filter((record) => record.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ path, msg: 'cannot reload token file; keeping the last good version' });
    expect(String(warnings[0]!.reason)).toMatch(reason);

    // Not recorded as seen: the next check retries, and rate limiting keeps the log quiet meanwhile.
    clock.advance(100);
    expect(await file.get()).toBe(good);
    expect(file.reloadFailures).toBe(2);
    expect(log.lines.length - linesBefore).toBe(1);

    await writeAtomically(path, next);
    clock.advance(100);
    expect(await file.get()).toBe(next);
    expect(file.generation).toBe(1);
  });

  it('warns again after a minute while the file stays bad, counting the suppressed warnings', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const { file, clock } = await watchToken(path);
    const linesBefore = log.lines.length;
    await writeFile(path, '');
    for (let i = 0; i < 5; i += 1) {
      clock.advance(100);
      await file.get();
    }
    clock.advance(60_000);
    await file.get();
    const warnings = log.records().slice(linesBefore);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatchObject({ suppressed: 4, failures: 6 });
  });

  it('a rewrite that is caught half-way is re-read once complete', async () => {
    const path = join(tempDir.path, 'token');
    const [good, next] = [secrets.token(), secrets.token()];
    await writeFile(path, good);
    const { file, clock } = await watchToken(path);
    await writeFile(path, '{"token":"');
    clock.advance(100);
    expect(await file.get()).toBe(good);
    await sleep(25);
    await writeFile(path, `{"token":"${next}"}`);
    clock.advance(100);
    expect(await file.get()).toBe(next);
  });
});

describe('WatchedFile single flight', () => {
  it('1000 concurrent get() across a change: one stat-triggered reload, one parse', async () => {
    const path = join(tempDir.path, 'token');
    const [first, second] = [secrets.token(), secrets.token()];
    await writeFile(path, first);
    const { file, clock, parses } = await watchToken(path, 100);
    await writeAtomically(path, second);
    clock.advance(100);
    const values = await Promise.all(Array.from({ length: 1000 }, () => file.get()));
    expect(new Set(values)).toEqual(new Set([second]));
    expect(parses()).toBe(2);
    expect(file.generation).toBe(1);
  });

  it('concurrent forceReload() share one reload', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const { file, parses } = await watchToken(path, 60_000);
    const next = secrets.token();
    await writeAtomically(path, next);
    const values = await Promise.all(Array.from({ length: 50 }, () => file.forceReload()));
    expect(new Set(values)).toEqual(new Set([next]));
    expect(parses()).toBe(2);
    expect(file.generation).toBe(1);
  });

  it('forceReload() reads even an unchanged file, within the interval', async () => {
    const path = join(tempDir.path, 'token');
    await writeFile(path, secrets.token());
    const { file, parses } = await watchToken(path, 60_000);
    await file.forceReload();
    expect(parses()).toBe(2);
    expect(file.generation).toBe(1);
  });
});
