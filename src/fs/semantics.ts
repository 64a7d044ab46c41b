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
