import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { findMountDevice } from '../../src/fuse/mountinfo.js';
import { DEFAULT_READ_AHEAD_KB, readAheadPath } from '../../src/fuse/readahead.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, isMounted, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { run, runCli, startCli, waitForExit } from '../helpers/processes.js';
import { withTempDir, writeObjects } from '../helpers/server.js';

/*
 * The whole path through the kernel: the built CLI (`node dist/cli/main.js`, run `npx tsc` first)
 * mounts a bucket of a local server. The server runs in this process, so the test only uses async
 * fs calls and child processes: a synchronous call would block the server the mount is waiting on.
 */
const big = randomBytes(3 * 1024 * 1024 + 123);
const files: Record<string, string | Buffer> = {
  'b/hello.txt': 'hello world\n',
  'b/empty': '',
  'b/big.bin': big,
  'b/deep/a/b/c/d/e/leaf.txt': 'leaf\n',
  'b/with space/ünïcødé 名前.txt': 'unicode name\n',
  'b/victim-1.txt': 'delete me\n',
  'b/victim-2.txt': 'delete me too\n',
  'b/unread-1.txt': 'read only once the server is down\n',
};

for (const engine of MOUNT_ENGINES) {
  describe(`mount through the CLI (${engine})`, () => {
    let dataRoot: { path: string; remove: () => Promise<void> };
    let dataDir = '';
    let server: RunningServer | undefined;
    let url = '';

    const mount = async (bucket: string, extra: string[] = []) => {
      const mountpoint = makeMountpoint(engine);
      const result = await runCli(['mount', '--engine', engine, `ais://${bucket}`, mountpoint, '--endpoint', url, '--metadata-ttl', '1s', ...extra]);
      daemonPidFrom(result.stderr);
      return { mountpoint, result };
    };

    beforeAll(async () => {
      dataRoot = await withTempDir('cli-data');
      dataDir = join(dataRoot.path, 'data');
      await mkdir(join(dataDir, 'empty-bucket'), { recursive: true });
      await writeObjects(dataDir, files);
      server = await startServer({ dataDir, host: '127.0.0.1', port: 0 });
      url = server.url;
    });

    afterEach(() => cleanupMounts());

    afterAll(async () => {
      cleanupMounts();
      await server?.close();
      await dataRoot?.remove();
    });

    it('serves ls, stat, find, cat, cmp and head like local files', async () => {
      const { mountpoint, result } = await mount('b');
      expect(result.code, result.stderr).toBe(0);
      expect(isMounted(mountpoint)).toBe(true);

      const ls = await run('ls', ['-la', mountpoint]);
      expect(ls.code).toBe(0);
      for (const name of ['hello.txt', 'empty', 'big.bin', 'deep', 'with space']) expect(ls.stdout).toContain(name);
      expect(ls.stdout).toMatch(/-rw-r--r-- .* 12 .* hello\.txt/);

      const sizes = await run('stat', ['-c', '%s %F', join(mountpoint, 'big.bin'), join(mountpoint, 'empty'), join(mountpoint, 'deep')]);
      expect(sizes.stdout.trim().split('\n')).toEqual([`${big.length} regular file`, '0 regular empty file', '0 directory']);

      const find = await run('find', [mountpoint, '-type', 'f']);
      expect(find.stdout.trim().split('\n').map((line) => line.slice(mountpoint.length)).sort()).toEqual(
        Object.keys(files).map((key) => key.slice(1)).sort(),
      );

      expect((await run('cat', [join(mountpoint, 'deep/a/b/c/d/e/leaf.txt')])).stdout).toBe('leaf\n');
      expect((await run('cat', [join(mountpoint, 'with space/ünïcødé 名前.txt')])).stdout).toBe('unicode name\n');
      expect((await run('cat', [join(mountpoint, 'empty')])).stdout).toBe('');
      expect((await run('cmp', [join(mountpoint, 'big.bin'), join(dataDir, 'b/big.bin')])).code).toBe(0);
      expect((await run('head', ['-c', '5', join(mountpoint, 'hello.txt')])).stdout).toBe('hello');
    });

    it('reads at odd offsets and across the end of a file', async () => {
      const { mountpoint, result } = await mount('b');
      expect(result.code, result.stderr).toBe(0);
      const file = await open(join(mountpoint, 'big.bin'), 'r');
      try {
        for (const [offset, length] of [[1, 7], [4095, 3], [1_048_575, 70_001], [big.length - 17, 4096], [big.length, 10], [big.length + 999, 10]] as const) {
          const target = Buffer.alloc(length);
          const { bytesRead } = await file.read(target, 0, length, offset);
          const expected = big.subarray(Math.min(offset, big.length), Math.min(offset + length, big.length));
          expect(bytesRead, `offset ${offset}`).toBe(expected.length);
          expect(target.subarray(0, bytesRead).equals(expected)).toBe(true);
        }
      } finally {
        await file.close();
      }
    });

    it('writes a new file by default; refuses overwrite (EPERM), append (ENOTSUP) and unlink (EPERM) without their flags', async () => {
      const { mountpoint, result } = await mount('b');
      expect(result.code, result.stderr).toBe(0);
      const created = `written-${engine}.txt`;
      try {
        await writeFile(join(mountpoint, created), 'new bytes');
        expect(await readFile(join(dataDir, 'b', created), 'utf8')).toBe('new bytes');
      } finally {
        await rm(join(dataDir, 'b', created), { force: true });
      }
      await expect(writeFile(join(mountpoint, 'hello.txt'), 'x')).rejects.toMatchObject({ code: 'EPERM' });
      await expect(appendFile(join(mountpoint, 'hello.txt'), 'x')).rejects.toMatchObject({ code: 'ENOTSUP' });
      const removal = await run('rm', ['-f', join(mountpoint, 'victim-1.txt')]);
      expect(removal.stderr).toMatch(/Operation not permitted/);
      await expect(stat(join(dataDir, 'b/victim-1.txt'))).resolves.toBeDefined();
      expect(await readFile(join(dataDir, 'b/hello.txt'), 'utf8')).toBe('hello world\n');
    });

    it('deletes the object with --allow-delete', async () => {
      const { mountpoint, result } = await mount('b', ['--allow-delete']);
      expect(result.code, result.stderr).toBe(0);
      const rm = await run('rm', ['-f', join(mountpoint, 'victim-2.txt')]);
      expect(rm.code, rm.stderr).toBe(0);
      await expect(stat(join(dataDir, 'b/victim-2.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readdir(mountpoint)).not.toContain('victim-2.txt');
    });

    it('stays attached with --foreground and unmounts cleanly on SIGTERM', async () => {
      const mountpoint = makeMountpoint(engine);
      const { child, output } = startCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', url, '--foreground']);
      await waitUntil(() => output().includes('bucketfs: mounted at'), 15_000, `mount at ${mountpoint}\n${output()}`);
      expect((await readFile(join(mountpoint, 'hello.txt'), 'utf8'))).toBe('hello world\n');
      child.kill('SIGTERM');
      expect(await waitForExit(child)).toBe(0);
      expect(isMounted(mountpoint)).toBe(false);
    });

    it('cleans up the stale mount a kill -9 leaves, at the next mount', async () => {
      const mountpoint = makeMountpoint(engine);
      const { child, output } = startCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', url, '--foreground']);
      await waitUntil(() => output().includes('bucketfs: mounted at'), 15_000, `mount at ${mountpoint}\n${output()}`);
      child.kill('SIGKILL');
      await waitForExit(child);
      expect(isMounted(mountpoint)).toBe(true);
      await expect(readdir(mountpoint)).rejects.toMatchObject({ code: 'ENOTCONN' });

      const again = await runCli(['mount', '--engine', engine, 'ais://b', mountpoint, '--endpoint', url]);
      daemonPidFrom(again.stderr);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/stale mount.*cleaning it up/);
      expect(await readdir(mountpoint)).toContain('hello.txt');
    });

    it('unmounts with bucketfs unmount, and the mount process exits', async () => {
      const { mountpoint, result } = await mount('b');
      expect(result.code, result.stderr).toBe(0);
      const unmount = await runCli(['unmount', mountpoint]);
      expect(unmount.code, unmount.stderr).toBe(0);
      expect(isMounted(mountpoint)).toBe(false);
      const pid = Number(/\(process (\d+),/.exec(result.stderr)?.[1]);
      await waitUntil(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 10_000, `mount process ${pid} to exit`);
      const again = await runCli(['unmount', mountpoint]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/is not mounted/);
    });

    it('is private by default and shared with --allow-other; sets the kernel read-ahead, 1024 KiB unless --read-ahead-kb says otherwise', async () => {
      const mountinfoLine = async (mountpoint: string): Promise<string> =>
        (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((line) => line.split(' ')[4] === mountpoint) ?? '';
      const readAheadKbOf = async (mountpoint: string): Promise<number> =>
        Number((await readFile(readAheadPath((await findMountDevice(mountpoint)) ?? 'none'), 'utf8')).trim());

      const plain = await mount('b');
      expect(plain.result.code, plain.result.stderr).toBe(0);
      expect(await mountinfoLine(plain.mountpoint)).not.toContain('allow_other');
      expect(await readAheadKbOf(plain.mountpoint)).toBe(DEFAULT_READ_AHEAD_KB);

      const shared = await mount('b', ['--allow-other', '--read-ahead-kb', '256']);
      expect(shared.result.code, shared.result.stderr).toBe(0);
      expect(await mountinfoLine(shared.mountpoint)).toContain('allow_other');
      expect(await readAheadKbOf(shared.mountpoint)).toBe(256);
    });

    it.each([
      ['a missing bucket', async () => ['ais://nope', makeMountpoint(engine), '--endpoint', url], /bucket ais:\/\/nope does not exist/],
      ['an unreachable endpoint', async () => ['ais://b', makeMountpoint(engine), '--endpoint', 'http://127.0.0.1:1'], /endpoint http:\/\/127\.0\.0\.1:1 is unreachable/],
      [
        'a non-empty mountpoint',
        async () => {
          const mountpoint = makeMountpoint(engine);
          await writeFile(join(mountpoint, 'occupied'), 'x');
          return ['ais://b', mountpoint, '--endpoint', url];
        },
        /is not empty/,
      ],
      ['a missing mountpoint', async () => ['ais://b', join(makeMountpoint(engine), 'missing'), '--endpoint', url], /does not exist/],
      ['a mountpoint that is a file', async () => {
        const mountpoint = makeMountpoint(engine);
        await writeFile(join(mountpoint, 'file'), 'x');
        return ['ais://b', join(mountpoint, 'file'), '--endpoint', url];
      }, /is not a folder/],
    ])('fails with a clear message for %s', async (_label, makeArgs, message) => {
      const result = await runCli(['mount', '--engine', engine, ...(await makeArgs())]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });

    it('answers EIO while the server is down, not a hang, and recovers when it returns', async () => {
      const port = Number(new URL(url).port);
      const { mountpoint, result } = await mount('b', ['--metadata-ttl', '0', '--negative-metadata-ttl', '0', '--retry-timeout', '3s']);
      expect(result.code, result.stderr).toBe(0);
      await server?.close();
      server = undefined;
      try {
        await expect(readFile(join(mountpoint, 'unread-1.txt'))).rejects.toMatchObject({ code: 'EIO' });
      } finally {
        server = await startServer({ dataDir, host: '127.0.0.1', port });
      }
      expect(await readFile(join(mountpoint, 'unread-1.txt'), 'utf8')).toBe('read only once the server is down\n');
    });
  });
}
