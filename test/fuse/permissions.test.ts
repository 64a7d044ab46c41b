// Only async fs calls in this process: the filesystem answers on this same event loop.
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { MOUNT_ENGINES, mountFilesystem, type MountEngine, type MountHandle } from '../../src/fuse/mount.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { cleanupMounts, makeMountpoint } from '../helpers/mount.js';
import { createTestUser, type TestUser } from '../helpers/users.js';

/*
 * The kernel enforces the mount's modes, uid and gid (default_permissions) for every user, as for a local
 * filesystem: checked as a real second account, on mounts made by root with --allow-other --uid 0.
 */
const silent = pino({ level: 'silent' });

interface MountShape {
  readonly fileMode: number;
  readonly dirMode: number;
  readonly allowDelete: boolean;
  readonly readOnly?: boolean;
}

async function mountBucket(engine: MountEngine, bucket: MemoryBucket, shape: MountShape): Promise<{ mnt: string; handle: MountHandle }> {
  const mnt = makeMountpoint(`perm-${engine}`);
  const fs = createBucketFilesystem({
    client: bucket,
    uid: 0,
    gid: 0,
    fileMode: shape.fileMode,
    dirMode: shape.dirMode,
    metadataTtlMs: 1000,
    negativeMetadataTtlMs: 1000,
    allowDelete: shape.allowDelete,
    logger: silent,
  });
  const handle = await mountFilesystem(fs, mnt, { fsname: 'bucketfs#perm', allowOther: true, readOnly: shape.readOnly ?? false, metadataTtlMs: 1000, logger: silent, engine });
  return { mnt, handle };
}

for (const engine of MOUNT_ENGINES) {
  describe(`permissions enforced by the kernel (${engine})`, () => {
    let user: TestUser | undefined;
    const handles: MountHandle[] = [];
    const asUser = (command: string, ...args: string[]) => {
      if (user === undefined) throw new Error('no test user');
      return user.run(command, args);
    };

    beforeAll(() => {
      user = createTestUser();
    });

    afterAll(async () => {
      try {
        for (const handle of handles) await handle.unmount().catch(() => {});
        cleanupMounts();
      } finally {
        user?.remove();
      }
    });

    it('with file mode 0400 and folder mode 0700 owned by root, another user can neither list nor read', async () => {
      const bucket = new MemoryBucket();
      bucket.set('secret.txt', 'for root only\n');
      bucket.set('dir/inner.txt', 'inner\n');
      const { mnt, handle } = await mountBucket(engine, bucket, { fileMode: 0o400, dirMode: 0o700, allowDelete: true });
      handles.push(handle);

      const listing = await asUser('ls', mnt);
      expect(listing.code).not.toBe(0);
      expect(listing.stderr).toMatch(/Permission denied/);
      const read = await asUser('cat', join(mnt, 'secret.txt'));
      expect(read.code).not.toBe(0);
      expect(read.stderr).toMatch(/Permission denied/);
      expect(read.stdout).toBe('');
      const removal = await asUser('rm', '-f', join(mnt, 'secret.txt'));
      expect(removal.code).not.toBe(0);
      expect(bucket.has('secret.txt')).toBe(true);
      // The owner still reads.
      expect(await readFile(join(mnt, 'secret.txt'), 'utf8')).toBe('for root only\n');
    });

    it('with file mode 0444 another user reads, and a 0555 folder refuses rm even with allow-delete', async () => {
      const bucket = new MemoryBucket();
      bucket.set('public.txt', 'for everyone\n');
      bucket.set('dir/kept.txt', 'kept\n');
      const { mnt, handle } = await mountBucket(engine, bucket, { fileMode: 0o444, dirMode: 0o555, allowDelete: true });
      handles.push(handle);

      const read = await asUser('cat', join(mnt, 'public.txt'));
      expect(read).toMatchObject({ code: 0, stdout: 'for everyone\n' });
      const listing = await asUser('ls', join(mnt, 'dir'));
      expect(listing).toMatchObject({ code: 0, stdout: 'kept.txt\n' });
      const removal = await asUser('rm', '-f', join(mnt, 'dir', 'kept.txt'));
      expect(removal.code).not.toBe(0);
      expect(removal.stderr).toMatch(/Permission denied/);
      expect(bucket.has('dir/kept.txt')).toBe(true);
      // Root passes the kernel's check, so --allow-delete still works for it.
      await unlink(join(mnt, 'dir', 'kept.txt'));
      expect(bucket.has('dir/kept.txt')).toBe(false);
    });

    it('a read-only mount is `ro` in the mount table and refuses every write, delete included, with EROFS', async () => {
      const bucket = new MemoryBucket();
      bucket.set('kept.txt', 'kept\n');
      // allow-delete in the core shows that the kernel refuses before bucketfs is asked.
      const { mnt, handle } = await mountBucket(engine, bucket, { fileMode: 0o644, dirMode: 0o755, allowDelete: true, readOnly: true });
      handles.push(handle);

      const options = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((line) => line.split(' ')[4] === mnt)?.split(' ')[5] ?? '';
      expect(options.split(',')).toContain('ro');
      await expect(unlink(join(mnt, 'kept.txt'))).rejects.toMatchObject({ code: 'EROFS' });
      await expect(writeFile(join(mnt, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      expect(bucket.has('kept.txt')).toBe(true);
      expect(await readFile(join(mnt, 'kept.txt'), 'utf8')).toBe('kept\n');
    });
  });
}
