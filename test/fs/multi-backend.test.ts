import { describe, expect, it } from 'vitest';
import { createBucketFilesystem } from '../../src/fs/bucket-filesystem.js';
import { Errno } from '../../src/fs/errno.js';
import { createMultiBackendFilesystem } from '../../src/fs/multi-backend.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { capturingLogger, errnoOf, readAll } from './fixture.js';

function setup() {
  const { logger } = capturingLogger();
  const common = { uid: 1, gid: 2, metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, logger };
  const images = new MemoryBucket();
  const text = new MemoryBucket();
  images.set('cat.jpg', 'meow');
  images.set('nested/dog.jpg', 'woof');
  text.set('corpus/part-0', 'words');
  text.set('elsewhere', 'hidden by the prefix');
  const fs = createMultiBackendFilesystem({
    uid: 1,
    gid: 2,
    backends: [
      { dirName: 'images', filesystem: createBucketFilesystem({ ...common, client: images, allowDelete: true }) },
      { dirName: 'text', filesystem: createBucketFilesystem({ ...common, client: text, prefix: 'corpus/', allowDelete: false }) },
    ],
  });
  return { fs, images, text };
}

describe('multi-backend filesystem', () => {
  it('lists backends as top-level folders and routes paths to them', async () => {
    const { fs } = setup();
    expect(await fs.getattr('/')).toMatchObject({ ino: 1, kind: 'dir', uid: 1, gid: 2 });
    expect((await fs.readdir('/')).map((entry) => [entry.name, entry.attr.kind])).toEqual([['images', 'dir'], ['text', 'dir']]);
    expect((await fs.readdir('/images')).map((entry) => entry.name)).toEqual(['cat.jpg', 'nested']);
    expect((await fs.readdir('/text')).map((entry) => entry.name)).toEqual(['part-0']);
    expect(await fs.getattr('/images/nested/dog.jpg')).toMatchObject({ kind: 'file', size: 4 });
    expect(await errnoOf(fs.getattr('/music'))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.getattr('/text/elsewhere'))).toBe(Errno.ENOENT);
  });

  it('gives distinct inode numbers across backends and keeps them stable', async () => {
    const { fs } = setup();
    const a = await fs.getattr('/images/cat.jpg');
    const b = await fs.getattr('/text/part-0');
    const folders = await fs.readdir('/');
    const inos = [1, a.ino, b.ino, ...folders.map((entry) => entry.attr.ino)];
    expect(new Set(inos).size).toBe(inos.length);
    expect((await fs.getattr('/images/cat.jpg')).ino).toBe(a.ino);
    const listed = await fs.readdir('/images');
    expect(listed.find((entry) => entry.name === 'cat.jpg')?.attr.ino).toBe(a.ino);
  });

  it('reads through distinct handles of different backends', async () => {
    const { fs } = setup();
    const cat = await fs.open('/images/cat.jpg', 0);
    const words = await fs.open('/text/part-0', 0);
    expect(cat.fh).not.toBe(words.fh);
    expect((await readAll(fs, words.fh)).toString()).toBe('words');
    expect((await readAll(fs, cat.fh)).toString()).toBe('meow');
    await fs.release(cat.fh);
    await fs.release(words.fh);
    expect(await errnoOf(fs.read(cat.fh, Buffer.alloc(1), 1, 0))).toBe(Errno.EBADF);
  });

  it('applies each backend own rules for unlink and writes; the top level is fixed', async () => {
    const { fs, images, text } = setup();
    await fs.unlink('/images/cat.jpg');
    expect(images.has('cat.jpg')).toBe(false);
    expect(await errnoOf(fs.unlink('/text/part-0'))).toBe(Errno.EPERM);
    expect(text.has('corpus/part-0')).toBe(true);
    expect(await errnoOf(fs.unlink('/images'))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.refuseWrite('mkdir', '/images/new'))).toBe(Errno.EPERM);
    expect(await errnoOf(fs.refuseWrite('mkdir', '/text/new'))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.refuseWrite('rmdir', '/images'))).toBe(Errno.EROFS);
    expect((await fs.statfs('/')).nameMax).toBe(255);
  });

  it('serves the inode-based view across backends', async () => {
    const { fs } = setup();
    const images = await fs.lookupChild(1, 'images');
    const nested = await fs.lookupChild(images.ino, 'nested');
    const dog = await fs.lookupChild(nested.ino, 'dog.jpg');
    expect(await fs.attrByIno(dog.ino)).toEqual(dog);
    expect((await (await fs.openDirByIno(1)).read(0, 100)).map((entry) => entry.name)).toEqual(['images', 'text']);
  });

  it('rejects duplicate or illegal folder names', () => {
    const { logger } = capturingLogger();
    const one = createBucketFilesystem({ client: new MemoryBucket(), metadataTtlMs: 1, negativeMetadataTtlMs: 1, allowDelete: false, logger });
    expect(() => createMultiBackendFilesystem({ backends: [{ dirName: 'a', filesystem: one }, { dirName: 'a', filesystem: one }] })).toThrow(/share/);
    expect(() => createMultiBackendFilesystem({ backends: [{ dirName: 'a/b', filesystem: one }] })).toThrow(/legal/);
  });
});

describe('multi-backend writes', () => {
  it('routes creates and renames to one backend, keeps the number across a rename, and refuses one across buckets (EXDEV)', async () => {
    const { makeStaging } = await import('./fixture.js');
    const area = await makeStaging();
    try {
      const { logger } = capturingLogger();
      const common = { metadataTtlMs: 60_000, negativeMetadataTtlMs: 1_000, logger, allowDelete: false, writes: { staging: area.staging } };
      const one = new MemoryBucket();
      const two = new MemoryBucket();
      const fs = createMultiBackendFilesystem({
        backends: [
          { dirName: 'one', filesystem: createBucketFilesystem({ ...common, client: one }) },
          { dirName: 'two', filesystem: createBucketFilesystem({ ...common, client: two }) },
        ],
      });
      const { fh, attr } = await fs.create('/one/new', 0o644, 0o1101);
      await fs.write(fh, Buffer.from('data'), 0);
      await fs.release(fh);
      expect(one.data('new')?.toString()).toBe('data');
      await fs.rename('/one/new', '/one/moved', 0);
      expect((await fs.attrByIno(attr.ino)).size).toBe(4);
      expect(await errnoOf(fs.rename('/one/moved', '/two/moved', 0))).toBe(Errno.EXDEV);
      expect(await errnoOf(fs.mkdir('/three', 0o755))).toBe(Errno.EROFS);
      expect(two.has('moved')).toBe(false);
    } finally {
      area.remove();
    }
  });
});
