import { joinPath } from './paths.js';

export const ROOT_INO = 1;

/**
 * Stable inode numbers per path for the life of the mount (root = 1), and the way back from a
 * number to its path, so inode-based callers (libfuse's low-level API) can use the path-based core.
 * Numbers are never reused: a path deleted and re-created keeps its number, which is what `find`
 * and `tar` expect of a filesystem whose hard links do not exist. Entries are never forgotten;
 * the cost is one map entry per path ever seen (about 100 bytes).
 */
export class InodeTable {
  private readonly inoByPath = new Map<string, number>([['/', ROOT_INO]]);
  private readonly pathByIno = new Map<number, string>([[ROOT_INO, '/']]);
  private nextIno = ROOT_INO + 1;

  /** The number of a normalized path, assigned on first sight. */
  inoForPath(path: string): number {
    const known = this.inoByPath.get(path);
    if (known !== undefined) return known;
    const ino = this.nextIno;
    this.nextIno += 1;
    this.inoByPath.set(path, ino);
    this.pathByIno.set(ino, path);
    return ino;
  }

  /** The path of a number handed out before, or undefined. */
  pathForIno(ino: number): string | undefined {
    return this.pathByIno.get(ino);
  }

  /** The path of `name` inside the directory numbered `parentIno`, or undefined if unknown. */
  childPath(parentIno: number, name: string): string | undefined {
    const parent = this.pathByIno.get(parentIno);
    return parent === undefined ? undefined : joinPath(parent, name);
  }

  get size(): number {
    return this.inoByPath.size;
  }
}
