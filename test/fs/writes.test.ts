import { constants as fsConstants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { StagingArea } from '../../src/fs/staging-area.js';
import { RENAME_NOREPLACE } from '../../src/fs/types.js';
import { capturingLogger } from '../helpers/logging.js';
import { errnoOf, makeFilesystem, makeWritableFilesystem, readAll } from './fixture.js';

const { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL } = fsConstants;
const CREATE = O_WRONLY | O_CREAT | O_TRUNC;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function writable(...args: Parameters<typeof makeWritableFilesystem>) {
  const made = await makeWritableFilesystem(...args);
  cleanups.push(made.remove);
  return made;
}

const names = async (fs: { readdir(path: string): Promise<{ name: string }[]> }, path: string): Promise<string[]> => (await fs.readdir(path)).map((entry) => entry.name);

describe('new files', () => {
  it('uploads at flush: the object, its listing and its stat are there once close returns', async () => {
    const { bucket, fs, staging } = await writable();
    bucket.set('dir/old', 'x');
    expect(await names(fs, '/dir')).toEqual(['old']);
    expect(await errnoOf(fs.getattr('/dir/new'))).toBe(Errno.ENOENT);
    const { fh, attr } = await fs.create('/dir/new', 0o644, CREATE);
    expect(attr).toMatchObject({ kind: 'file', size: 0, mode: 0o100644 });
    expect(await fs.write(fh, Buffer.from('hello '), 0)).toBe(6);
    expect(await fs.write(fh, Buffer.from('world'), 6)).toBe(5);
    expect((await fs.getattr('/dir/new')).size).toBe(11);
    expect(bucket.has('dir/new')).toBe(false);
    await fs.flush(fh);
    expect(bucket.data('dir/new')?.toString()).toBe('hello world');
    await fs.release(fh);
    expect(await names(fs, '/dir')).toEqual(['new', 'old']);
    expect((await fs.getattr('/dir/new')).size).toBe(11);
    const reader = await fs.open('/dir/new', 0);
    expect((await readAll(fs, reader.fh)).toString()).toBe('hello world');
    expect(staging.stats()).toMatchObject({ stagedBytes: 0, openFiles: 0, keptFiles: [] });
    expect(fs.writeStats()).toEqual({ bytesWritten: 11, uploads: 1, uploadFailures: 0 });
  });

  it('takes random writes and reads them back before the upload', async () => {
    const { bucket, fs } = await writable();
    const { fh } = await fs.create('/f', 0o644, O_RDWR | O_CREAT);
    await fs.write(fh, Buffer.from('bbbb'), 4);
    await fs.write(fh, Buffer.from('aaaa'), 0);
    await fs.write(fh, Buffer.from('XX'), 3);
    expect((await readAll(fs, fh, 3)).toString()).toBe('aaaXXbbb');
    await fs.fsync(fh);
    expect(bucket.data('f')?.toString()).toBe('aaaXXbbb');
    await fs.write(fh, Buffer.from('c'), 8);
    await fs.release(fh);
    expect(bucket.data('f')?.toString()).toBe('aaaXXbbbc');
  });

  it('uploads an empty file (touch) and a file released without a flush', async () => {
    const { bucket, fs } = await writable();
    const empty = await fs.create('/empty', 0o644, CREATE);
    await fs.release(empty.fh);
    expect(bucket.data('empty')?.length).toBe(0);
    const unflushed = await fs.create('/unflushed', 0o644, CREATE);
    await fs.write(unflushed.fh, Buffer.from('late'), 0);
    await fs.release(unflushed.fh);
    expect(bucket.data('unflushed')?.toString()).toBe('late');
  });

  it('shows a file being written in its folder listing, and lets another open read what is written so far', async () => {
    const { fs } = await writable();
    const { fh } = await fs.create('/growing', 0o644, CREATE);
    await fs.write(fh, Buffer.from('part one'), 0);
    expect(await names(fs, '/')).toEqual(['growing']);
    const reader = await fs.open('/growing', 0);
    expect((await readAll(fs, reader.fh)).toString()).toBe('part one');
    await fs.release(reader.fh);
    await fs.release(fh);
  });

  it('is refused with EROFS without a staging area (read-only)', async () => {
    const { fs } = makeFilesystem();
    expect(await errnoOf(fs.create('/x', 0o644, CREATE))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.mkdir('/d', 0o755))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.rename('/a', '/b', 0))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.setattr('/a', { mode: 0o600 }))).toBe(Errno.EROFS);
    expect(await errnoOf(fs.open('/x', O_WRONLY))).toBe(Errno.EROFS);
  });

  it('refuses writes past the staging bound with ENOSPC', async () => {
    const { fs } = await writable({}, { maxStagingBytes: 10 });
    const { fh } = await fs.create('/big', 0o644, CREATE);
    expect(await fs.write(fh, Buffer.alloc(8), 0)).toBe(8);
    expect(await errnoOf(fs.write(fh, Buffer.alloc(8), 8))).toBe(Errno.ENOSPC);
    await fs.release(fh);
  });

  it('drops a new file unlinked while open without --allow-delete, uploading nothing', async () => {
    const { bucket, fs } = await writable();
    const { fh } = await fs.create('/tmp', 0o644, CREATE);
    await fs.write(fh, Buffer.from('x'), 0);
    await fs.unlink('/tmp');
    expect(await errnoOf(fs.getattr('/tmp'))).toBe(Errno.ENOENT);
    await fs.release(fh);
    expect(bucket.calls.putFrom).toBe(0);
  });
});

