import type { InodeTable } from './inode-table.js';
import type { FileNodeInfo } from './node-info.js';
import { parentPath } from './paths.js';
import type { FsChange, FsChangeListener } from './types.js';

/**
 * Tells an engine that the kernel's copy of a path went stale: a file seen with a new identity
 * ('changed'), or a name a complete listing or a lookup no longer finds ('gone'). What each path
 * looked like lives on its inode record, so it is bounded by the inode table and dies with the
 * number: a path without a number is held by no kernel cache. Reports nothing until a listener is set.
 */
export class ChangeTracker {
  private listener: FsChangeListener | undefined;

  constructor(
    private readonly inodes: InodeTable,
    /** Told of every file seen changed (with what it is now) or gone, whether or not a listener is set. */
    private readonly onObjectChange?: (path: string, now: FileNodeInfo | undefined) => void,
  ) {}

  setListener(listener: FsChangeListener | undefined): void {
    this.listener = listener;
  }

  sawFile(path: string, info: FileNodeInfo): void {
    if (!this.inodes.sawSighting(path, info)) return;
    this.onObjectChange?.(path, info);
    this.emit('changed', path);
  }

  /** The kernel's copy of `path` went stale (a listing found a new sighting of it). */
  sawStale(path: string): void {
    this.emit('changed', path);
  }

  sawMissing(path: string): void {
    this.onObjectChange?.(path, undefined);
    this.emit('gone', path);
    this.inodes.dropIfIdle(path);
  }

  /** A listing pass of `dirPath` reached its end: its numbered children it did not name (numbered before `numberedBefore`) are gone. */
  sawCompleteListing(dirPath: string, pass: number, numberedBefore?: number): string[] {
    const gone = this.inodes.childrenNotListed(dirPath, pass, numberedBefore);
    for (const path of gone) this.sawMissing(path);
    return gone;
  }

  private emit(kind: FsChange['kind'], path: string): void {
    if (this.listener === undefined) return;
    const ino = this.inodes.knownIno(path);
    const parentIno = this.inodes.knownIno(parentPath(path));
    if (ino === undefined || parentIno === undefined) return;
    const change: FsChange = { kind, path, ino, parentIno, name: path.slice(path.lastIndexOf('/') + 1) };
    try {
      this.listener(change);
    } catch {
      // A listener failure must not fail the request that noticed the change.
    }
  }
}
