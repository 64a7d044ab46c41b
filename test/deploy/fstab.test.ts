import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { detachedLogPath } from '../../src/cli/daemonize.js';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { CLI_PATH, run } from '../helpers/processes.js';
import { useServer, withTempDir } from '../helpers/server.js';

/*
 * mount(8) with a real fstab (`mount -T FILE MOUNTPOINT`), both ways in: type fuse.bucketfs (mount.fuse3 runs
 * `bucketfs` through /bin/sh) and type bucketfs (mount(8) runs /sbin/mount.bucketfs). mount(8) runs its helper
 * with an empty environment, so `bucketfs` must sit in the shell's default PATH, and the endpoint and the token
 * file come from the fstab options alone. The test installs both entry points for its run and removes them.
 */
const SECRET = 'fstab-test-secret-long-enough-for-hs256';
const HELPER_LINK = '/sbin/mount.bucketfs';
const LAUNCHER = fileURLToPath(new URL('../../deploy/mount.bucketfs', import.meta.url));
/** First in the default PATH of /bin/sh, before where `npm install -g` puts a real `bucketfs`. */
const TOOL_ON_PATH = '/usr/local/sbin/bucketfs';
const TOOL_SCRIPT = `#!/bin/sh\n# made by test/deploy/fstab.test.ts\nexec "${process.execPath}" "${CLI_PATH}" "$@"\n`;

const server = useServer({ 'train/imgs/a.txt': 'first image\n', 'train/imgs/b.txt': 'second image\n', 'train/other.txt': 'not under the prefix\n' }, async (outsideDir) => {
  await writeFile(join(outsideDir, 'secret'), SECRET);
  return { authSecretFile: join(outsideDir, 'secret') };
});

let tools: { path: string; remove: () => Promise<void> };
let tokenFile = '';
const mountpointsUsed: string[] = [];

beforeAll(async () => {
  tools = await withTempDir('fstab');
  if (existsSync(TOOL_ON_PATH)) throw new Error(`${TOOL_ON_PATH} already exists; this test makes and removes its own`);
  // What `npm install -g` puts on PATH, pointing at this checkout's build.
  await writeFile(TOOL_ON_PATH, TOOL_SCRIPT, { mode: 0o755 });
  tokenFile = join(tools.path, 'token');
  await writeFile(tokenFile, await signToken(secretKeyFromText(SECRET), { ttlMs: 3_600_000, subject: 'fstab' }), { mode: 0o600 });
});

afterEach(async () => {
  cleanupMounts();
  // Without HOME or XDG_CACHE_HOME the detached mount logs under the user's own cache folder.
  for (const mountpoint of mountpointsUsed.splice(0)) await rm(detachedLogPath(mountpoint, {}), { force: true });
});

afterAll(async () => {
  cleanupMounts();
  await removeHelperLink();
  if (existsSync(TOOL_ON_PATH) && (await readFile(TOOL_ON_PATH, 'utf8')) === TOOL_SCRIPT) await rm(TOOL_ON_PATH);
  await tools?.remove();
});

/** Removes /sbin/mount.bucketfs only when it is the link this test made. */
async function removeHelperLink(): Promise<void> {
  if (existsSync(HELPER_LINK) && (await lstat(HELPER_LINK)).isSymbolicLink() && (await readlink(HELPER_LINK)) === LAUNCHER) await rm(HELPER_LINK);
}

/** What a boot-time mount has; mount(8) hands its helper an empty environment anyway. */
function bareEnv(): NodeJS.ProcessEnv {
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
}

async function mountFromFstab(line: (mountpoint: string) => string): Promise<string> {
  const mountpoint = makeMountpoint('fstab');
  mountpointsUsed.push(mountpoint);
  const fstab = join(tools.path, 'fstab');
  await writeFile(fstab, `# a test fstab\n${line(mountpoint)}\n`);
  const result = await run('mount', ['-T', fstab, mountpoint], { env: bareEnv(), timeoutMs: 60_000 });
  daemonPidFrom(result.stderr);
  expect(result.code, result.stderr).toBe(0);
  expect(isMounted(mountpoint)).toBe(true);
  return mountpoint;
}

async function readThroughAndUnmount(mountpoint: string): Promise<void> {
  expect((await readdir(mountpoint)).sort()).toEqual(['a.txt', 'b.txt']);
  expect(await readFile(join(mountpoint, 'b.txt'), 'utf8')).toBe('second image\n');
  const umount = await run('umount', [mountpoint], { env: bareEnv() });
  expect(umount.code, umount.stderr).toBe(0);
  await waitUntil(() => !isMounted(mountpoint), 10_000, 'the unmount');
}

describe('fstab and mount(8)', () => {
  it('mounts type fuse.bucketfs through mount.fuse3 and bucketfs in the default PATH', async () => {
    const options = `_netdev,nofail,noauto,x-systemd.mount-timeout=30,endpoint=${server.url},token_file=${tokenFile},metadata_ttl=1s`;
    const mountpoint = await mountFromFstab((mp) => `ais://train/imgs ${mp} fuse.bucketfs ${options} 0 0`);
    await readThroughAndUnmount(mountpoint);
  });

  it('mounts the legacy form: type fuse with source bucketfs#ais://…', async () => {
    const mountpoint = await mountFromFstab((mp) => `bucketfs#ais://train/imgs ${mp} fuse _netdev,ro,endpoint=${server.url},token_file=${tokenFile} 0 0`);
    await readThroughAndUnmount(mountpoint);
  });

  it('mounts type bucketfs through /sbin/mount.bucketfs', async () => {
    if (existsSync(HELPER_LINK)) throw new Error(`${HELPER_LINK} already exists; this test makes and removes its own`);
    await symlink(LAUNCHER, HELPER_LINK);
    try {
      const mountpoint = await mountFromFstab((mp) => `ais://train/imgs ${mp} bucketfs defaults,_netdev,nofail,endpoint=${server.url},token_file=${tokenFile} 0 0`);
      await readThroughAndUnmount(mountpoint);
    } finally {
      await removeHelperLink();
    }
  });

  it('fails an unknown fstab option with one line naming it, and mounts nothing', async () => {
    const mountpoint = makeMountpoint('fstab');
    const fstab = join(tools.path, 'fstab-bad');
    await writeFile(fstab, `ais://train ${mountpoint} fuse.bucketfs endpoint=${server.url},metadata_tll=5s 0 0\n`);
    const result = await run('mount', ['-T', fstab, mountpoint], { env: bareEnv() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('bucketfs: unknown mount option "metadata_tll"');
    expect(isMounted(mountpoint)).toBe(false);
  });
});
