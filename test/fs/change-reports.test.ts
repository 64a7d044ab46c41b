import { describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { Errno } from '../../src/fs/errno.js';
import { createMultiBackendFilesystem } from '../../src/fs/multi-backend.js';
import type { FsChange } from '../../src/fs/types.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { capturingLogger, errnoOf } from './fixture.js';

/** The core's change reports (what an engine turns into kernel cache invalidation), with a 60 s metadata TTL. */
function bucketSetup() {
  const bucket = new MemoryBucket();
  bucket.set('d/a.txt', 'first');
  bucket.set('d/b.txt', 'soon gone');
  const fs = createBucketFilesystem({ client: bucket, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: capturingLogger().logger });
  const changes: FsChange[] = [];
  fs.setChangeListener((change) => changes.push(change));
  return { bucket, fs, changes };
}

describe('change reports of the core', () => {
  it('reports a file whose listing shows a new version as changed, with its inode and folder', async () => {
    const { bucket, fs, changes } = bucketSetup();
    const before = await fs.getattr('/d/a.txt');
    bucket.set('d/a.txt', 'second, longer');
    const listed = await fs.readdir('/d');
    expect(listed.find((entry) => entry.name === 'a.txt')?.attr.size).toBe('second, longer'.length);
    expect(changes).toEqual([{ kind: 'changed', path: '/d/a.txt', ino: before.ino, parentIno: (await fs.getattr('/d')).ino, name: 'a.txt' }]);
  });

  it('reports a name missing from a fresh listing as gone, and forgets it before its TTL', async () => {
    const { bucket, fs, changes } = bucketSetup();
    await fs.getattr('/d/b.txt');
    await bucket.delete('d/b.txt');
    await fs.readdir('/d');
    expect(changes.map((change) => [change.kind, change.path])).toEqual([['gone', '/d/b.txt']]);
    expect(await errnoOf(fs.getattr('/d/b.txt'))).toBe(Errno.ENOENT);
  });

  it('reports nothing once the listener is removed', async () => {
    const { bucket, fs, changes } = bucketSetup();
    await fs.getattr('/d/a.txt');
    fs.setChangeListener(undefined);
    bucket.set('d/a.txt', 'second, longer');
    await fs.readdir('/d');
    expect(changes).toEqual([]);
  });

  it('renames and renumbers the reports of each backend into the mount of several buckets', async () => {
    const images = new MemoryBucket();
    images.set('cat.jpg', 'meow');
    const common = { metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, allowDelete: false, logger: capturingLogger().logger };
    const fs = createMultiBackendFilesystem({ backends: [{ dirName: 'images', filesystem: createBucketFilesystem({ ...common, client: images }) }] });
    const changes: FsChange[] = [];
    fs.setChangeListener((change) => changes.push(change));
    const cat = await fs.getattr('/images/cat.jpg');
    images.set('cat.jpg', 'purr purr');
    await fs.readdir('/images');
    expect(changes).toEqual([{ kind: 'changed', path: '/images/cat.jpg', ino: cat.ino, parentIno: (await fs.getattr('/images')).ino, name: 'cat.jpg' }]);
  });
});
