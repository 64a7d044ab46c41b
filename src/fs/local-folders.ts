import { ancestorPaths, parentPath } from './paths.js';

/**
 * Folders made by `mkdir` that the store does not have yet (an object store has no empty folders):
 * they live in this mount until a file is written in them, as in mountpoint-s3, and are listed in
 * their parent meanwhile.
 */
export class LocalFolders {
  private readonly folders = new Set<string>();

  has(path: string): boolean {
    return this.folders.has(path);
  }

  add(path: string): void {
    this.folders.add(path);
  }

  remove(path: string): void {
    this.folders.delete(path);
  }

  /** The names of the local folders directly in `dirPath`. */
  childrenOf(dirPath: string): string[] {
    const names: string[] = [];
    for (const folder of this.folders) if (parentPath(folder) === dirPath) names.push(folder.slice(folder.lastIndexOf('/') + 1));
    return names;
  }

  /** Any local folder directly in `dirPath`. */
  hasChildren(dirPath: string): boolean {
    for (const folder of this.folders) if (parentPath(folder) === dirPath) return true;
    return false;
  }

  /** A file landed at `path`: its folders are in the store now, implied by its key. */
  landed(path: string): void {
    for (const ancestor of ancestorPaths(path)) this.folders.delete(ancestor);
  }
}
