import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { errnoOf, makeFilesystem } from './fixture.js';

describe('getattr', () => {
  it('answers the root as a directory without a request', async () => {
    const { bucket, fs } = makeFilesystem();
    const attr = await fs.getattr('/');
    expect(attr).toMatchObject({ ino: 1, kind: 'dir', mode: 0o040555, uid: 1234, gid: 5678, nlink: 2 });
    expect(bucket.totalCalls).toBe(0);
  });

  it('shows a file with its exact size, mtime, mode and owner; HEAD and listing start together', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('data/file.bin', Buffer.alloc(1234), 1_700_000_123_000);
    const attr = await fs.getattr('/data/file.bin');
    expect(attr).toMatchObject({ kind: 'file', size: 1234, mtimeMs: 1_700_000_123_000, mode: 0o100444, uid: 1234, gid: 5678, nlink: 1 });
    expect(bucket.calls.head).toBe(1);
    expect(bucket.calls.listPage).toBe(1);
    expect(bucket.listRequests[0]).toMatchObject({ prefix: 'data/file.bin/', recursive: false, pageSize: 1 });
  });

  it('starts the listing without waiting for the HEAD', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/x', '1');
    const releaseHead = bucket.pause('head');
    const pending = fs.getattr('/d');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(bucket.calls.head).toBe(1);
    expect(bucket.calls.listPage).toBe(1);
    releaseHead();
    expect((await pending).kind).toBe('dir');
  });

  it('shows implied and marker directories', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('implied/deep/x', 'x');
    bucket.set('marker/', '');
    expect(await fs.getattr('/implied')).toMatchObject({ kind: 'dir', mode: 0o040555 });
    expect(await fs.getattr('/implied/deep')).toMatchObject({ kind: 'dir' });
    expect(await fs.getattr('/marker')).toMatchObject({ kind: 'dir' });
  });

  it('lets the directory win when a file has the same name', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('clash', 'file');
    bucket.set('clash/inside', 'x');
    expect(await fs.getattr('/clash')).toMatchObject({ kind: 'dir' });
  });

  it('caches a hit for the metadata TTL, then asks again', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 1_000 });
    bucket.set('f', 'abc');
    await fs.getattr('/f');
    bucket.resetCalls();
    await fs.getattr('/f');
    clock.advance(999);
    await fs.getattr('/f');
    expect(bucket.totalCalls).toBe(0);
    clock.advance(1);
    bucket.set('f', 'abcdef');
    expect((await fs.getattr('/f')).size).toBe(6);
    expect(bucket.calls.head).toBe(1);
  });

  it('answers ENOENT, caches the miss for the negative TTL, then sees a new object', async () => {
    const { bucket, clock, fs } = makeFilesystem({ negativeMetadataTtlMs: 5_000 });
    expect(await errnoOf(fs.getattr('/missing'))).toBe(Errno.ENOENT);
    expect(bucket.totalCalls).toBe(2);
    bucket.set('missing', 'now here');
    bucket.resetCalls();
    expect(await errnoOf(fs.getattr('/missing'))).toBe(Errno.ENOENT);
    expect(bucket.totalCalls).toBe(0);
    clock.advance(5_000);
    expect(await fs.getattr('/missing')).toMatchObject({ kind: 'file', size: 8 });
  });

  it('coalesces concurrent lookups of one path into one HEAD and one listing', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('busy', 'x');
    const attrs = await Promise.all(Array.from({ length: 16 }, () => fs.getattr('/busy')));
    expect(new Set(attrs.map((attr) => attr.ino)).size).toBe(1);
    expect(bucket.calls.head).toBe(1);
    expect(bucket.calls.listPage).toBe(1);
  });

  it('keeps inode numbers stable per path, across cache expiry', async () => {
    const { bucket, clock, fs } = makeFilesystem({ metadataTtlMs: 10 });
    bucket.set('a', '1');
    bucket.set('b', '2');
    const a1 = await fs.getattr('/a');
    const b1 = await fs.getattr('/b');
    clock.advance(100);
    expect((await fs.getattr('/a')).ino).toBe(a1.ino);
    expect((await fs.getattr('/b/')).ino).toBe(b1.ino);
    expect(a1.ino).not.toBe(b1.ino);
    expect(a1.ino).not.toBe(1);
  });

  it('maps files under a prefix, and applies configured modes', async () => {
    const { bucket, fs } = makeFilesystem({ prefix: 'train', fileMode: 0o640, dirMode: 0o750 });
    bucket.set('train/shard-0', 'x');
    bucket.set('other', 'y');
    expect(await fs.getattr('/shard-0')).toMatchObject({ kind: 'file', mode: 0o100640 });
    expect(await fs.getattr('/')).toMatchObject({ mode: 0o040750 });
    expect(await errnoOf(fs.getattr('/other'))).toBe(Errno.ENOENT);
  });

  it('shows the mount time when the store sent no mtime', async () => {
    const { bucket, clock, fs } = makeFilesystem();
    bucket.set('nomtime', 'x', 0);
    expect((await fs.getattr('/nomtime')).mtimeMs).toBe(clock.now());
  });

  it('serves the inode-based view: lookupChild and attrByIno', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('dir/file', 'hello');
    const dir = await fs.lookupChild(1, 'dir');
    const file = await fs.lookupChild(dir.ino, 'file');
    expect(file).toMatchObject({ kind: 'file', size: 5 });
    expect(await fs.attrByIno(file.ino)).toEqual(file);
    expect((await (await fs.openDirByIno(dir.ino)).read(0, 100)).map((entry) => entry.name)).toEqual(['file']);
    expect(await errnoOf(fs.attrByIno(999_999))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.lookupChild(dir.ino, 'nope'))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.lookupChild(dir.ino, '..'))).toBe(Errno.EINVAL);
  });
});
