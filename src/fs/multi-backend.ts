import { Errno, FsError, toFsError } from './errno.js';
import { DEFAULT_IDLE_INODES, InodeTable } from './inode-table.js';
import { InodeView } from './inode-view.js';
import { illegalNameReason } from './names.js';
import { normalizePath } from './paths.js';
import { DEFAULT_DIR_MODE, S_IFDIR, STATFS, refusedWriteErrno, type RefusedOp } from './semantics.js';
import type { AttrChanges, CachedRange, ChangeNotifying, CreateOptions, CreateResult, DirEntry, DirStream, FileAttr, FsChangeListener, InodeFilesystem, OpenOffer, OpenOptions, OpenResult, PathFilesystem, StatfsInfo } from './types.js';

export interface Backend {
  /** The top-level folder of the mount that shows this backend. */
  readonly dirName: string;
  readonly filesystem: PathFilesystem;
}

export interface MultiBackendOptions {
  readonly backends: readonly Backend[];
  readonly uid?: number;
  readonly gid?: number;
  readonly dirMode?: number;
  /** Whether any backend allows deleting: decides the root's own refusal errno (EPERM vs EROFS). */
  readonly allowDelete?: boolean;
  readonly now?: () => number;
  /** Inode numbers of this mount's tree kept that nobody holds; default 100,000. */
  readonly idleInodeMaxEntries?: number;
}

/**
 * Several filesystems as the top-level folders of one mount: `/dirName/rest` is `/rest` of that
 * backend. Inode and handle numbers of the backends overlap, so this layer numbers paths itself
 * and maps its handle numbers to `(backend, handle)`.
 */
export function createMultiBackendFilesystem(options: MultiBackendOptions): PathFilesystem & InodeFilesystem & ChangeNotifying {
  return new MultiBackendFilesystem(options);
}

type Route = { readonly backend: Backend; readonly innerPath: string } | { readonly backend: undefined };

class MultiBackendFilesystem implements PathFilesystem, InodeFilesystem, ChangeNotifying {
  private readonly byName = new Map<string, Backend>();
  private readonly inodes: InodeTable;
  private readonly view: InodeView;
  private readonly handles = new Map<number, { backend: Backend; innerFh: number }>();
  private nextFh = 1;
  private readonly rootAttr: FileAttr;

  constructor(private readonly options: MultiBackendOptions) {
    this.inodes = new InodeTable(options.idleInodeMaxEntries ?? DEFAULT_IDLE_INODES);
    for (const backend of options.backends) {
      const reason = illegalNameReason(backend.dirName);
      if (reason !== undefined) throw new Error(`backend folder name ${JSON.stringify(backend.dirName)} is not a legal file name (${reason})`);
      if (this.byName.has(backend.dirName)) throw new Error(`two backends share the folder name ${JSON.stringify(backend.dirName)}`);
      this.byName.set(backend.dirName, backend);
    }
    this.view = new InodeView(this, this.inodes);
    this.rootAttr = {
      ino: 1,
      kind: 'dir',
      size: 0,
      mtimeMs: (options.now ?? Date.now)(),
      mode: S_IFDIR | ((options.dirMode ?? DEFAULT_DIR_MODE) & 0o7777),
      uid: options.uid ?? process.getuid?.() ?? 0,
      gid: options.gid ?? process.getgid?.() ?? 0,
      nlink: 2,
    };
  }

