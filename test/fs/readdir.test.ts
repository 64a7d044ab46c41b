import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { errnoOf, makeFilesystem } from './fixture.js';

describe('readdir', () => {
  it('lists direct children of the root and of folders, skipping the folder marker', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('top.txt', 'a');
    bucket.set('dir/', '');
    bucket.set('dir/one', '1');
    bucket.set('dir/two/three', '3');
    bucket.set('dir/sub/', '');
    const root = await fs.readdir('/');
    expect(root.map((entry) => [entry.name, entry.attr.kind])).toEqual([['dir', 'dir'], ['top.txt', 'file']]);
    const dir = await fs.readdir('/dir');
    expect(dir.map((entry) => [entry.name, entry.attr.kind])).toEqual([['one', 'file'], ['sub', 'dir'], ['two', 'dir']]);
    expect(bucket.listRequests.every((request) => request.recursive === false)).toBe(true);
  });

  it('gives entries the same attributes and inode numbers getattr gives', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/f', 'hello');
    const [entry] = await fs.readdir('/d');
    expect(entry?.attr).toEqual(await fs.getattr('/d/f'));
  });

  it('lets a directory win over a file of the same name', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('x', 'file');
    bucket.set('x/y', 'inside');
    const entries = await fs.readdir('/');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ name: 'x', attr: { kind: 'dir' } });
    expect(await fs.getattr('/x')).toMatchObject({ kind: 'dir' });
  });

  it('skips illegal names with one warning each', async () => {
    const { bucket, fs, log } = makeFilesystem();
    bucket.set('ok', '1');
    bucket.set('bad//double', '2');
    bucket.set(`${'n'.repeat(256)}`, '3');
    bucket.set('bad/./dot', '4');
    const names = async (path: string) => (await fs.readdir(path)).map((entry) => entry.name);
    expect(await names('/')).toEqual(['bad', 'ok']);
    expect(await names('/bad')).toEqual([]);
    expect(await names('/bad')).toEqual([]);
    expect(await names('/')).toEqual(['bad', 'ok']);
    const warnings = log.records().filter((line) => line.level === 40);
    expect(warnings.map((line) => line.object).sort()).toEqual(['bad//', 'bad/./', 'n'.repeat(256)].sort());
  });

  it('answers ENOTDIR for a file and ENOENT for nothing', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('f', 'x');
    expect(await errnoOf(fs.readdir('/f'))).toBe(Errno.ENOTDIR);
    expect(await errnoOf(fs.readdir('/none'))).toBe(Errno.ENOENT);
  });

  it('reads a kept listing again with the same names, attributes and numbers, by any slices, without a request', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/a.txt', 'one');
    bucket.set('d/sub/x', '2');
    bucket.set('d/ünï-€.bin', 'three3');
    bucket.set('d/z', '');
    const first = await fs.readdir('/d');
    expect(first.map((entry) => [entry.name, entry.attr.kind, entry.attr.size])).toEqual([
      ['a.txt', 'file', 3],
      ['sub', 'dir', 0],
      ['z', 'file', 0],
      ['ünï-€.bin', 'file', 6],
    ]);
    const requests = bucket.calls.listPage;
    expect(await fs.readdir('/d')).toEqual(first);
    const stream = await fs.openDir('/d');
    const sliced = [...(await stream.read(0, 3)), ...(await stream.read(3, 3)), ...(await stream.read(1, 2))];
    expect(await stream.read(4, 3)).toEqual([]);
    stream.close();
    expect(sliced).toEqual([...first, ...first.slice(1, 3)]);
    expect(bucket.calls.listPage).toBe(requests);
  });

  it('lists 20,000 entries in a few pages, after which getattr of every one makes no request', async () => {
    const { bucket, fs } = makeFilesystem();
    const count = 20_000;
    for (let i = 0; i < count; i += 1) bucket.set(`big/file-${String(i).padStart(6, '0')}`, `content ${i}`);
    bucket.set('big/sub/inner', 'x');
    await fs.getattr('/big');
    bucket.resetCalls();
    const entries = await fs.readdir('/big');
    expect(entries).toHaveLength(count + 1);
    expect(bucket.calls.head).toBe(0);
    expect(bucket.calls.listPage).toBe(3);
    bucket.resetCalls();
    for (const entry of entries) {
      const attr = await fs.getattr(`/big/${entry.name}`);
      expect(attr.ino).toBe(entry.attr.ino);
    }
    expect(bucket.totalCalls).toBe(0);
    expect((await fs.getattr('/big/file-000123')).size).toBe('content 123'.length);
  });

  it('coalesces concurrent listings of one directory', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/a', '1');
    await fs.getattr('/d');
    bucket.resetCalls();
    await Promise.all([fs.readdir('/d'), fs.readdir('/d'), fs.readdir('/d')]);
    expect(bucket.calls.listPage).toBe(1);
  });

  it('lists under a prefix', async () => {
    const { bucket, fs } = makeFilesystem({ prefix: 'train/' });
    bucket.set('train/a', '1');
    bucket.set('train/b/c', '2');
    bucket.set('trainee', '3');
    expect((await fs.readdir('/')).map((entry) => entry.name)).toEqual(['a', 'b']);
    expect((await fs.readdir('/b')).map((entry) => entry.name)).toEqual(['c']);
  });
});
