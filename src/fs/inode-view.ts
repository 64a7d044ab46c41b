import { Errno, FsError } from './errno.js';
import type { InodeTable } from './inode-table.js';
import type { AttrChanges, CreateOptions, CreateResult, DirStream, FileAttr, InodeFilesystem, OpenOptions, OpenResult, PathFilesystem } from './types.js';

/**
 * Any path-based filesystem seen by inode number, through the table that numbered its paths.
 * The table must be the one the filesystem uses for `FileAttr.ino`.
 */
export class InodeView implements InodeFilesystem {
  constructor(
    private readonly filesystem: PathFilesystem,
    private readonly inodes: InodeTable,
  ) {}

  async lookupChild(parentIno: number, name: string): Promise<FileAttr> {
    const attr = await this.filesystem.getattr(this.childPath(parentIno, name));
    this.inodes.addLookup(attr.ino);
    return attr;
  }

  forget(ino: number, count: number): void {
    this.inodes.forget(ino, count);
  }

  holdIno(ino: number): void {
    this.inodes.hold(ino);
  }

  settleIno(ino: number, lookupsHandedOut: number): void {
    this.inodes.releaseCounting(ino, lookupsHandedOut);
  }

  async openDirByIno(ino: number): Promise<DirStream> {
    return this.filesystem.openDir(this.path(ino));
  }

  async attrByIno(ino: number): Promise<FileAttr> {
    return this.filesystem.getattr(this.path(ino));
  }

  async openByIno(ino: number, flags: number, options?: OpenOptions): Promise<OpenResult> {
    return this.filesystem.open(this.path(ino), flags, options);
  }

  async unlinkChild(parentIno: number, name: string): Promise<void> {
    return this.filesystem.unlink(this.childPath(parentIno, name));
  }

  async createChild(parentIno: number, name: string, mode: number, flags: number, options?: CreateOptions): Promise<CreateResult> {
    const created = await this.filesystem.create(this.childPath(parentIno, name), mode, flags, options);
    this.inodes.addLookup(created.attr.ino);
    return created;
  }

  async mkdirChild(parentIno: number, name: string, mode: number): Promise<FileAttr> {
    const attr = await this.filesystem.mkdir(this.childPath(parentIno, name), mode);
    this.inodes.addLookup(attr.ino);
    return attr;
  }

  async rmdirChild(parentIno: number, name: string): Promise<void> {
    return this.filesystem.rmdir(this.childPath(parentIno, name));
  }

  async renameChild(parentIno: number, name: string, newParentIno: number, newName: string, flags: number): Promise<void> {
    return this.filesystem.rename(this.childPath(parentIno, name), this.childPath(newParentIno, newName), flags);
  }

  async setattrByIno(ino: number, changes: AttrChanges, fh?: number): Promise<FileAttr> {
    return this.filesystem.setattr(this.path(ino), changes, fh);
  }

  private path(ino: number): string {
    const path = this.inodes.pathForIno(ino);
    if (path === undefined) throw new FsError(Errno.ENOENT, `unknown inode ${ino}`);
    return path;
  }

  private childPath(parentIno: number, name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw new FsError(Errno.EINVAL, `not a child name: ${JSON.stringify(name)}`);
    }
    const path = this.inodes.childPath(parentIno, name);
    if (path === undefined) throw new FsError(Errno.ENOENT, `unknown inode ${parentIno}`);
    return path;
  }
}
