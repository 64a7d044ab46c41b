import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rmdir, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { BadRequestError } from './errors.js';

/**
 * Prefix of the hidden temporary file an in-progress PUT writes beside its target. Such names are never listed,
 * served or accepted as object names.
 */
export const TEMP_FILE_PREFIX = '.bucketfs-put-';

/** Raw (still escaped) bytes that have no business in a path segment, before or after decoding. */
const FORBIDDEN_ESCAPES = /%(2f|5c|00)/i;

/**
 * Decodes one raw path segment exactly once and refuses what could step out of its folder or name something the
 * filesystem cannot hold: `.`, `..`, empty, `/` `\` or NUL (raw or escaped), malformed escapes, temp-file names.
 */
export function decodeSegment(raw: string, what: string): string {
  if (raw.includes('\\') || FORBIDDEN_ESCAPES.test(raw)) throw new BadRequestError(`${what}: a path segment contains an escaped "/", "\\" or NUL`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(`${what}: malformed percent-escape in "${raw}"`);
  }
  if (decoded === '' || decoded === '.' || decoded === '..') throw new BadRequestError(`${what}: empty, "." or ".." path segment`);
  if (/[/\\\0]/.test(decoded)) throw new BadRequestError(`${what}: a path segment contains "/", "\\" or NUL`);
  if (decoded.startsWith(TEMP_FILE_PREFIX)) throw new BadRequestError(`${what}: "${TEMP_FILE_PREFIX}*" names are reserved`);
  return decoded;
}

/** A bucket is a top-level folder; hidden folders are not buckets. */
export function decodeBucketName(raw: string): string {
  const name = decodeSegment(raw, 'bucket name');
  if (name.startsWith('.')) throw new BadRequestError(`bucket name "${name}" may not start with "."`);
  return name;
}

export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path of `relative` under `root` (a realpath itself), refusing with 400 when a symlink leads outside.
 * Rejects with the fs error (ENOENT …) when the path does not exist.
 */
export async function realPathInside(root: string, relative: readonly string[], what: string): Promise<string> {
  const real = await realpath(join(root, ...relative));
  if (!isInside(root, real)) throw new BadRequestError(`${what} resolves outside the data folder`);
  return real;
}

const FOLDER_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const NEW_FOLDER_MODE = 0o755;

/** A path that names `name` inside the folder open as `handle`: the kernel resolves it from that very folder. */
function pathInHeld(handle: FileHandle, name: string): string {
  return `/proc/self/fd/${handle.fd}/${name}`;
}

/**
 * Folders opened one at a time from the data folder down, each by name inside the descriptor of the one above and
 * never through a symlink. Node has no openat; `/proc/self/fd/<fd>/<name>` is resolved from the folder the
 * descriptor holds, so a folder swapped for a symlink afterwards cannot redirect what is done through `pathOf`.
 */
export class HeldFolders {
  private constructor(
    private readonly handles: FileHandle[],
    private readonly names: readonly string[],
  ) {}

  /**
   * Opens `root` (a real path) and then `segments` below it; segments from index `createFrom` on are made when
   * missing. A segment that is a symlink is a 400; a missing one rejects with ENOENT, a file with ENOTDIR.
   */
  static async open(root: string, segments: readonly string[], createFrom: number, what: string): Promise<HeldFolders> {
    const handles = [await open(root, FOLDER_FLAGS)];
    try {
      for (const [index, name] of segments.entries()) {
        const parent = handles[handles.length - 1] as FileHandle;
        handles.push(await openFolderIn(parent, name, index >= createFrom, what));
      }
    } catch (error) {
      await Promise.all(handles.map((handle) => handle.close()));
      throw error;
    }
    return new HeldFolders(handles, segments);
  }

  /** `name` inside the deepest folder. */
  pathOf(name: string): string {
    return pathInHeld(this.handles[this.handles.length - 1] as FileHandle, name);
  }

  /** Removes the folders that are empty now, deepest first, down to (not including) segment `keep`; never throws. */
  async removeEmpty(keep: number): Promise<void> {
    for (let depth = this.names.length - 1; depth >= keep; depth -= 1) {
      try {
        await rmdir(pathInHeld(this.handles[depth] as FileHandle, this.names[depth] as string));
      } catch {
        return;
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((handle) => handle.close().catch(() => undefined)));
  }
}

async function openFolderIn(parent: FileHandle, name: string, create: boolean, what: string): Promise<FileHandle> {
  const path = pathInHeld(parent, name);
  try {
    return await open(path, FOLDER_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // With O_DIRECTORY a symlink fails as ENOTDIR, like a file: lstat tells the two apart.
    if ((code === 'ELOOP' || code === 'ENOTDIR') && (await isSymlink(path))) throw new BadRequestError(`${what}: "${name}" is a symlink`);
    if (code !== 'ENOENT' || !create) throw error;
  }
  try {
    // mkdir does not follow a symlink in the last place: one made meanwhile is EEXIST, then refused by the open.
    await mkdir(path, NEW_FOLDER_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return openFolderIn(parent, name, false, what);
}

async function isSymlink(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isSymbolicLink() ?? false;
}
