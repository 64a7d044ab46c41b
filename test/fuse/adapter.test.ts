// Only async fs calls: the filesystem answers on this same event loop, a sync call would deadlock.
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, readdir, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { MOUNT_ENGINES, mountFilesystem, type MountHandle } from '../../src/fuse/mount.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, makeMountpoint } from '../helpers/mount.js';

/** Each engine alone, mounted in-process over an in-memory bucket: errno mapping and op coverage. */
for (const engine of MOUNT_ENGINES) {
  describe(`fuse adapter over an in-memory bucket (${engine})`, () => {
    const bucket = new MemoryBucket();
    const big = Buffer.alloc(300_000, 0).map((_, i) => (i * 7) % 251);
    let handle: MountHandle | undefined;
    let mnt = '';

    beforeAll(async () => {
      bucket.set('hello.txt', 'hello world\n');
      bucket.set('empty', '');
      bucket.set('unread.bin', 'never read before the failure\n');
      bucket.set('dir/nested/deep.bin', big);
      bucket.set('with space/ünïcødé 名前.txt', 'unicode\n');
      mnt = makeMountpoint(`adapter-${engine}`);
      const fs = createBucketFilesystem({
        client: bucket,
        metadataTtlMs: 1000,
        negativeMetadataTtlMs: 1000,
        allowDelete: false,
        logger: pino({ level: 'silent' }),
      });
      handle = await mountFilesystem(fs, mnt, { fsname: 'bucketfs#memory', metadataTtlMs: 1000, logger: pino({ level: 'silent' }), engine });
    });

    afterAll(async () => {
      await handle?.unmount().catch(() => {});
      cleanupMounts();
    });

    it('lists the root with stats and reads files', async () => {
      expect((await readdir(mnt)).sort()).toEqual(['dir', 'empty', 'hello.txt', 'unread.bin', 'with space']);
      expect(await readFile(join(mnt, 'hello.txt'), 'utf8')).toBe('hello world\n');
      expect((await stat(join(mnt, 'hello.txt'))).size).toBe(12);
      expect((await stat(join(mnt, 'dir'))).isDirectory()).toBe(true);
      expect((await readFile(join(mnt, 'empty'))).length).toBe(0);
      expect(await readFile(join(mnt, 'with space', 'ünïcødé 名前.txt'), 'utf8')).toBe('unicode\n');
    });

    it('reads at odd offsets and across the end', async () => {
      const file = await open(join(mnt, 'dir/nested/deep.bin'), 'r');
      try {
        const target = Buffer.alloc(1000);
        expect((await file.read(target, 0, 1000, 12_345)).bytesRead).toBe(1000);
        expect(target.equals(big.subarray(12_345, 13_345))).toBe(true);
        const tail = Buffer.alloc(1000);
        expect((await file.read(tail, 0, 1000, big.length - 10)).bytesRead).toBe(10);
        expect(tail.subarray(0, 10).equals(big.subarray(big.length - 10))).toBe(true);
        expect((await file.read(tail, 0, 1000, big.length + 5)).bytesRead).toBe(0);
      } finally {
        await file.close();
      }
      expect((await readFile(join(mnt, 'dir/nested/deep.bin'))).equals(big)).toBe(true);
    });

    it('answers ENOENT for a missing name, EROFS for writes and EPERM for unlink on a read-only mount', async () => {
      await expect(stat(join(mnt, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(writeFile(join(mnt, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      await expect(mkdir(join(mnt, 'newdir'))).rejects.toMatchObject({ code: 'EROFS' });
      // The issue: unlink without --allow-delete is EPERM.
      await expect(unlink(join(mnt, 'hello.txt'))).rejects.toMatchObject({ code: 'EPERM' });
      expect(bucket.has('hello.txt')).toBe(true);
    });

    it('answers access(2) from the permission bits, as the kernel does for a local file', async () => {
      await expect(access(join(mnt, 'hello.txt'), constants.R_OK)).resolves.toBeUndefined();
      // The kernel checks (default_permissions): root may write any file, a non-root owner not a 0444 one.
      const writable = access(join(mnt, 'hello.txt'), constants.W_OK);
      if (process.getuid?.() === 0) await expect(writable).resolves.toBeUndefined();
      else await expect(writable).rejects.toMatchObject({ code: 'EACCES' });
      await expect(access(join(mnt, 'hello.txt'), constants.X_OK)).rejects.toMatchObject({ code: 'EACCES' });
      await expect(access(join(mnt, 'dir'), constants.R_OK | constants.X_OK)).resolves.toBeUndefined();
      await expect(access(join(mnt, 'missing'), constants.F_OK)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('answers statfs', async () => {
      expect((await statfs(mnt)).bsize).toBeGreaterThan(0);
    });

    it('turns a store failure into EIO, not a hang', async () => {
      bucket.failWith('get', () => new Error('boom'));
      try {
        await expect(readFile(join(mnt, 'unread.bin'))).rejects.toMatchObject({ code: 'EIO' });
      } finally {
        bucket.clearFailures();
      }
    });
  });
}