describe('existing objects', () => {
  it('refuses replacing without --allow-overwrite (EPERM), appending and partial writes (ENOTSUP)', async () => {
    const { bucket, fs } = await writable();
    bucket.set('old', 'keep');
    expect(await errnoOf(fs.open('/old', O_WRONLY | O_TRUNC))).toBe(Errno.EPERM);
    expect(await errnoOf(fs.create('/old', 0o644, CREATE))).toBe(Errno.EPERM);
    expect(await errnoOf(fs.open('/old', O_WRONLY | O_APPEND))).toBe(Errno.ENOTSUP);
    expect(await errnoOf(fs.open('/old', O_RDWR))).toBe(Errno.ENOTSUP);
    expect(await errnoOf(fs.create('/old', 0o644, O_WRONLY | O_CREAT | O_EXCL))).toBe(Errno.EEXIST);
    expect(await errnoOf(fs.setattr('/old', { size: 0 }))).toBe(Errno.EPERM);
    expect(bucket.data('old')?.toString()).toBe('keep');
  });

  it('replaces with --allow-overwrite and O_TRUNC; appending stays ENOTSUP', async () => {
    const { bucket, fs } = await writable({}, { allowOverwrite: true });
    bucket.set('old', 'previous content');
    await fs.getattr('/old');
    expect(await errnoOf(fs.open('/old', O_WRONLY | O_APPEND))).toBe(Errno.ENOTSUP);
    const { fh } = await fs.open('/old', O_WRONLY | O_TRUNC);
    expect((await fs.getattr('/old')).size).toBe(0);
    await fs.write(fh, Buffer.from('new'), 0);
    await fs.release(fh);
    expect(bucket.data('old')?.toString()).toBe('new');
    expect((await fs.getattr('/old')).size).toBe(3);
    await fs.setattr('/old', { size: 0 });
    expect(bucket.data('old')?.length).toBe(0);
    expect(await errnoOf(fs.setattr('/old', { size: 7 }))).toBe(Errno.ENOTSUP);
  });

  it('lets the last close win between two writers of one name', async () => {
    const { bucket, fs } = await writable({}, { allowOverwrite: true });
    const first = await fs.create('/same', 0o644, CREATE);
    const second = await fs.open('/same', O_WRONLY | O_TRUNC);
    await fs.write(first.fh, Buffer.from('first'), 0);
    await fs.write(second.fh, Buffer.from('second'), 0);
    await fs.release(second.fh);
    await fs.release(first.fh);
    expect(bucket.data('same')?.toString()).toBe('first');
  });
});

