import type { InodeFilesystem, PathFilesystem } from '../../src/fs/types.js';

type PathWriteOps = Pick<PathFilesystem, 'create' | 'write' | 'flush' | 'fsync' | 'mkdir' | 'rmdir' | 'rename' | 'setattr'>;
type InodeWriteOps = Pick<InodeFilesystem, 'createChild' | 'mkdirChild' | 'rmdirChild' | 'renameChild' | 'setattrByIno'>;

/** The write operations of a fake filesystem, each failing as `fail` does. */
export function failingWriteOps(fail: () => Promise<never>): PathWriteOps {
  return { create: fail, write: fail, flush: fail, fsync: fail, mkdir: fail, rmdir: fail, rename: fail, setattr: fail };
}

/** The write operations of `inner`, passed through (for a wrapper that watches only some calls). */
export function forwardedWriteOps(inner: PathWriteOps & InodeWriteOps): PathWriteOps & InodeWriteOps {
  return {
    create: (path, mode, flags) => inner.create(path, mode, flags),
    write: (fh, data, position) => inner.write(fh, data, position),
    flush: (fh) => inner.flush(fh),
    fsync: (fh) => inner.fsync(fh),
    mkdir: (path, mode) => inner.mkdir(path, mode),
    rmdir: (path) => inner.rmdir(path),
    rename: (from, to, flags) => inner.rename(from, to, flags),
    setattr: (path, changes, fh) => inner.setattr(path, changes, fh),
    createChild: (parentIno, name, mode, flags) => inner.createChild(parentIno, name, mode, flags),
    mkdirChild: (parentIno, name, mode) => inner.mkdirChild(parentIno, name, mode),
    rmdirChild: (parentIno, name) => inner.rmdirChild(parentIno, name),
    renameChild: (parentIno, name, newParentIno, newName, flags) => inner.renameChild(parentIno, name, newParentIno, newName, flags),
    setattrByIno: (ino, changes, fh) => inner.setattrByIno(ino, changes, fh),
  };
}
