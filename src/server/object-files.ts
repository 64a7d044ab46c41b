import { lstat, open } from 'node:fs/promises';
import type { ServerContext } from './context.js';
import { BadRequestError, NotFoundError, fromFsError } from './errors.js';
import { HeldFolders, realPathInside } from './safe-path.js';

/** A decoded object address: bucket plus the object name's segments. */
export interface ObjectAddress {
  readonly bucket: string;
  readonly segments: readonly string[];
  /** True when the raw name ended in `/` (a directory marker, which this server cannot store). */
  readonly isMarker: boolean;
}

export function objectName(address: ObjectAddress): string {
  return address.segments.join('/') + (address.isMarker ? '/' : '');
}

export function markerRefused(what: string): BadRequestError {
  return new BadRequestError(`${what}: names ending in "/" (directory markers) cannot be stored by this server`);
}

/** How messages name the object: `object "ais://b/name"`. */
export function objectWhat(address: ObjectAddress): string {
  return `object "ais://${address.bucket}/${objectName(address)}"`;
}

/**
 * The folders above an object that must be there as a file, with the same checks as a read (reached without
 * leaving the data folder): a 404 when it is not.
 */
export async function holdExistingObject(context: ServerContext, address: ObjectAddress, what: string): Promise<HeldFolders> {
  if (address.isMarker) throw new NotFoundError(`${what} does not exist`);
  const opened = await openObject(context, address);
  await opened.handle.close();
  return holdParents(context.dataDir, address, false, what);
}


export async function openObject(context: ServerContext, address: ObjectAddress) {
  const name = objectName(address);
  // A `name/` marker cannot be a file here: it simply does not exist.
  if (address.isMarker) throw new NotFoundError(`object "ais://${address.bucket}/${name}" does not exist`);
  const what = `object "ais://${address.bucket}/${name}"`;
  let handle;
  try {
    handle = await context.replacer.settled(async () => open(await realPathInside(context.dataDir, [address.bucket, ...address.segments], what), 'r'));
  } catch (error) {
    // A missing name behind a symlink that leads outside is refused as such, not reported absent.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') await assertParentsInside(context.dataDir, address.bucket, address.segments, what);
    throw fromFsError(error, what);
  }
  // Stats and bytes come from the same descriptor: a concurrent PUT renames a new inode in, this one stays whole.
  const stats = await handle.stat({ bigint: true });
  if (!stats.isFile()) {
    await handle.close();
    throw new NotFoundError(`${what} does not exist`);
  }
  return { handle, stats, name };
}


/** The deepest existing ancestor of the object's path (bucket folder included) must resolve inside the data folder. */
export async function assertParentsInside(dataDir: string, bucket: string, segments: readonly string[], what: string): Promise<void> {
  for (let depth = segments.length - 1; depth >= 0; depth -= 1) {
    try {
      await realPathInside(dataDir, [bucket, ...segments.slice(0, depth)], what);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(error, what);
    }
  }
}


/** The folders above the object, held open from the data folder down (made where missing, below the bucket). */
export async function holdParents(dataDir: string, address: ObjectAddress, create: boolean, what: string): Promise<HeldFolders> {
  try {
    return await HeldFolders.open(dataDir, [address.bucket, ...address.segments.slice(0, -1)], create ? 1 : Number.POSITIVE_INFINITY, what);
  } catch (error) {
    throw fromFsError(error, what);
  }
}

/** The object's own name: a symlink there could lead anywhere, so it is neither written through nor replaced. */
export async function refuseSymlinkLeaf(path: string, what: string): Promise<void> {
  const stats = await lstat(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(error, what);
  });
  if (stats?.isSymbolicLink()) throw new BadRequestError(`${what} is a symlink`);
}
