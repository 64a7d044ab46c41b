import { describe, expect, it } from 'vitest';
import { Errno, FsError } from '../../src/fs/errno.js';
import { ForbiddenError, NetworkError, ServerError, TimeoutError, UnauthorizedError } from '../../src/store/errors.js';
import { errnoOf, makeFilesystem } from './fixture.js';

describe('store errors as errno', () => {
  it.each([
    ['401 after the retry', () => new UnauthorizedError('token rejected', { status: 401 }), Errno.EACCES],
    ['403', () => new ForbiddenError('forbidden', { status: 403 }), Errno.EACCES],
    ['500', () => new ServerError('internal', { status: 500 }), Errno.EIO],
    ['503', () => new ServerError('unavailable', { status: 503 }), Errno.EIO],
    ['network', () => new NetworkError('connection refused'), Errno.EIO],
    ['timeout', () => new TimeoutError('timed out'), Errno.EIO],
    ['unknown', () => new Error('surprise'), Errno.EIO],
  ])('%s: getattr, readdir and read reject with the errno as FsError', async (_label, makeError, expected) => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/f', 'content');
    // Failing before the open: a small object's GET starts at open.
    bucket.failWith('get', makeError);
    const { fh } = await fs.open('/d/f', 0);
    bucket.failWith('head', makeError);
    bucket.failWith('listPage', makeError);
    expect(await errnoOf(fs.getattr('/other'))).toBe(expected);
    expect(await errnoOf(fs.readdir('/d'))).toBe(expected);
    expect(await errnoOf(fs.read(fh, Buffer.alloc(4), 4, 0))).toBe(expected);
    await fs.getattr('/other').catch((error: unknown) => expect(error).toBeInstanceOf(FsError));
    await fs.release(fh);
  });

  it('does not cache failures: the next lookup asks again and succeeds', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('f', 'x');
    bucket.failWith('head', () => new ServerError('down', { status: 503 }));
    expect(await errnoOf(fs.getattr('/f'))).toBe(Errno.EIO);
    bucket.clearFailures();
    expect((await fs.getattr('/f')).kind).toBe('file');
  });

  it('still finds a directory while HEAD fails (the listing decides)', async () => {
    const { bucket, fs } = makeFilesystem();
    bucket.set('d/f', 'x');
    bucket.failWith('head', () => new ServerError('down', { status: 500 }));
    expect((await fs.getattr('/d')).kind).toBe('dir');
  });
});
