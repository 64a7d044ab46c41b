import type { InodeTable } from './inode-table.js';
import type { FileNodeInfo } from './node-info.js';
import { joinPath, parentPath } from './paths.js';
import type { FsChange, FsChangeListener } from './types.js';

/**
 * What each path looked like when the core last saw it, so it can tell an engine that the
 * kernel's copy went stale: a file seen with a new version, size or mtime ('changed'), or a name
 * that a fresh listing or lookup no longer finds ('gone'). Tracks nothing until a listener is set.
 */
export class ChangeTracker {
  private readonly identities = new Map<string, string>();
  /** Per folder, the names seen in it (listed, or looked up since): what a listing is checked against. */
  private readonly knownNames = new Map<string, Set<string>>();
  private listener: FsChangeListener | undefined;

  constructor(private readonly inodes: InodeTable) {}

  setListener(listener: FsChangeListener | undefined): void {
    this.listener = listener;
    if (listener === undefined) {
      this.identities.clear();
      this.knownNames.clear();
    }
  }

  sawFile(path: string, info: FileNodeInfo): void {
    if (this.listener === undefined) return;
    const identity = `${info.version ?? ''}\u0000${info.size}\u0000${info.mtimeMs}`;
    const previous = this.identities.get(path);
    this.identities.set(path, identity);
    const parent = parentPath(path);
    let names = this.knownNames.get(parent);
    if (names === undefined) this.knownNames.set(parent, (names = new Set()));
    names.add(path.slice(path.lastIndexOf('/') + 1));
    if (previous !== undefined && previous !== identity) this.emit('changed', path);
  }

  sawMissing(path: string): void {
    if (this.listener === undefined) return;
    this.knownNames.get(parentPath(path))?.delete(path.slice(path.lastIndexOf('/') + 1));
    if (this.identities.delete(path)) this.emit('gone', path);
  }

  /** A fresh listing of `dirPath`; returns the paths seen in it before and missing now. */
  sawListing(dirPath: string, names: readonly string[]): string[] {
    if (this.listener === undefined) return [];
    const now = new Set(names);
    const before = this.knownNames.get(dirPath);
    this.knownNames.set(dirPath, now);
    if (before === undefined) return [];
    const gone: string[] = [];
    for (const name of before) {
      if (now.has(name)) continue;
      const path = joinPath(dirPath, name);
      this.identities.delete(path);
      gone.push(path);
      this.emit('gone', path);
    }
    return gone;
  }

  private emit(kind: FsChange['kind'], path: string): void {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const change: FsChange = { kind, path, ino: this.inodes.inoForPath(path), parentIno: this.inodes.inoForPath(parentPath(path)), name };
    try {
      this.listener?.(change);
    } catch {
      // A listener failure must not fail the request that noticed the change.
    }
  }
}