describe('failed uploads', () => {
  it('fail flush with EIO and keep the staging file, logged and reported; release does not retry', async () => {
    const { bucket, fs, log, staging } = await writable();
    bucket.failWith('putFrom', () => new Error('store down'));
    const { fh } = await fs.create('/lost', 0o644, CREATE);
    await fs.write(fh, Buffer.from('precious'), 0);
    expect(await errnoOf(fs.flush(fh))).toBe(Errno.EIO);
    await fs.release(fh);
    expect(bucket.calls.putFrom).toBe(1);
    const [kept] = staging.stats().keptFiles;
    expect(kept).toMatchObject({ key: 'lost', sizeBytes: 8 });
    expect(readFileSync(kept!.path, 'utf8')).toBe('precious');
    expect(log.records().some((line) => line.level === 50 && line.staging === kept!.path)).toBe(true);
    expect(fs.writeStats().uploadFailures).toBe(1);
  });

  it('are reported by the next staging area opened on the folder (a mount after kill -9)', async () => {
    const { fs, stagingDir } = await writable();
    const { fh } = await fs.create('/dir/unsaved', 0o644, CREATE);
    await fs.write(fh, Buffer.from('abc'), 0);
    // No release: the process died with the handle open.
    const log = capturingLogger();
    const next = await StagingArea.open({ dir: stagingDir, logger: log.logger });
    expect(next.stats().keptFiles).toEqual([expect.objectContaining({ key: 'dir/unsaved', sizeBytes: 3 })]);
    expect(next.stats().stagedBytes).toBe(3);
    expect(log.records().some((line) => line.level === 40 && JSON.stringify(line.files).includes('dir/unsaved'))).toBe(true);
    expect(readdirSync(stagingDir).some((name) => name.endsWith('.kept'))).toBe(true);
  });
});

describe('folders', () => {
  it('mkdir makes a folder that lives in the mount until a file lands in it', async () => {
    const { bucket, fs } = await writable();
    const attr = await fs.mkdir('/made', 0o755);
    expect(attr).toMatchObject({ kind: 'dir', mode: 0o40755 });
    expect((await fs.getattr('/made')).kind).toBe('dir');
    expect(await names(fs, '/')).toEqual(['made']);
    expect(await fs.readdir('/made')).toEqual([]);
    expect(await errnoOf(fs.mkdir('/made', 0o755))).toBe(Errno.EEXIST);
    await fs.mkdir('/made/inner', 0o755);
    const { fh } = await fs.create('/made/inner/file', 0o644, CREATE);
    await fs.release(fh);
    expect(bucket.has('made/inner/file')).toBe(true);
    expect(await names(fs, '/made')).toEqual(['inner']);
    expect(await names(fs, '/')).toEqual(['made']);
  });

  it('rmdir removes an empty folder, made here or in the store; ENOTEMPTY otherwise', async () => {
    const { bucket, fs } = await writable({ allowDelete: true });
    await fs.mkdir('/empty', 0o755);
    await fs.mkdir('/full', 0o755);
    await fs.mkdir('/full/sub', 0o755);
    expect(await errnoOf(fs.rmdir('/full'))).toBe(Errno.ENOTEMPTY);
    await fs.rmdir('/empty');
    expect(await errnoOf(fs.getattr('/empty'))).toBe(Errno.ENOENT);
    bucket.set('store/f', 'x');
    expect(await errnoOf(fs.rmdir('/store'))).toBe(Errno.ENOTEMPTY);
    expect(await errnoOf(fs.rmdir('/store/f'))).toBe(Errno.ENOTDIR);
    await fs.unlink('/store/f');
    await fs.rmdir('/store');
    bucket.set('marked/', '');
    await fs.rmdir('/marked');
    expect(bucket.has('marked/')).toBe(false);
  });
});

describe('rename', () => {
  it('renames an object in the store; an open reader keeps reading it', async () => {
    const { bucket, fs } = await writable();
    bucket.set('a/from', 'payload');
    const reader = await fs.open('/a/from', 0);
    const ino = (await fs.getattr('/a/from')).ino;
    await fs.rename('/a/from', '/b/to', 0);
    expect(bucket.has('a/from')).toBe(false);
    expect(bucket.data('b/to')?.toString()).toBe('payload');
    expect(await errnoOf(fs.getattr('/a/from'))).toBe(Errno.ENOENT);
    expect(await names(fs, '/')).toEqual(['b']);
    expect((await readAll(fs, reader.fh)).toString()).toBe('payload');
    expect((await fs.attrByIno(ino)).size).toBe(7);
  });

  it('moves the pending upload of a file being written', async () => {
    const { bucket, fs } = await writable();
    const { fh } = await fs.create('/.tmp-part', 0o644, CREATE);
    await fs.write(fh, Buffer.from('done'), 0);
    await fs.rename('/.tmp-part', '/final', 0);
    expect(bucket.calls.rename).toBe(0);
    expect((await fs.getattr('/final')).size).toBe(4);
    await fs.release(fh);
    expect(bucket.data('final')?.toString()).toBe('done');
    expect(bucket.has('.tmp-part')).toBe(false);
  });

  it('honours RENAME_NOREPLACE, needs --allow-overwrite to replace, and refuses folders with EXDEV', async () => {
    const { bucket, fs } = await writable();
    bucket.set('one', '1');
    bucket.set('two', '2');
    bucket.set('dir/x', 'x');
    expect(await errnoOf(fs.rename('/one', '/two', RENAME_NOREPLACE))).toBe(Errno.EEXIST);
    expect(await errnoOf(fs.rename('/one', '/two', 0))).toBe(Errno.EPERM);
    expect(await errnoOf(fs.rename('/dir', '/dir2', 0))).toBe(Errno.EXDEV);
    expect(await errnoOf(fs.rename('/none', '/other', 0))).toBe(Errno.ENOENT);
    expect(bucket.data('two')?.toString()).toBe('2');
  });
});

