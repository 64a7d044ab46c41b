/**
 * The POSIX semantics bucketfs chooses where an object store differs from a disk.
 * (Copied into README's "Semantics" section; keep the two in step.)
 *
 * - Directories are implied by `/` in object names; a `name/` marker object is a directory too.
 *   The root is always a directory. If `a` and `a/…` both exist, `a` is the directory and the
 *   object `a` is hidden (as in mountpoint-s3).
 * - Names that are no legal file name (empty segment as in `a//b`, `.`, `..`, containing NUL,
 *   longer than 255 bytes) are skipped in listings with one warning per name, never a crash.
 * - getattr HEADs the object and lists `name/` (one entry) at the same time. Results are cached
 *   for `metadataTtlMs`, misses for `negativeMetadataTtlMs`; a listing fills the cache, so the
 *   `stat` of every entry after `ls -l` makes no request. A change made by another client is
 *   seen after the TTL. Listings themselves are not cached: each `readdir` lists afresh
 *   (concurrent listings of one folder share one), paginated, never one request per entry.
 * - An open file reads the version it opened (size and `Ais-Version` at open). AIStore has no
 *   version-conditional GET: each response's version and size are checked, and if the object
 *   changed or vanished under an open file, read fails with EIO (never bytes of two versions).
 *   Reopening reads the new version. `keepCache` (the kernel keeps its page cache across opens)
 *   only when the version at open equals the previous open's. Bytes come from a block cache
 *   shared by all open files of the mount and named by object version (and size), so a changed
 *   object is never served old bytes once reopened, while an open file keeps reading the blocks
 *   of its version already fetched. Sequential readers are served from windows fetched ahead
 *   (1 MiB, doubling to 64 MiB, as parallel GETs of 8 MiB parts); random reads fetch exactly
 *   the range asked for; objects up to 1 MiB are fetched whole. Cache plus GETs in flight stay
 *   within the cache size (default a quarter of RAM, at most 512 MiB).
 * - mtime is `Ais-Atime` (the native API has no Last-Modified); directories show the mount
 *   time. Sizes are exact. Owner, group and modes come from the options: files
 *   `S_IFREG | fileMode` (0444 by default), directories `S_IFDIR | dirMode` (0555). nlink is 1
 *   for files and 2 for directories. Inode numbers are stable per path for the mount's life.
 * - unlink DELETEs the object only with `allowDelete`; without it, EPERM. unlink of a directory
 *   is EISDIR (Linux). Files open at the time of the unlink keep reading: before the DELETE the
 *   whole object is fetched into memory for them (up to `unlinkPinMaxBytes`, 64 MiB by
 *   default); a larger open file still serves what it had fetched ahead, and later reads fail
 *   with EIO. A DELETE through another client is seen the same way by open files.
 * - Every other change fails with a definite errno: EROFS on a read-only mount (no
 *   `allowDelete`); with `allowDelete`, EPERM for mkdir, rmdir, create, write, rename,
 *   truncate, chmod, chown, utimens, symlink and link. Opening for writing fails the same way.
 * - statfs reports a large, constant capacity (nothing is ever "full") and nameMax 255.
 */
import { constants as fsConstants } from 'node:fs';
import { Errno, FsError } from './errno.js';
import { NAME_MAX_BYTES } from './names.js';
import type { PathFilesystem, StatfsInfo } from './types.js';

export type RefusedOp = Parameters<PathFilesystem['refuseWrite']>[0];

export const DEFAULT_FILE_MODE = 0o444;
export const DEFAULT_DIR_MODE = 0o555;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;

/** Objects at most this big are kept in memory for open files when unlinked. */
export const DEFAULT_UNLINK_PIN_MAX_BYTES = 64 * 1024 * 1024;

export function refusedWriteErrno(allowDelete: boolean): number {
  return allowDelete ? Errno.EPERM : Errno.EROFS;
}

export function refusedWriteError(op: RefusedOp, path: string, allowDelete: boolean): FsError {
  const why = allowDelete ? 'not supported by bucketfs' : 'the mount is read-only';
  return new FsError(refusedWriteErrno(allowDelete), `${op} ${path}: ${why}`);
}

/** True when open flags ask for anything but reading. */
export function opensForWriting(flags: number): boolean {
  const { O_WRONLY, O_RDWR, O_TRUNC, O_CREAT, O_APPEND } = fsConstants;
  return (flags & (O_WRONLY | O_RDWR | O_TRUNC | O_CREAT | O_APPEND)) !== 0;
}

/**
 * A constant, large capacity, as mountpoint-s3 reports: tools that check free space before
 * copying never refuse. Counts stay below 2^32 because fuse-native passes them as uint32.
 */
export const STATFS: StatfsInfo = Object.freeze({
  blockSize: 4096,
  blocks: 0xffff_fff0,
  blocksFree: 0xffff_fff0,
  blocksAvailable: 0xffff_fff0,
  files: 0xffff_fff0,
  filesFree: 0xffff_fff0,
  nameMax: NAME_MAX_BYTES,
});
