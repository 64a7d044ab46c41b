import type { Dirent } from 'node:fs';
import { opendir, readdir, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { compareKeys, hasSurrogates } from './key-order.js';
import { TEMP_FILE_PREFIX, isInside } from './safe-path.js';

/**
 * One folder's listable entries as read at one moment, sorted by their key within the folder (a folder's key
 * ends in `/`): every key of a listing below this folder starts with the same prefix, so this is listing order.
 * Parallel arrays rather than an object per entry: a cached million-entry tree then costs a fraction of the memory.
 */
export interface FolderEntries {
  readonly names: readonly string[];
  /** 1 where the entry is a folder. */
  readonly isDir: Uint8Array;
  /** Real paths of the entries reached through a symlink; any other entry's real path is `realDir/name`. */
  readonly linkTargets: ReadonlyMap<number, string>;
}

export const NO_ENTRIES: FolderEntries = { names: [], isDir: new Uint8Array(0), linkTargets: new Map() };

type Kind = 'file' | 'dir';

/** File or folder, following a symlink only when it stays inside the data folder; undefined to skip it. */
async function classifySymlink(dataDir: string, path: string): Promise<{ kind: Kind; realPath: string } | undefined> {
  try {
    const realPath = await realpath(path);
    if (!isInside(dataDir, realPath)) return undefined;
    const stats = await stat(realPath);
    return stats.isFile() ? { kind: 'file', realPath } : stats.isDirectory() ? { kind: 'dir', realPath } : undefined;
  } catch {
    return undefined;
  }
}

/** A directory entry as file or folder (with its real path when it is a link); undefined to skip it (temp file, device, bad link). */
async function classify(dataDir: string, dirent: Dirent, realDir: string): Promise<{ kind: Kind; linkTarget?: string } | undefined> {
  if (dirent.name.startsWith(TEMP_FILE_PREFIX)) return undefined;
  // Plain files and folders need no extra call; only symlinks are followed (and checked).
  if (dirent.isFile()) return { kind: 'file' };
  if (dirent.isDirectory()) return { kind: 'dir' };
  if (!dirent.isSymbolicLink()) return undefined;
  const resolved = await classifySymlink(dataDir, `${realDir}${sep}${dirent.name}`);
  // A link to a folder that contains it would make an endless tree (a/loop/a/loop/…): it is left out.
  if (resolved === undefined || (resolved.kind === 'dir' && isInside(resolved.realPath, realDir))) return undefined;
  return { kind: resolved.kind, linkTarget: resolved.realPath };
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Reads and sorts one folder (by its real path); a folder that vanished or is no folder has no entries. */
export async function readFolderEntries(dataDir: string, realDir: string): Promise<FolderEntries> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(realDir, { withFileTypes: true });
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return NO_ENTRIES;
    throw error;
  }
  const children: { key: string; name: string; isDir: boolean; linkTarget: string | undefined }[] = [];
  for (const dirent of dirents) {
    const entry = await classify(dataDir, dirent, realDir);
    if (entry === undefined) continue;
    const isDir = entry.kind === 'dir';
    children.push({ key: isDir ? `${dirent.name}/` : dirent.name, name: dirent.name, isDir, linkTarget: entry.linkTarget });
  }
  // A folder `a` sorts as `a/`, after `a.txt` (`.` < `/`): a depth-first walk then yields names in global order.
  children.sort(children.some((child) => hasSurrogates(child.key)) ? (x, y) => compareKeys(x.key, y.key) : (x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const isDir = new Uint8Array(children.length);
  const linkTargets = new Map<number, string>();
  children.forEach((child, index) => {
    if (child.isDir) isDir[index] = 1;
    if (child.linkTarget !== undefined) linkTargets.set(index, child.linkTarget);
  });
  return { names: children.map((child) => child.name), isDir, linkTargets };
}

/** Entries read per call while looking for a first object: a large folder is not read whole to learn it is not empty. */
const EMPTINESS_READ_ENTRIES = 64;

/**
 * Whether a folder holds at least one object somewhere below (empty folders are invisible). Files first, in
 * directory order: it stops at the first object, without reading or sorting the rest of a large folder.
 */
export async function holdsAnyObject(dataDir: string, realDir: string, ancestors: ReadonlySet<string>): Promise<boolean> {
  const subfolders: string[] = [];
  try {
    const dir = await opendir(realDir, { bufferSize: EMPTINESS_READ_ENTRIES });
    // Leaving the loop early closes the folder.
    for await (const dirent of dir) {
      const entry = await classify(dataDir, dirent, realDir);
      if (entry?.kind === 'file') return true;
      const realPath = entry?.linkTarget ?? `${realDir}${sep}${dirent.name}`;
      if (entry?.kind === 'dir' && !ancestors.has(realPath)) subfolders.push(realPath);
    }
  } catch {
    return false;
  }
  for (const subfolder of subfolders) {
    if (await holdsAnyObject(dataDir, subfolder, new Set([...ancestors, subfolder]))) return true;
  }
  return false;
}
