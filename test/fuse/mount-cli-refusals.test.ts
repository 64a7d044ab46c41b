import { readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { startHttpStub, type HttpStub } from '../store/http-stub.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint } from '../helpers/mount.js';
import { run, runCli } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * What the mount command must refuse or put right before it mounts, each with one line on stderr and nothing
 * left mounted: the built CLI (`npx tsc` first) against a server in this process (async fs calls only).
 */
const mountinfoOptions = async (mountpoint: string): Promise<string[]> =>
  ((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((line) => line.split(' ')[4] === mountpoint)?.split(' ')[5] ?? '').split(',');

/** One `bucketfs: ...` line and no stack trace or usage text. */
function expectOneLine(stderr: string, message: RegExp): void {
  expect(stderr).toMatch(message);
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(/^bucketfs: /);
  expect(stderr).not.toMatch(/Usage:|\n\s+at /);
}

describe('the mount command', () => {
  let dataRoot: { path: string; remove: () => Promise<void> } | undefined;
  let cacheHome: { path: string; remove: () => Promise<void> } | undefined;
  let server: RunningServer | undefined;
  let url = '';
  /** Mount logs and run state go to a folder of the test's own, removed with it. */
  const cli = (args: readonly string[]) => runCli(args, { env: { ...process.env, XDG_CACHE_HOME: cacheHome?.path ?? '' } });

  beforeAll(async () => {
    cacheHome = await withTempDir('refusals-cache');
    dataRoot = await withTempDir('refusals');
    await writeObjects(dataRoot.path, { 'b/hello.txt': 'hello\n', 'b/victim.txt': 'stays\n' });
    server = await startServer({ dataDir: dataRoot.path, host: '127.0.0.1', port: 0 });
    url = server.url;
  });

  afterEach(() => cleanupMounts());

  afterAll(async () => {
    cleanupMounts();
    await server?.close();
    await dataRoot?.remove();
    await cacheHome?.remove();
  });

  for (const engine of MOUNT_ENGINES) {
    it(`mounts on the target of a symlinked mountpoint, and unmounts through the link (${engine})`, async () => {
      const target = makeMountpoint(`target-${engine}`);
      const holder = makeMountpoint(`link-${engine}`);
      const link = join(holder, 'link');
      await symlink(target, link);
      const result = await cli(['mount', '--engine', engine, 'ais://b', link, '--endpoint', url]);
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`${link} is a symlink: mounting on its target ${target}`);
      expect(isMounted(target)).toBe(true);
      expect(await readFile(join(link, 'hello.txt'), 'utf8')).toBe('hello\n');
      const unmounted = await cli(['unmount', link]);
      expect(unmounted.code, unmounted.stderr).toBe(0);
      expect(isMounted(target)).toBe(false);
      expect(isMounted(link)).toBe(false);
      await unlink(link);
    });

    it(`mounts ro with --read-only: every write, rm included, is EROFS (${engine})`, async () => {
      const mountpoint = makeMountpoint(`ro-${engine}`);
      const result = await cli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', url, '--read-only']);
      daemonPidFrom(result.stderr);
      expect(result.code, result.stderr).toBe(0);
      expect(await mountinfoOptions(mountpoint)).toContain('ro');
      const removal = await run('rm', ['-f', join(mountpoint, 'victim.txt')]);
      expect(removal.stderr).toMatch(/Read-only file system/);
      await expect(writeFile(join(mountpoint, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello\n');
      expect(await readFile(join(dataRoot?.path ?? '', 'b/victim.txt'), 'utf8')).toBe('stays\n');
    });
  }

  describe('refuses with one line', () => {
    let stub: HttpStub | undefined;
    let configDir: { path: string; remove: () => Promise<void> } | undefined;

    beforeAll(async () => {
      // Answers every request, HEAD and health included, with a 200 web page.
      stub = await startHttpStub((request, response) => {
        response.writeHead(200, { 'Content-Type': 'text/html' });
        response.end(request.method === 'HEAD' ? undefined : '<html><body>It works!</body></html>');
      });
      configDir = await withTempDir('refusals-config');
    });

    afterAll(async () => {
      await stub?.close();
      await configDir?.remove();
    });

    it('an endpoint that answers everything with a 200 HTML page', async () => {
      const mountpoint = makeMountpoint('html');
      const result = await cli(['mount', 'ais://b', mountpoint, '--endpoint', stub?.url ?? '']);
      daemonPidFrom(result.stderr);
      expect(result.code).not.toBe(0);
      expectOneLine(result.stderr, /not AIStore's .*is the endpoint an AIStore cluster\?/);
      expect(isMounted(mountpoint)).toBe(false);
    });

    it('an unknown option, with a suggestion', async () => {
      const result = await cli(['mount', '--allow-delet', 'ais://b', makeMountpoint('typo'), '--endpoint', url]);
      expect(result.code).not.toBe(0);
      expectOneLine(result.stderr, /^bucketfs: unknown option '--allow-delet' \(Did you mean --allow-delete\?\)$/m);
    });

    it('an unknown command, with a suggestion', async () => {
      const result = await cli(['mont', 'ais://b']);
      expect(result.code).not.toBe(0);
      expectOneLine(result.stderr, /unknown command 'mont' \(Did you mean mount\?\)/);
    });

    it.each([
      [['--part-size', '0'], /--part-size: must be more than 0/],
      [['--file-mode', '4444'], /--file-mode: setuid, setgid and sticky bits are not allowed/],
      [['--dir-mode', '1777'], /--dir-mode: setuid, setgid and sticky bits are not allowed/],
      [['--read-only', '--allow-delete'], /--read-only and --allow-delete cannot be combined/],
    ])('%j', async (flags, message) => {
      const mountpoint = makeMountpoint('flags');
      const result = await cli(['mount', 'ais://b', mountpoint, '--endpoint', url, ...flags]);
      expect(result.code).not.toBe(0);
      expectOneLine(result.stderr, message);
      expect(isMounted(mountpoint)).toBe(false);
    });

    it('a config whose YAML alias refers to itself', async () => {
      const config = join(configDir?.path ?? '', 'alias.yaml');
      await writeFile(config, `bucket: ais://b\nendpoint: ${url}\nheaders: &h\n  X-Loop: *h\n`);
      const result = await cli(['mount', makeMountpoint('alias'), '--config', config]);
      expect(result.code).not.toBe(0);
      expectOneLine(result.stderr, /headers\.X-Loop: a YAML alias refers to a mapping or list that contains it/);
      await rm(config);
    });
  });
});
