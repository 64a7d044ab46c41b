import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { FolderCache, FolderSnapshot } from './folder-cache.js';
import { holdsAnyObject } from './folder-entries.js';
import { compareKeys } from './key-order.js';
import { isInside } from './safe-path.js';

export interface WalkEntry {
  /** Object name, or a directory's name ending in `/`. */
  readonly key: string;
  readonly isDir: boolean;
  /** Where it lives on disk (its real path). */
  readonly path: string;
  /** The folder it was listed from, and its place there: where its stat is kept. */
  readonly folder: FolderSnapshot;
  readonly index: number;
}

export interface WalkOptions {
  /** A realpath: symlinks leading outside it are skipped. */
  readonly dataDir: string;
  readonly bucketDir: string;
  /** Only keys starting with this; the part up to its last `/` is the folder the walk starts in. */
  readonly prefix: string;
  /** Only keys after this one (exclusive), in UTF-8 byte order. */
  readonly after: string;
  /** false: only direct children of the prefix's folder, with sub-folders as `name/` entries. */
  readonly recursive: boolean;
  /** false: leave the sub-folders of a non-recursive walk out. */
  readonly withDirs: boolean;
  readonly folders: FolderCache;
  /** The listing this walk serves a page of. */
  readonly listingId: string;
}

/**
 * Index of the first entry that may hold keys after `after`: the first key past it, or the folder just before
 * that when `after` lies inside it. A binary search, so resuming a page deep in a large folder costs no scan.
 */
function firstRelevant(folder: FolderSnapshot, keyPrefix: string, after: string): number {
  const { names, isDir } = folder.entries;
  const keyAt = (index: number): string => keyPrefix + (names[index] as string) + (isDir[index] === 1 ? '/' : '');
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys(keyAt(middle), after) > 0) high = middle;
    else low = middle + 1;
  }
  return low > 0 && isDir[low - 1] === 1 && after.startsWith(keyAt(low - 1)) ? low - 1 : low;
}

/**
 * Hands `accept` the keys in UTF-8 byte order, one folder at a time, skipping whole sub-trees that lie before
 * `after`, so a page costs the folders on its path rather than the whole bucket. `accept` returns false to stop.
 */
export async function walkSorted(options: WalkOptions, accept: (entry: WalkEntry) => boolean): Promise<void> {
  const { prefix, after } = options;
  const startKey = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  const startSegments = startKey.split('/').slice(0, -1);
  if (startSegments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\'))) return;
  let realStart: string;
  try {
    realStart = await realpath(join(options.bucketDir, ...startSegments));
    if (!isInside(options.dataDir, realStart)) return;
  } catch {
    return;
  }

  /** False once `accept` said stop. */
  async function visit(realDir: string, keyPrefix: string, ancestors: ReadonlySet<string>): Promise<boolean> {
    const folder = await options.folders.folder(realDir, options.listingId);
    const { names, isDir, linkTargets } = folder.entries;
    for (let index = firstRelevant(folder, keyPrefix, after); index < names.length; index += 1) {
      const name = names[index] as string;
      const realPath = (): string => linkTargets.get(index) ?? `${realDir}${sep}${name}`;
      if (isDir[index] !== 1) {
        // Sorted, and past `after` from the first relevant index on: only the prefix is left to check.
        const key = keyPrefix + name;
        if (key.startsWith(prefix) && !accept({ key, isDir: false, path: realPath(), folder, index })) return false;
        continue;
      }
      const key = `${keyPrefix}${name}/`;
      const path = realPath();
      if (!key.startsWith(prefix) || ancestors.has(path)) continue; // ancestors: a symlink back up the tree
      if (options.recursive) {
        // Every key below starts with `key`: skip the sub-tree when `after` is past all of them.
        if ((after.startsWith(key) || compareKeys(key, after) > 0) && !(await visit(path, key, new Set([...ancestors, path])))) return false;
        continue;
      }
      if (!options.withDirs || compareKeys(key, after) <= 0) continue;
      if ((await holdsAnyObject(options.dataDir, path, new Set([...ancestors, path]))) && !accept({ key, isDir: true, path, folder, index })) return false;
    }
    return true;
  }

  await visit(realStart, startKey, new Set([realStart]));
}
