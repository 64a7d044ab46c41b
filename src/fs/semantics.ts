/**
 * The errno and attribute constants of the POSIX semantics bucketfs chooses where an object
 * store differs from a disk. The semantics themselves are written once, in the README's
 * "Semantics" section.
 */
import { constants as fsConstants } from 'node:fs';
import { Errno, FsError } from './errno.js';
import { NAME_MAX_BYTES } from './names.js';
import type { PathFilesystem, StatfsInfo } from './types.js';

export type RefusedOp = Parameters<PathFilesystem['refuseWrite']>[0];

export const DEFAULT_FILE_MODE = 0o444;
export const DEFAULT_DIR_MODE = 0o555;
/** A writable mount shows the owner's write bit: with `default_permissions` the kernel checks it before asking. */
export const DEFAULT_WRITABLE_FILE_MODE = 0o644;
export const DEFAULT_WRITABLE_DIR_MODE = 0o755;
/** An id of -1 in chown(2) (and FUSE's setattr) leaves that id as it is. */
export const UNCHANGED_ID = 0xffff_ffff;
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

/** What a writable mount refuses, whatever its flags: hard links and symlinks (the store has neither). */
export function unsupportedOpError(op: RefusedOp, path: string): FsError {
  return new FsError(Errno.ENOTSUP, `${op} ${path}: not supported by bucketfs (an object store has no ${op === 'link' ? 'hard links' : 'symbolic links'})`);
}

/**
 * Why opening the existing file `path` with `flags` for writing is refused, or undefined when the open
 * replaces it. The store cannot change part of an object: appending or writing without O_TRUNC is
 * ENOTSUP whatever the flags of the mount. Replacing the whole object is a policy: EPERM without
 * `--allow-overwrite`, as mountpoint-s3.
 */
export function overwriteRefusal(flags: number, allowOverwrite: boolean, path: string): FsError | undefined {
  const { O_TRUNC, O_APPEND } = fsConstants;
  if ((flags & O_APPEND) !== 0) return new FsError(Errno.ENOTSUP, `open ${path}: appending to an object is not supported`);
  if ((flags & O_TRUNC) === 0) return new FsError(Errno.ENOTSUP, `open ${path}: changing part of an object is not supported; open with O_TRUNC to replace it`);
  if (!allowOverwrite) return new FsError(Errno.EPERM, `open ${path}: replacing an object needs --allow-overwrite`);
  return undefined;
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
