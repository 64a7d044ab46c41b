import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { compareKeys, hasSurrogates } from './key-order.js';
import { TEMP_FILE_PREFIX, isInside } from './safe-path.js';

export interface WalkEntry {
  /** Object name, or a directory's name ending in `/`. */
  readonly key: string;
  readonly isDir: boolean;
  /** Where it lives on disk. */
  readonly path: string;
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
}

interface Child {
  readonly name: string;
  readonly key: string;
  readonly isDir: boolean;
  readonly path: string;
  /** Its real path: a symlinked folder already seen above it is a cycle and is skipped. */
  readonly realPath: string;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** File or folder, following a symlink only when it stays inside the data folder; undefined to skip it. */
async function classifySymlink(dataDir: string, path: string): Promise<{ kind: 'file' | 'dir'; realPath: string } | undefined> {
  try {
    const realPath = await realpath(path);
    if (!isInside(dataDir, realPath)) return undefined;
    const stats = await stat(realPath);
    return stats.isFile() ? { kind: 'file', realPath } : stats.isDirectory() ? { kind: 'dir', realPath } : undefined;
  } catch {
    return undefined;
  }
}

/** A directory entry as file or folder with its real path; undefined to skip it (temp file, device, bad link). */
async function classify(dataDir: string, dirent: Dirent, dir: string, realDir: string): Promise<{ kind: 'file' | 'dir'; path: string; realPath: string } | undefined> {
  if (dirent.name.startsWith(TEMP_FILE_PREFIX)) return undefined;
  const path = `${dir}${sep}${dirent.name}`;
  // Plain files and folders need no extra call; only symlinks are followed (and checked).
  if (dirent.isFile() || dirent.isDirectory()) return { kind: dirent.isFile() ? 'file' : 'dir', path, realPath: `${realDir}${sep}${dirent.name}` };
  if (!dirent.isSymbolicLink()) return undefined;
  const resolved = await classifySymlink(dataDir, path);
  // A link to a folder that contains it would make an endless tree (a/loop/a/loop/…): it is left out.
  if (resolved?.kind === 'dir' && isInside(resolved.realPath, realDir)) return undefined;
  return resolved && { ...resolved, path };
}

/** One folder's entries as keys, sorted the way the whole listing is ordered. */
async function sortedChildren(dataDir: string, dir: string, realDir: string, keyPrefix: string): Promise<Child[]> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
  const children: Child[] = [];
  for (const dirent of dirents) {
    const entry = await classify(dataDir, dirent, dir, realDir);
    if (entry === undefined) continue;
    const key = keyPrefix + dirent.name + (entry.kind === 'dir' ? '/' : '');
    children.push({ name: dirent.name, key, isDir: entry.kind === 'dir', path: entry.path, realPath: entry.realPath });
  }
  // A folder `a` sorts as `a/`, after `a.txt` (`.` < `/`): a depth-first walk then yields names in global order.
  return children.sort(children.some((child) => hasSurrogates(child.key)) ? (x, y) => compareKeys(x.key, y.key) : (x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/**
 * Index of the first child that may hold keys after `after`: the first key past it, or the folder just before that
 * when `after` lies inside it. A binary search, so resuming a page deep in a large folder costs no scan.
 */
function firstRelevant(children: readonly Child[], after: string): number {
  let low = 0;
  let high = children.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys((children[middle] as Child).key, after) > 0) high = middle;
    else low = middle + 1;
  }
  const previous = children[low - 1];
  return previous?.isDir && after.startsWith(previous.key) ? low - 1 : low;
}

/**
 * Whether a folder holds at least one object somewhere below (empty folders are invisible). Unsorted and
 * files first: it stops at the first object, without sorting a large folder.
 */
export async function holdsAnyObject(dataDir: string, dir: string, realDir: string, ancestors: ReadonlySet<string>): Promise<boolean> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  const subfolders: { path: string; realPath: string }[] = [];
  for (const dirent of dirents) {
    const entry = await classify(dataDir, dirent, dir, realDir);
    if (entry?.kind === 'file') return true;
    if (entry?.kind === 'dir' && !ancestors.has(entry.realPath)) subfolders.push(entry);
  }
  for (const subfolder of subfolders) {
    if (await holdsAnyObject(dataDir, subfolder.path, subfolder.realPath, new Set([...ancestors, subfolder.realPath]))) return true;
  }
  return false;
}

/**
 * Yields keys in UTF-8 byte order, reading one folder at a time and skipping whole sub-trees that lie before
 * `after`, so a page costs the folders on its path rather than the whole bucket. The consumer stops it early.
 */
export async function* walkSorted(options: WalkOptions): AsyncGenerator<WalkEntry> {
  const { prefix, after } = options;
  const startKey = prefix.slice(0, prefix.lastIndexOf('/') + 1);
  const startSegments = startKey.split('/').slice(0, -1);
  if (startSegments.some((segment) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\'))) return;
  const startDir = join(options.bucketDir, ...startSegments);
  let realStart: string;
  try {
    realStart = await realpath(startDir);
    if (!isInside(options.dataDir, realStart)) return;
  } catch {
    return;
  }

  async function* visit(dir: string, realDir: string, keyPrefix: string, ancestors: ReadonlySet<string>): AsyncGenerator<WalkEntry> {
    const children = await sortedChildren(options.dataDir, dir, realDir, keyPrefix);
    for (let index = firstRelevant(children, after); index < children.length; index += 1) {
      const child = children[index] as Child;
      if (!child.key.startsWith(prefix)) continue;
      if (child.isDir && ancestors.has(child.realPath)) continue; // a symlink back up the tree
      const below = child.isDir ? new Set([...ancestors, child.realPath]) : ancestors;
      if (!child.isDir) {
        if (compareKeys(child.key, after) > 0) yield { key: child.key, isDir: false, path: child.path };
        continue;
      }
      if (options.recursive) {
        // Every key below starts with `child.key`: skip the sub-tree when `after` is past all of them.
        if (after.startsWith(child.key) || compareKeys(child.key, after) > 0) yield* visit(child.path, child.realPath, child.key, below);
        continue;
      }
      if (compareKeys(child.key, after) > 0 && (await holdsAnyObject(options.dataDir, child.path, child.realPath, below))) {
        yield { key: child.key, isDir: true, path: child.path };
      }
    }
  }

  yield* visit(startDir, realStart, startKey, new Set([realStart]));
}