  async getattr(path: string): Promise<FileAttr> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined) return this.rootAttr;
    return this.renumber(normalized, await route.backend.filesystem.getattr(route.innerPath));
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined) return this.backendFolders();
    const entries = await route.backend.filesystem.readdir(route.innerPath);
    return entries.map((entry) => this.outerEntry(normalized, entry));
  }

  async openDir(path: string): Promise<DirStream> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined) {
      const folders = await this.backendFolders();
      return { kernelMayKeep: false, read: async (position, max) => folders.slice(position, position + max), close: () => {} };
    }
    const inner = await route.backend.filesystem.openDir(route.innerPath);
    return {
      kernelMayKeep: inner.kernelMayKeep,
      read: async (position, max) => (await inner.read(position, max)).map((entry) => this.outerEntry(normalized, entry)),
      close: () => inner.close(),
    };
  }

  private backendFolders(): Promise<DirEntry[]> {
    return Promise.all(
      [...this.byName.values()].map(async (backend) => {
        const attr = await backend.filesystem.getattr('/');
        return { name: backend.dirName, attr: this.renumber(`/${backend.dirName}`, attr) };
      }),
    );
  }

  private outerEntry(outerDir: string, entry: DirEntry): DirEntry {
    return { name: entry.name, attr: this.renumber(`${outerDir === '/' ? '' : outerDir}/${entry.name}`, entry.attr) };
  }

  async open(path: string, flags: number, options?: OpenOptions): Promise<OpenResult> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined) throw new FsError(Errno.EISDIR, 'is a directory: /');
    const inner = await route.backend.filesystem.open(route.innerPath, flags, options);
    return { ...inner, fh: this.addHandle(route.backend, inner.fh) };
  }

  async create(path: string, mode: number, flags: number, options?: CreateOptions): Promise<CreateResult> {
    const { backend, innerPath } = this.routeInside(normalizePath(path), 'create');
    const inner = await backend.filesystem.create(innerPath, mode, flags, options);
    return { ...inner, fh: this.addHandle(backend, inner.fh), attr: this.renumber(normalizePath(path), inner.attr) };
  }

  async write(fh: number, data: Buffer, position: number): Promise<number> {
    const handle = this.handle(fh);
    return handle.backend.filesystem.write(handle.innerFh, data, position);
  }

  async flush(fh: number): Promise<void> {
    const handle = this.handle(fh);
    return handle.backend.filesystem.flush(handle.innerFh);
  }

  async fsync(fh: number): Promise<void> {
    const handle = this.handle(fh);
    return handle.backend.filesystem.fsync(handle.innerFh);
  }

  async mkdir(path: string, mode: number): Promise<FileAttr> {
    const normalized = normalizePath(path);
    const { backend, innerPath } = this.routeInside(normalized, 'mkdir');
    return this.renumber(normalized, await backend.filesystem.mkdir(innerPath, mode));
  }

  async rmdir(path: string): Promise<void> {
    const { backend, innerPath } = this.routeInside(normalizePath(path), 'rmdir');
    return backend.filesystem.rmdir(innerPath);
  }

  /** Within one backend only: two buckets share no rename, so across them it is EXDEV (`mv` then copies). */
  async rename(from: string, to: string, flags: number): Promise<void> {
    const source = this.routeInside(normalizePath(from), 'rename');
    const target = this.routeInside(normalizePath(to), 'rename');
    if (source.backend !== target.backend) throw new FsError(Errno.EXDEV, `rename ${from} → ${to}: not within one bucket`);
    await source.backend.filesystem.rename(source.innerPath, target.innerPath, flags);
    // The kernel keeps the file's number across the rename: so does this mount's numbering.
    this.inodes.rename(normalizePath(from), normalizePath(to));
  }

  async setattr(path: string, changes: AttrChanges, fh?: number): Promise<FileAttr> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined) throw new FsError(refusedWriteErrno(this.options.allowDelete ?? false), `setattr /: the mount's top-level folders are fixed`);
    const inner = fh === undefined ? undefined : this.handle(fh);
    if (inner !== undefined && inner.backend !== route.backend) throw new FsError(Errno.EBADF, `handle ${fh} is not of ${normalized}`);
    return this.renumber(normalized, await route.backend.filesystem.setattr(route.innerPath, changes, inner?.innerFh));
  }

  private addHandle(backend: Backend, innerFh: number): number {
    const fh = this.nextFh;
    this.nextFh += 1;
    this.handles.set(fh, { backend, innerFh });
    return fh;
  }

  async read(fh: number, target: Buffer, length: number, position: number): Promise<number> {
    const handle = this.handle(fh);
    return handle.backend.filesystem.read(handle.innerFh, target, length, position);
  }

  cachedRange(fh: number, position: number, length: number): CachedRange | undefined {
    const handle = this.handles.get(fh);
    return handle === undefined ? undefined : handle.backend.filesystem.cachedRange?.(handle.innerFh, position, length);
  }

  engineServed(fh: number, bytes: number): void {
    const handle = this.handles.get(fh);
    handle?.backend.filesystem.engineServed?.(handle.innerFh, bytes);
  }

  engineLacksBlock(fh: number): void {
    const handle = this.handles.get(fh);
    handle?.backend.filesystem.engineLacksBlock?.(handle.innerFh);
  }

  engineWrote(fh: number, position: number, bytes: number, errno: number): void {
    const handle = this.handles.get(fh);
    handle?.backend.filesystem.engineWrote?.(handle.innerFh, position, bytes, errno);
  }

  engineWritableEnd(fh: number): number | undefined {
    const handle = this.handles.get(fh);
    return handle === undefined ? undefined : handle.backend.filesystem.engineWritableEnd?.(handle.innerFh);
  }

  openOffer(path: string): OpenOffer | undefined {
    const route = this.quietRoute(path);
    return route?.backend.filesystem.openOffer?.(route.innerPath);
  }

  engineServedOffer(path: string, bytes: number): void {
    const route = this.quietRoute(path);
    route?.backend.filesystem.engineServedOffer?.(route.innerPath, bytes);
  }

  openOfferByIno(ino: number): OpenOffer | undefined {
    const path = this.inodes.pathForIno(ino);
    return path === undefined ? undefined : this.openOffer(path);
  }

  engineServedOfferByIno(ino: number, bytes: number): void {
    const path = this.inodes.pathForIno(ino);
    if (path !== undefined) this.engineServedOffer(path, bytes);
  }

  /** The backend of a file's path, or undefined (the root's own folder, a name of no backend): for calls that must not throw. */
  private quietRoute(path: string): { backend: Backend; innerPath: string } | undefined {
    const normalized = normalizePath(path);
    if (!this.byName.has(normalized.slice(1).split('/')[0] ?? '')) return undefined;
    const route = this.route(normalized);
    return route.backend === undefined ? undefined : route;
  }

  async release(fh: number): Promise<void> {
    const handle = this.handles.get(fh);
    if (handle === undefined) return;
    this.handles.delete(fh);
    await handle.backend.filesystem.release(handle.innerFh);
  }

  async unlink(path: string): Promise<void> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined || route.innerPath === '/') {
      throw new FsError(Errno.EISDIR, `unlink ${normalized}: is a directory`);
    }
    return route.backend.filesystem.unlink(route.innerPath);
  }

  async statfs(path: string): Promise<StatfsInfo> {
    const route = this.route(normalizePath(path));
    return route.backend === undefined ? STATFS : route.backend.filesystem.statfs(route.innerPath);
  }

  /** Each backend's changes, renamed and renumbered into this mount's tree. */
  setChangeListener(listener: FsChangeListener | undefined): void {
    for (const backend of this.byName.values()) {
      const inner = backend.filesystem as Partial<ChangeNotifying>;
      if (inner.setChangeListener === undefined) continue;
      inner.setChangeListener(
        listener === undefined
          ? undefined
          : (change) => {
              const path = `/${backend.dirName}${change.path === '/' ? '' : change.path}`;
              const parent = path.slice(0, path.lastIndexOf('/')) || '/';
              const ino = this.inodes.knownIno(path);
              const parentIno = this.inodes.knownIno(parent);
              // A path this mount has no number for is held by no kernel cache.
              if (ino !== undefined && parentIno !== undefined) listener({ ...change, path, ino, parentIno });
            },
      );
    }
  }

  async refuseWrite(op: RefusedOp, path: string): Promise<never> {
    const normalized = normalizePath(path);
    const route = this.route(normalized);
    if (route.backend === undefined || route.innerPath === '/') {
      // The root and the backend folders are fixed by the configuration.
      throw new FsError(refusedWriteErrno(this.options.allowDelete ?? false), `${op} ${normalized}: the mount's top-level folders are fixed`);
    }
    return route.backend.filesystem.refuseWrite(op, route.innerPath);
  }

  async close(): Promise<void> {
    this.handles.clear();
    const results = await Promise.allSettled([...this.byName.values()].map((backend) => backend.filesystem.close()));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw toFsError(failed.reason);
  }

  lookupChild(parentIno: number, name: string): Promise<FileAttr> {
    return this.view.lookupChild(parentIno, name);
  }

  /** This mount's numbers, and what the backends cache. */
  metadataStats(): { inodes: number; heldInodes: number; metadataEntries: number; listedEntries: number } {
    let metadataEntries = 0;
    let listedEntries = 0;
    for (const backend of this.byName.values()) {
      const inner = (backend.filesystem as { metadataStats?: () => { metadataEntries: number; listedEntries: number } }).metadataStats?.();
      metadataEntries += inner?.metadataEntries ?? 0;
      listedEntries += inner?.listedEntries ?? 0;
    }
    return { inodes: this.inodes.size, heldInodes: this.inodes.heldCount, metadataEntries, listedEntries };
  }

  attrByIno(ino: number): Promise<FileAttr> {
    return this.view.attrByIno(ino);
  }

  forget(ino: number, count: number): void {
    this.view.forget(ino, count);
  }

  holdIno(ino: number): void {
    this.view.holdIno(ino);
  }

  settleIno(ino: number, lookupsHandedOut: number): void {
    this.view.settleIno(ino, lookupsHandedOut);
  }

  openDirByIno(ino: number): Promise<DirStream> {
    return this.view.openDirByIno(ino);
  }

  openByIno(ino: number, flags: number, options?: OpenOptions): Promise<OpenResult> {
    return this.view.openByIno(ino, flags, options);
  }

  unlinkChild(parentIno: number, name: string): Promise<void> {
    return this.view.unlinkChild(parentIno, name);
  }

  createChild(parentIno: number, name: string, mode: number, flags: number, options?: CreateOptions): Promise<CreateResult> {
    return this.view.createChild(parentIno, name, mode, flags, options);
  }

  mkdirChild(parentIno: number, name: string, mode: number): Promise<FileAttr> {
    return this.view.mkdirChild(parentIno, name, mode);
  }

  rmdirChild(parentIno: number, name: string): Promise<void> {
    return this.view.rmdirChild(parentIno, name);
  }

  renameChild(parentIno: number, name: string, newParentIno: number, newName: string, flags: number): Promise<void> {
    return this.view.renameChild(parentIno, name, newParentIno, newName, flags);
  }

  setattrByIno(ino: number, changes: AttrChanges, fh?: number): Promise<FileAttr> {
    return this.view.setattrByIno(ino, changes, fh);
  }

  /** `/` is the root itself; `/name/rest` goes to backend `name` as `/rest`; anything else is ENOENT. */
  private route(normalized: string): Route {
    if (normalized === '/') return { backend: undefined };
    const cut = normalized.indexOf('/', 1);
    const dirName = cut < 0 ? normalized.slice(1) : normalized.slice(1, cut);
    const backend = this.byName.get(dirName);
    if (backend === undefined) throw new FsError(Errno.ENOENT, `no such file or directory: ${normalized}`);
    return { backend, innerPath: cut < 0 ? '/' : normalized.slice(cut) };
  }

  /** The route of a path inside a backend folder; the root and the backend folders themselves are fixed. */
  private routeInside(normalized: string, op: string): { backend: Backend; innerPath: string } {
    // A name at the top level is a backend folder, or would be one: fixed by the configuration.
    if (normalized.lastIndexOf('/') === 0) {
      throw new FsError(refusedWriteErrno(this.options.allowDelete ?? false), `${op} ${normalized}: the mount's top-level folders are fixed`);
    }
    const route = this.route(normalized);
    if (route.backend === undefined) throw new FsError(Errno.ENOENT, `no such file or directory: ${normalized}`);
    return route;
  }

  private renumber(outerPath: string, attr: FileAttr): FileAttr {
    return { ...attr, ino: this.inodes.inoForPath(outerPath) };
  }

  private handle(fh: number): { backend: Backend; innerFh: number } {
    const handle = this.handles.get(fh);
    if (handle === undefined) throw new FsError(Errno.EBADF, `no open file with handle ${fh}`);
    return handle;
  }
}
