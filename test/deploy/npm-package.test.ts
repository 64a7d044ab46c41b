import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run } from '../helpers/processes.js';
import { useServer, withTempDir } from '../helpers/server.js';

/*
 * The package as a user gets it: `npm pack`, then `npm install -g` of the tarball into a clean prefix (its
 * dependencies from the registry, the native engine built by its install script), then a mount with the
 * installed `bucketfs` and `mount.bucketfs`. Needs the npm registry.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INSTALL_TIMEOUT_MS = 300_000;

const server = useServer({ 'b/hello.txt': 'hello from the package\n' });
let dir: { path: string; remove: () => Promise<void> };
let install = { code: null as number | null, output: '' };
let prefix = '';

beforeAll(async () => {
  dir = await withTempDir('package');
  prefix = join(dir.path, 'prefix');
  const pack = await run('npm', ['pack', '--silent', '--pack-destination', dir.path], { timeoutMs: 120_000 });
  expect(pack.code, pack.stderr).toBe(0);
  const tarball = join(dir.path, pack.stdout.trim().split('\n').pop() ?? '');
  // npm ≥ 11 wants each install script allowed: a tarball's own by its file: spec, the fallback engine's by name.
  const result = await run('npm', ['install', '-g', '--prefix', prefix, `--allow-scripts=fuse-native,file:${tarball}`, '--no-audit', '--no-fund', tarball], {
    timeoutMs: INSTALL_TIMEOUT_MS,
    env: { ...process.env, npm_config_loglevel: 'warn' },
  });
  install = { code: result.code, output: result.stdout + result.stderr };
}, INSTALL_TIMEOUT_MS + 120_000);

afterAll(async () => {
  cleanupMounts();
  await dir?.remove();
});

describe('the npm package', () => {
  it('installs from its tarball without warnings, building the native engine quietly', async () => {
    expect(install.code, install.output).toBe(0);
    expect(install.output).not.toMatch(/install-scripts|gyp info|warning:/i);
    expect((await readdir(join(prefix, 'bin'))).sort()).toEqual(['bucketfs', 'mount.bucketfs']);
    const addons = join(prefix, 'lib/node_modules/bucketfs/build/Release');
    expect(existsSync(join(addons, 'bucketfs_fuse.node')) && existsSync(join(addons, 'bucketfs_process.node'))).toBe(true);
    const version = await run(join(prefix, 'bin/bucketfs'), ['--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('mounts with the installed bucketfs (native engine) and unmounts', async () => {
    expect(install.code, install.output).toBe(0);
    const mountpoint = makeMountpoint('package');
    const mount = await run(join(prefix, 'bin/bucketfs'), ['mount', 'ais://b', mountpoint, '--endpoint', server.url, '--engine', 'native']);
    daemonPidFrom(mount.stderr);
    expect(mount.code, mount.stderr).toBe(0);
    expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello from the package\n');
    const unmount = await run(join(prefix, 'bin/bucketfs'), ['unmount', mountpoint]);
    expect(unmount.code, unmount.stderr).toBe(0);
    expect(isMounted(mountpoint)).toBe(false);
  });

  it('mounts with the installed mount.bucketfs helper, in an empty environment', async () => {
    expect(install.code, install.output).toBe(0);
    const mountpoint = makeMountpoint('package');
    const mount = await run(join(prefix, 'bin/mount.bucketfs'), ['ais://b', mountpoint, '-o', `rw,nosuid,nodev,endpoint=${server.url}`], {
      env: { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME },
    });
    daemonPidFrom(mount.stderr);
    expect(mount.code, mount.stderr).toBe(0);
    expect(await readFile(join(mountpoint, 'hello.txt'), 'utf8')).toBe('hello from the package\n');
    expect((await run('umount', [mountpoint])).code).toBe(0);
    await waitUntil(() => !isMounted(mountpoint), 10_000, 'the unmount');
  });
});
