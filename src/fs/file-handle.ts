import { LRUCache } from 'lru-cache';
import { Errno, FsError } from './errno.js';
import { identifiesContent, objectIdentity, type ObjectSighting } from './object-identity.js';
import type { ObjectReader, ObjectSnapshot } from './read-path.js';

export interface FileHandle {
  readonly fh: number;
  readonly ino: number;
  readonly path: string;
  /** What it reads; a rename through this mount points it at the new key. */
  snapshot: ObjectSnapshot;
  reader: ObjectReader;
  /**
   * The whole object at the opened version, fetched when the object was unlinked through this
   * mount while the handle was open: the data stays readable until release.
   */
  pinned: Buffer | undefined;
  /** Opened with the kernel keeping the pages it has: it may never ask, so nothing is fetched ahead of it. */
  kernelKeepsPages: boolean;
}

const OPENED_VERSIONS_MAX = 100_000;

/**
 * Open files by handle number. Numbers start at 1 and are not reused while the mount lives;
 * it also remembers the version each inode was last opened at (for `keepCache`).
 */
export class HandleTable {
  private readonly handles = new Map<number, FileHandle>();
  /** Bounded: the kernel keeps pages only of inodes it still holds, and a forgotten number never returns. */
  private readonly lastOpenedVersion = new LRUCache<number, string>({ max: OPENED_VERSIONS_MAX });
  private nextFh = 1;

  add(ino: number, path: string, snapshot: ObjectSnapshot, reader: ObjectReader): FileHandle {
    const handle: FileHandle = { fh: this.takeNumber(), ino, path, snapshot, reader, pinned: undefined, kernelKeepsPages: false };
    this.handles.set(handle.fh, handle);
    return handle;
  }

  /** A handle number of its own for an open file kept elsewhere (a write handle). */
  takeNumber(): number {
    const fh = this.nextFh;
    this.nextFh += 1;
    return fh;
  }

  get(fh: number): FileHandle {
    const handle = this.handles.get(fh);
    if (handle === undefined) throw new FsError(Errno.EBADF, `no open file with handle ${fh}`);
    return handle;
  }

  /** The handle, if open (no error: for callers that must not throw). */
  find(fh: number): FileHandle | undefined {
    return this.handles.get(fh);
  }

  remove(fh: number): FileHandle | undefined {
    const handle = this.handles.get(fh);
    this.handles.delete(fh);
    return handle;
  }

  openHandlesOf(ino: number): FileHandle[] {
    return [...this.handles.values()].filter((handle) => handle.ino === ino);
  }

  all(): FileHandle[] {
    return [...this.handles.values()];
  }

  /**
   * Records what `ino` was opened at and says whether it is the object of the previous open: only
   * then may the kernel keep the pages it cached. Without a version nothing names the content, so
   * it never matches.
   */
  noteOpenedVersion(ino: number, object: ObjectSighting): boolean {
    if (!identifiesContent(object)) {
      this.lastOpenedVersion.delete(ino);
      return false;
    }
    const identity = objectIdentity(object);
    const unchanged = this.lastOpenedVersion.get(ino) === identity;
    this.lastOpenedVersion.set(ino, identity);
    return unchanged;
  }

  /**
   * Whether an open of `ino` at `object` would find the previous open's version (`noteOpenedVersion` without
   * recording). When not, the previous one is forgotten: an open made elsewhere (an engine's) may follow, and a
   * later open of that previous version must not take the kernel's pages for its own.
   */
  openedVersionIs(ino: number, object: ObjectSighting): boolean {
    const last = this.lastOpenedVersion.get(ino);
    if (last === undefined) return false;
    if (identifiesContent(object) && last === objectIdentity(object)) return true;
    this.lastOpenedVersion.delete(ino);
    return false;
  }

  forgetVersion(ino: number): void {
    this.lastOpenedVersion.delete(ino);
  }
}