describe('attributes', () => {
  it('takes any mode and owner on what this mount made, only the shown values elsewhere', async () => {
    const { bucket, fs } = await writable();
    bucket.set('theirs', 'x');
    const shown = await fs.getattr('/theirs');
    expect(await errnoOf(fs.setattr('/theirs', { mode: 0o600 }))).toBe(Errno.EPERM);
    expect(await errnoOf(fs.setattr('/theirs', { uid: shown.uid + 1 }))).toBe(Errno.EPERM);
    expect((await fs.setattr('/theirs', { mode: shown.mode, uid: shown.uid, gid: 0xffff_ffff, mtimeMs: 5 })).size).toBe(1);
    const { fh } = await fs.create('/mine', 0o600, CREATE);
    await fs.setattr('/mine', { mode: 0o600, uid: 4242, gid: 4242 }, fh);
    await fs.release(fh);
    await fs.setattr('/mine', { mode: 0o640, mtimeMs: 1_000 });
    await fs.mkdir('/dir', 0o700);
    await fs.setattr('/dir', { mode: 0o700 });
  });

  it('truncates a file being written', async () => {
    const { bucket, fs } = await writable();
    const { fh } = await fs.create('/t', 0o644, CREATE);
    await fs.write(fh, Buffer.from('0123456789'), 0);
    expect((await fs.setattr('/t', { size: 4 }, fh)).size).toBe(4);
    await fs.release(fh);
    expect(bucket.data('t')?.toString()).toBe('0123');
  });

  it('refuses symlinks and hard links with ENOTSUP on a writable mount', async () => {
    const { fs } = await writable();
    expect(await errnoOf(fs.refuseWrite('symlink', '/s'))).toBe(Errno.ENOTSUP);
    expect(await errnoOf(fs.refuseWrite('link', '/l'))).toBe(Errno.ENOTSUP);
  });
});

describe('the staging area', () => {
  it('removes the staging file of an upload that landed', async () => {
    const { fs, stagingDir } = await writable();
    const { fh } = await fs.create('/x', 0o644, CREATE);
    await fs.write(fh, Buffer.from('x'), 0);
    expect(readdirSync(stagingDir).length).toBe(2);
    await fs.release(fh);
    expect(readdirSync(stagingDir)).toEqual([]);
    expect(existsSync(stagingDir)).toBe(true);
  });
});

describe('scanStagingFolder (bucketfs status)', () => {
  it('counts the bytes of open and kept staging files and names every kept one', async () => {
    const { fs, stagingDir, bucket } = await writable();
    const { scanStagingFolder } = await import('../../src/fs/staging-area.js');
    const open = await fs.create('/open', 0o644, CREATE);
    await fs.write(open.fh, Buffer.from('12345'), 0);
    const failing = await fs.create('/failing', 0o644, CREATE);
    await fs.write(failing.fh, Buffer.from('abc'), 0);
    bucket.failWith('putFrom', () => new Error('down'));
    await fs.release(failing.fh);
    const scan = await scanStagingFolder(stagingDir);
    expect(scan).toMatchObject({ stagedBytes: 8, openFiles: 1, keptFiles: [expect.objectContaining({ key: 'failing', sizeBytes: 3 })] });
    bucket.clearFailures();
    await fs.release(open.fh);
  });
});
