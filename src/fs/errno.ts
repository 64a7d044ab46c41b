import { constants } from 'node:os';
import { StoreError } from '../store/errors.js';

const errno = constants.errno;

/** A failure the kernel sees as an errno. `errno` is positive (ENOENT = 2). */
export class FsError extends Error {
  readonly errno: number;
  constructor(errnoValue: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FsError';
    this.errno = errnoValue;
  }
}

/** The one place where store failures become errno values. */
export function errnoForStoreError(error: StoreError): number {
  switch (error.code) {
    case 'NOT_FOUND':
      return errno.ENOENT;
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
      return errno.EACCES;
    case 'RANGE_NOT_SATISFIABLE':
      return errno.EINVAL;
    case 'ABORTED':
      return errno.EINTR;
    case 'BAD_REQUEST':
    case 'CONFLICT':
    case 'TOO_MANY_REQUESTS':
    case 'SERVER_ERROR':
    case 'NETWORK':
    case 'TIMEOUT':
    case 'PROTOCOL':
      return errno.EIO;
  }
}

/** Any thrown value as an FsError; unknown failures are EIO, never a crash or a hang. */
export function toFsError(error: unknown): FsError {
  if (error instanceof FsError) return error;
  if (error instanceof StoreError) return new FsError(errnoForStoreError(error), error.message, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new FsError(errno.EIO, message, { cause: error });
}

export const Errno = errno;
